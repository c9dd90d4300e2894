package spill

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
)

type rec struct {
	part     int
	key, val []byte
}

// randRecs returns n records over parts partitions with keys from a small
// space, so ties are common; each value is unique, so the order of ties shows.
func randRecs(rng *rand.Rand, n, parts, keySpace int) []rec {
	out := make([]rec, n)
	for i := range out {
		var key []byte
		switch rng.IntN(5) {
		case 0: // empty key
		case 1: // keys that share an 8-byte prefix
			key = fmt.Appendf(nil, "prefix--%d", rng.IntN(keySpace))
		case 2: // short keys that differ only in trailing zero bytes
			key = make([]byte, rng.IntN(10))
		default:
			key = fmt.Appendf(nil, "k%d", rng.IntN(keySpace))
		}
		val := fmt.Appendf(nil, "v%d", i)
		if rng.IntN(10) == 0 {
			val = append(val, bytes.Repeat([]byte{'x'}, rng.IntN(2000))...)
		}
		out[i] = rec{part: rng.IntN(parts), key: key, val: val}
	}
	return out
}

// naiveSort is the reference: a stable sort of the whole input in memory.
func naiveSort(in []rec, byKey bool) []rec {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b rec) int {
		if c := cmp.Compare(a.part, b.part); c != 0 || !byKey {
			return c
		}
		return bytes.Compare(a.key, b.key)
	})
	return out
}

func sortAll(t *testing.T, cfg Config, in []rec) ([]rec, int) {
	t.Helper()
	s, err := NewSorter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range in {
		if err := s.Add(r.part, r.key, r.val); err != nil {
			t.Fatal(err)
		}
	}
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	for it.Next() {
		out = append(out, rec{it.Part(), bytes.Clone(it.Key()), bytes.Clone(it.Value())})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out, s.Spills()
}

func checkSame(t *testing.T, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.part != w.part || !bytes.Equal(g.key, w.key) || !bytes.Equal(g.val, w.val) {
			t.Fatalf("record %d = (%d, %q, %.20q), want (%d, %q, %.20q)", i, g.part, g.key, g.val, w.part, w.key, w.val)
		}
	}
}

func TestMatchesNaiveSort(t *testing.T) {
	budgets := []int64{1, 300, 4 << 10, 64 << 10, 0}
	seed := uint64(0)
	for _, byKey := range []bool{false, true} {
		for _, budget := range budgets {
			for _, mf := range []int{2, 3, 0} {
				seed++
				name := fmt.Sprintf("byKey=%v/budget=%d/merge=%d", byKey, budget, mf)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(seed, 99))
					n := 1 + rng.IntN(1500)
					switch budget {
					case 1:
						n = 1 + rng.IntN(150) // a run per record
					case 300:
						n = 1 + rng.IntN(400) // a run per few records
					}
					in := randRecs(rng, n, 1+rng.IntN(20), 1+rng.IntN(50))
					cfg := Config{Dir: t.TempDir(), Budget: budget, Codec: block.Codec(seed % 4), ByKey: byKey, MergeFactor: mf}
					got, spills := sortAll(t, cfg, in)
					checkSame(t, got, naiveSort(in, byKey))
					if budget > 0 && budget < 4<<10 && spills == 0 {
						t.Fatalf("budget %d over %d records spilled nothing", budget, n)
					}
				})
			}
		}
	}
}

// TestRandomConfigs is a property test: for seeded random inputs and
// configurations, the sorter agrees with the naive sort.
func TestRandomConfigs(t *testing.T) {
	rng := rand.New(rand.NewPCG(2024, 7))
	for i := range 60 {
		parts := []int{1, 2, 7, 100, 5000}[rng.IntN(5)]
		in := randRecs(rng, rng.IntN(400), parts, 1+rng.IntN(30))
		cfg := Config{
			Dir:         t.TempDir(),
			Budget:      int64(rng.IntN(20000)),
			Codec:       block.Codec(rng.IntN(4)),
			ByKey:       rng.IntN(2) == 0,
			MergeFactor: rng.IntN(6),
		}
		got, _ := sortAll(t, cfg, in)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkSame(t, got, naiveSort(in, cfg.ByKey)) })
	}
}

func TestSparsePartitions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	in := randRecs(rng, 500, 3, 10)
	for i := range in {
		in[i].part *= 1 << 28 // too sparse for the counting sort
	}
	for _, byKey := range []bool{false, true} {
		got, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: 2000, ByKey: byKey}, in)
		checkSame(t, got, naiveSort(in, byKey))
	}
}

func TestSameOutputEveryTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	in := randRecs(rng, 300, 4, 5)
	for _, byKey := range []bool{false, true} {
		first, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: 1000, ByKey: byKey}, in)
		for _, budget := range []int64{1 << 30, 5000, 200} {
			again, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: byKey, MergeFactor: 2}, in)
			checkSame(t, again, first)
		}
	}
}

func TestEmpty(t *testing.T) {
	got, spills := sortAll(t, Config{Dir: t.TempDir()}, nil)
	if len(got) != 0 || spills != 0 {
		t.Fatalf("empty sorter gave %d records, %d spills", len(got), spills)
	}
}

func TestMemoryAndSpillAccounting(t *testing.T) {
	s, err := NewSorter(Config{Dir: t.TempDir(), Budget: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A record of 8 bytes and its entry: room for two in 100 bytes.
	must(t, s.Add(0, []byte("key"), []byte("value")))
	if got := s.MemoryUsed(); got != 16+2*32 {
		t.Fatalf("MemoryUsed = %d, want 80 (an arena of 16 bytes and 2 entries)", got)
	}
	must(t, s.Add(0, []byte("key"), []byte("value")))
	must(t, s.Add(0, []byte("key"), []byte("value"))) // no room: spill first
	if s.Spills() != 1 || s.MemoryUsed() != 80 || s.SpillBytes() <= 0 {
		t.Fatalf("Spills = %d, MemoryUsed = %d, SpillBytes = %d; want 1, 80, > 0", s.Spills(), s.MemoryUsed(), s.SpillBytes())
	}
	must(t, s.Add(1, make([]byte, 500), nil)) // bigger than the budget: held alone
	if s.Spills() != 2 || s.MemoryUsed() != 500+2*32 {
		t.Fatalf("Spills = %d, MemoryUsed = %d; want 2, 564", s.Spills(), s.MemoryUsed())
	}
}

// TestBuffersWithinBudget holds what a Sorter really allocates (its
// buffers by capacity, the counting sort's scratch included) to the
// budget, whatever the records' sizes and partitions, unless a record
// held alone is bigger than the budget.
func TestBuffersWithinBudget(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 3))
		budget := int64(1<<10 + rng.IntN(1<<20))
		parts := 1 + rng.IntN(4)
		s, err := NewSorter(Config{Dir: t.TempDir(), Budget: budget, ByKey: seed%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		maxLen := 1 + rng.IntN(300)
		for i := range 12000 {
			if i%4000 == 3999 {
				maxLen = 1 + rng.IntN(300) // records change size midway
			}
			key := make([]byte, rng.IntN(maxLen))
			for j := range key {
				key[j] = byte(rng.Uint32())
			}
			must(t, s.Add(rng.IntN(parts), key, []byte{1}))
			// The counting sort's scratch grows to the records' number
			// when they span partitions.
			scratch := cap(s.scratch)
			if s.minPart != s.maxPart {
				scratch = max(scratch, len(s.ents))
			}
			real := int64(cap(s.arena)) + entrySize*int64(cap(s.ents)+scratch)
			if real > budget && len(s.ents) > 1 {
				t.Fatalf("seed %d: %d records in memory hold %d bytes of buffers, over the budget of %d", seed, len(s.ents), real, budget)
			}
		}
		if s.Spills() == 0 {
			t.Fatalf("seed %d: no spills; the test needs some", seed)
		}
		s.Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestCloseRemovesRuns(t *testing.T) {
	for _, iterate := range []bool{false, true} {
		dir := t.TempDir()
		s, err := NewSorter(Config{Dir: dir, Budget: 200, ByKey: true, MergeFactor: 2})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, r := range randRecs(rng, 300, 3, 10) {
			must(t, s.Add(r.part, r.key, r.val))
		}
		files := listFiles(t, dir)
		runs := 0
		for _, f := range files {
			if strings.HasPrefix(filepath.Base(f), "run-") && strings.HasSuffix(f, ".spill") {
				runs++
			}
		}
		if runs != s.Spills() || runs == 0 {
			t.Fatalf("%d run files for %d spills: %v", runs, s.Spills(), files)
		}
		if iterate {
			it, err := s.Iter()
			if err != nil {
				t.Fatal(err)
			}
			it.Next() // leave it mid-way, with runs open
		}
		must(t, s.Close())
		if left := listFiles(t, dir); len(left) != 0 {
			t.Fatalf("Close left %v", left)
		}
		must(t, s.Close())
		if err := s.Add(0, nil, nil); !errors.Is(err, ErrFinished) {
			t.Fatalf("Add after Close = %v, want ErrFinished", err)
		}
		if _, err := s.Iter(); !errors.Is(err, ErrFinished) {
			t.Fatalf("Iter after Close = %v, want ErrFinished", err)
		}
	}
}

func TestIteratorAfterClose(t *testing.T) {
	s, err := NewSorter(Config{Dir: t.TempDir(), Budget: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		must(t, s.Add(0, nil, fmt.Appendf(nil, "value %d", i)))
	}
	it, err := s.Iter()
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() {
		t.Fatal(it.Err())
	}
	must(t, s.Close())
	if it.Next() || !errors.Is(it.Err(), ErrFinished) {
		t.Fatalf("Next after Close: err = %v, want ErrFinished", it.Err())
	}
}

func TestMisuse(t *testing.T) {
	s, err := NewSorter(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add(-1, nil, nil); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Fatalf("Add(-1) = %v", err)
	}
	if err := s.Add(0, make([]byte, block.MaxBlockSize), nil); !errors.Is(err, block.ErrRecordTooLarge) {
		t.Fatalf("oversized Add = %v, want ErrRecordTooLarge", err)
	}
	if _, err := s.Iter(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(0, nil, nil); !errors.Is(err, ErrFinished) {
		t.Fatalf("Add after Iter = %v, want ErrFinished", err)
	}
	if _, err := s.Iter(); !errors.Is(err, ErrFinished) {
		t.Fatalf("second Iter = %v, want ErrFinished", err)
	}
	if _, err := NewSorter(Config{}); err == nil {
		t.Fatal("NewSorter without Dir succeeded")
	}
	if _, err := NewSorter(Config{Dir: t.TempDir(), Codec: 9}); err == nil {
		t.Fatal("NewSorter with codec 9 succeeded")
	}
}

func TestDirCannotBeCreated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	dir := filepath.Join(file, "runs")
	_, err := NewSorter(Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want it to name %s", err, dir)
	}
}

func TestCorruptRun(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSorter(Config{Dir: dir, Budget: 1000, Codec: block.S2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(4, 4))
	for _, r := range randRecs(rng, 200, 2, 10) {
		must(t, s.Add(r.part, r.key, r.val))
	}
	files := listFiles(t, dir)
	run := files[len(files)-1]
	data, err := os.ReadFile(run)
	must(t, err)
	data[len(data)-1] ^= 1
	must(t, os.WriteFile(run, data, 0o600))

	// The error may come from Iter, which reads each run's first block, or
	// from Next.
	it, err := s.Iter()
	if err == nil {
		for it.Next() {
		}
		err = it.Err()
	}
	if !errors.Is(err, block.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(run)) {
		t.Fatalf("err = %v, want ErrCorrupt naming %s", err, filepath.Base(run))
	}
}

func BenchmarkSort(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "word%d", int(rng.ExpFloat64()*5000))
	}
	val := []byte{1}
	var raw int64
	for _, k := range keys {
		raw += int64(len(k) + len(val))
	}
	for _, budget := range []int64{1 << 30, 1 << 20} {
		b.Run(fmt.Sprintf("budget=%d", budget), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(raw)
			b.ReportAllocs()
			for b.Loop() {
				s, err := NewSorter(Config{Dir: dir, Budget: budget, Codec: block.S2, ByKey: true})
				if err != nil {
					b.Fatal(err)
				}
				for i, k := range keys {
					if err := s.Add(i%200, k, val); err != nil {
						b.Fatal(err)
					}
				}
				it, err := s.Iter()
				if err != nil {
					b.Fatal(err)
				}
				for it.Next() {
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

// TestPoolHandsBuffersOn: sorters that share a Pool reuse each other's
// buffers, and the records that pass through reused buffers come out as
// from fresh ones; buffers too big for a sorter's budget are not taken.
func TestPoolHandsBuffersOn(t *testing.T) {
	pool := NewPool()
	rng := rand.New(rand.NewPCG(7, 7))
	reused := 0
	for i := range 6 {
		in := randRecs(rng, 1500, 1+i%3, 500)
		budget := int64(8000 + 4000*(i%2)) // some sets too big for the next budget
		want, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: i%2 == 0}, in)
		got, spills := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: i%2 == 0, Pool: pool}, in)
		checkSame(t, got, want)
		if spills == 0 {
			t.Fatalf("round %d: no spills; the test needs some", i)
		}
		next := int64(8000) // below the odd rounds' budgets: their buffers may not fit
		s, err := NewSorter(Config{Dir: t.TempDir(), Budget: next, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		if cap(s.arena) > 0 {
			reused++
		}
		if s.MemoryUsed() > next {
			t.Fatalf("round %d: a sorter with a budget of %d took buffers of %d", i, next, s.MemoryUsed())
		}
		s.Close()
	}
	// A sync.Pool drops items at random under the race detector, and at
	// every second collection.
	if reused == 0 && !raceEnabled {
		t.Fatal("no sorter took buffers from the pool")
	}
}
