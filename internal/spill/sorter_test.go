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

// allocated is what the sorter's arrays hold, from the arrays themselves.
func allocated(s *Sorter) int64 {
	var n int64
	for _, c := range s.chunks {
		n += int64(cap(c))
	}
	for _, c := range s.spare {
		n += int64(cap(c))
	}
	n += int64(cap(s.ents)) * entrySize
	if !s.cfg.ByKey {
		n += int64(cap(s.ents)) * entrySize // the scratch array's share
	}
	return n
}

// MemoryUsed is exactly what the arrays hold, never over the budget while
// more than one record is held, and records beyond it go to disk.
func TestMemoryAndSpillAccounting(t *testing.T) {
	for _, byKey := range []bool{false, true} {
		for _, budget := range []int64{100, 4 << 10, 64 << 10, 3 << 20} {
			t.Run(fmt.Sprintf("byKey=%v/budget=%d", byKey, budget), func(t *testing.T) {
				s, err := NewSorter(Config{Dir: t.TempDir(), Budget: budget, ByKey: byKey})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				rng := rand.New(rand.NewPCG(7, uint64(budget)))
				var raw int64
				n := 20000
				if budget < 1<<10 {
					n = 1000 // a run a record
				}
				for i := range n {
					k := make([]byte, rng.IntN(40))
					v := make([]byte, rng.IntN(20))
					if i%1000 == 999 {
						v = make([]byte, 5000) // bigger than the small budgets
					}
					raw += int64(len(k) + len(v))
					must(t, s.Add(rng.IntN(5), k, v))
					if got, want := s.MemoryUsed(), allocated(s); got != want {
						t.Fatalf("after record %d: MemoryUsed = %d, arrays hold %d", i, got, want)
					}
					if len(s.ents) > 1 && s.MemoryUsed() > budget {
						t.Fatalf("after record %d: MemoryUsed = %d with %d records, over the budget", i, s.MemoryUsed(), len(s.ents))
					}
					if cap(s.scratch) > cap(s.ents) {
						t.Fatalf("scratch array of %d entries, entry array of %d", cap(s.scratch), cap(s.ents))
					}
				}
				if raw > budget && (s.Spills() == 0 || s.SpillBytes() <= 0) {
					t.Fatalf("%d bytes into a budget of %d: Spills = %d, SpillBytes = %d", raw, budget, s.Spills(), s.SpillBytes())
				}
				it, err := s.Iter()
				must(t, err)
				out := 0
				for it.Next() {
					out++
				}
				must(t, it.Err())
				if out != n {
					t.Fatalf("%d records out, want %d", out, n)
				}
			})
		}
	}
}

// A record bigger than the budget is held on its own.
func TestRecordOverBudget(t *testing.T) {
	s, err := NewSorter(Config{Dir: t.TempDir(), Budget: 1000, ByKey: true})
	must(t, err)
	defer s.Close()
	must(t, s.Add(0, []byte("a"), nil))
	must(t, s.Add(0, make([]byte, 5000), nil))
	if s.Spills() != 1 || len(s.ents) != 1 || s.MemoryUsed() < 5000 {
		t.Fatalf("Spills = %d, %d records held, MemoryUsed = %d; want the big record alone after one spill", s.Spills(), len(s.ents), s.MemoryUsed())
	}
	must(t, s.Add(0, []byte("b"), nil))
	if s.Spills() != 2 || len(s.ents) != 1 || s.MemoryUsed() > 1000 {
		t.Fatalf("Spills = %d, %d records held, MemoryUsed = %d; want the big record spilled", s.Spills(), len(s.ents), s.MemoryUsed())
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
				sortOnce(b, Config{Dir: dir, Budget: budget, Codec: block.S2, ByKey: true}, keys, val, 200)
			}
		})
	}
}

// sortOnce sorts keys, each with val, record i in partition i%parts, and
// reads the result through.
func sortOnce(b *testing.B, cfg Config, keys [][]byte, val []byte, parts int) {
	s, err := NewSorter(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i, k := range keys {
		if err := s.Add(i%parts, k, val); err != nil {
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
}

// With a budget of mapBudget or more the arena's chunks are mapped
// outside the Go heap; records spilled from them, merged with those still
// in them, come out as the naive sort has them, and Close unmaps them all.
func TestMappedArena(t *testing.T) {
	if testing.Short() {
		t.Skip("adds 40 MiB of records")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	in := make([]rec, 0, 400_000)
	for i := range cap(in) {
		k := make([]byte, 8+rng.IntN(30))
		for j := range k {
			k[j] = "ab\x00\xff"[rng.IntN(4)]
		}
		in = append(in, rec{part: rng.IntN(3), key: k, val: fmt.Appendf(make([]byte, 0, 64), "%060d", i)})
	}
	for _, byKey := range []bool{true, false} {
		s, err := NewSorter(Config{Dir: t.TempDir(), Budget: mapBudget, ByKey: byKey})
		must(t, err)
		for _, r := range in {
			must(t, s.Add(r.part, r.key, r.val))
		}
		if s.Spills() == 0 || len(s.mapped) == 0 {
			t.Fatalf("byKey=%v: %d spills, %d mapped chunks; want both", byKey, s.Spills(), len(s.mapped))
		}
		it, err := s.Iter()
		must(t, err)
		var got []rec
		for it.Next() {
			got = append(got, rec{it.Part(), bytes.Clone(it.Key()), bytes.Clone(it.Value())})
		}
		must(t, it.Err())
		must(t, s.Close())
		if len(s.mapped) != 0 || s.MemoryUsed() != 0 {
			t.Fatalf("after Close: %d chunks still mapped, MemoryUsed = %d", len(s.mapped), s.MemoryUsed())
		}
		checkSame(t, got, naiveSort(in, byKey))
	}
}

// textLines returns n lines of words drawn with a skewed frequency, as
// sortlines sorts them: many share their first 8 bytes.
func textLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	words := make([]string, 5000)
	for i := range words {
		w := make([]byte, 2+rng.IntN(8))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		words[i] = string(w)
	}
	lines := make([][]byte, n)
	for i := range lines {
		var l []byte
		for j := range 5 + rng.IntN(10) {
			if j > 0 {
				l = append(l, ' ')
			}
			l = append(l, words[min(int(rng.ExpFloat64()*200), len(words)-1)]...)
		}
		lines[i] = l
	}
	return lines
}

// BenchmarkSortLines sorts text lines by key in one partition, as a reduce
// task of sortlines does: unordered input, and input that arrives as 8
// ascending runs (the map outputs of bin/sort), in memory and spilled.
func BenchmarkSortLines(b *testing.B) {
	lines := textLines(500_000)
	var raw int64
	for _, l := range lines {
		raw += int64(len(l))
	}
	runs := slices.Clone(lines)
	for i := 0; i < len(runs); i += len(runs) / 8 {
		slices.SortFunc(runs[i:min(i+len(runs)/8, len(runs))], bytes.Compare)
	}
	for _, in := range []struct {
		name  string
		lines [][]byte
	}{{"unordered", lines}, {"8runs", runs}} {
		for _, budget := range []int64{1 << 30, 8 << 20} {
			b.Run(fmt.Sprintf("%s/budget=%d", in.name, budget), func(b *testing.B) {
				dir := b.TempDir()
				b.SetBytes(raw)
				for b.Loop() {
					sortOnce(b, Config{Dir: dir, Budget: budget, ByKey: true}, in.lines, nil, 1)
				}
			})
		}
	}
}

// TestPoolHandsEntriesOn: sorters that share a Pool reuse each other's
// entry arrays, the records that pass through reused arrays come out as
// from fresh ones, and an array too big for a sorter's budget is not
// taken.
func TestPoolHandsEntriesOn(t *testing.T) {
	pool := NewPool()
	rng := rand.New(rand.NewPCG(7, 7))
	reused := 0
	for i := range 6 {
		in := randRecs(rng, 1500, 1+i%3, 500)
		budget := int64(8000 + 40000*(i%2)) // some arrays too big for the next budget
		want, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: i%2 == 0}, in)
		got, spills := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: i%2 == 0, Pool: pool}, in)
		checkSame(t, got, want)
		if spills == 0 {
			t.Fatalf("round %d: no spills; the test needs some", i)
		}
		next := int64(8000)
		s, err := NewSorter(Config{Dir: t.TempDir(), Budget: next, ByKey: true, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		if cap(s.ents) > 0 {
			reused++
		}
		if s.MemoryUsed() > next/2 {
			t.Fatalf("round %d: a sorter with a budget of %d took an entry array of %d bytes", i, next, s.MemoryUsed())
		}
		s.Close()
	}
	// A sync.Pool drops items at random under the race detector, and at
	// every second collection.
	if reused == 0 && !raceEnabled {
		t.Fatal("no sorter took an entry array from the pool")
	}
}
