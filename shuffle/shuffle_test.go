package shuffle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/fuzztest"
)

var allCodecs = []block.Codec{block.None, block.Snappy, block.S2, block.Zstd}

type rec struct {
	part     int
	key, val []byte
}

// randOutput returns records sorted by partition; about a third of the
// partitions are empty, including often the first and the last.
func randOutput(rng *rand.Rand, numParts, n int) []rec {
	var used []int
	for p := range numParts {
		if rng.IntN(3) != 0 {
			used = append(used, p)
		}
	}
	if len(used) == 0 {
		return nil
	}
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{
			part: used[rng.IntN(len(used))],
			key:  fmt.Appendf(nil, "key-%d", rng.IntN(1000)),
			val:  bytes.Repeat([]byte{byte(i)}, rng.IntN(200)),
		}
	}
	slices.SortStableFunc(recs, func(a, b rec) int { return a.part - b.part })
	return recs
}

func writeOutput(t *testing.T, dir string, numParts int, c block.Codec, recs []rec) (data, index string, sizes []int64) {
	t.Helper()
	data, index = filepath.Join(dir, "map.data"), filepath.Join(dir, "map.index")
	w, err := Create(data, index, numParts, c)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, r := range recs {
		if err := w.Partition(r.part); err != nil {
			t.Fatal(err)
		}
		w.Frame(r.key)
		w.Frame(r.val)
		if err := w.EndRecord(); err != nil {
			t.Fatal(err)
		}
	}
	if sizes, err = w.Commit(); err != nil {
		t.Fatal(err)
	}
	return data, index, sizes
}

func readPartition(t *testing.T, data, index string, p int) []rec {
	t.Helper()
	r, err := OpenPartition(data, index, p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []rec
	for {
		payload, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for len(payload) > 0 {
			var key, val []byte
			if key, payload, err = block.NextFrame(payload); err == nil {
				val, payload, err = block.NextFrame(payload)
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rec{p, bytes.Clone(key), bytes.Clone(val)})
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 24 {
		c := allCodecs[i%len(allCodecs)]
		numParts := 1 + rng.IntN(20)
		recs := randOutput(rng, numParts, rng.IntN(3000))
		dir := t.TempDir()
		data, index, sizes := writeOutput(t, dir, numParts, c, recs)

		offsets, err := ReadIndex(index)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(sizes) != numParts || len(offsets) != numParts+1 || offsets[numParts] != fi.Size() {
			t.Fatalf("%d sizes, %d offsets ending at %d, for %d partitions and %d bytes", len(sizes), len(offsets), offsets[numParts], numParts, fi.Size())
		}
		var got []rec
		for p := range numParts {
			if sizes[p] != offsets[p+1]-offsets[p] {
				t.Fatalf("sizes[%d] = %d, index says %d", p, sizes[p], offsets[p+1]-offsets[p])
			}
			part := readPartition(t, data, index, p)
			if (len(part) == 0) != (sizes[p] == 0) {
				t.Fatalf("partition %d: %d records in %d bytes", p, len(part), sizes[p])
			}
			got = append(got, part...)
		}
		if len(got) != len(recs) {
			t.Fatalf("%s: read %d records, wrote %d", c, len(got), len(recs))
		}
		for j := range got {
			if got[j].part != recs[j].part || !bytes.Equal(got[j].key, recs[j].key) || !bytes.Equal(got[j].val, recs[j].val) {
				t.Fatalf("%s: record %d differs", c, j)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, c := range allCodecs {
		recs := randOutput(rand.New(rand.NewPCG(3, 3)), 7, 2000)
		d1, i1, _ := writeOutput(t, t.TempDir(), 7, c, recs)
		d2, i2, _ := writeOutput(t, t.TempDir(), 7, c, recs)
		for _, pair := range [][2]string{{d1, d2}, {i1, i2}} {
			a, err := os.ReadFile(pair[0])
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(pair[1])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("%s: %s and %s differ", c, pair[0], pair[1])
			}
		}
	}
}

func TestPartitionOrder(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "i"), 4, block.S2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Partition(2); err != nil {
		t.Fatal(err)
	}
	if err := w.Partition(2); err != nil {
		t.Fatalf("staying on a partition: %v", err)
	}
	if err := w.Partition(1); err == nil || !strings.Contains(err.Error(), "ascending") {
		t.Fatalf("Partition going back: err = %v", err)
	}
	for _, p := range []int{-1, 4} {
		if err := w.Partition(p); err == nil {
			t.Fatalf("Partition(%d) of 4 succeeded", p)
		}
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "i"), 3, block.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	w.Frame([]byte("x"))
	if err := w.EndRecord(); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("Abort left %v", left)
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
}

func TestCommitIsAtomic(t *testing.T) {
	dir := t.TempDir()
	data, index := filepath.Join(dir, "m.data"), filepath.Join(dir, "m.index")
	w, err := Create(data, index, 2, block.S2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50000 {
		w.Frame(fmt.Appendf(nil, "record %d", i))
		if err := w.EndRecord(); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "m.data.tmp-") && !strings.HasPrefix(e.Name(), "m.index.tmp-") {
			t.Fatalf("before Commit, found %s", e.Name())
		}
	}
	if len(entries) != 2 {
		t.Fatalf("before Commit, %d files", len(entries))
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after Commit
	entries, _ = os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"m.data", "m.index"}) {
		t.Fatalf("after Commit, found %v", names)
	}
	if err := w.EndRecord(); err == nil {
		t.Fatal("EndRecord after Commit succeeded")
	}
}

func TestCorruptIndex(t *testing.T) {
	recs := randOutput(rand.New(rand.NewPCG(5, 5)), 5, 300)
	dir := t.TempDir()
	_, index, _ := writeOutput(t, dir, 5, block.S2, recs)
	good, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.index")
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if _, err := DecodeIndex(b); !errors.Is(err, ErrCorruptIndex) {
			t.Fatalf("byte %d flipped: DecodeIndex err = %v", i, err)
		}
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadIndex(bad); !errors.Is(err, ErrCorruptIndex) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("byte %d flipped: ReadIndex err = %v, want ErrCorruptIndex naming %s", i, err, bad)
		}
	}
	for cut := range len(good) {
		if _, err := DecodeIndex(good[:cut]); !errors.Is(err, ErrCorruptIndex) {
			t.Fatalf("cut at %d: err = %v", cut, err)
		}
	}
}

func TestIndexInvariants(t *testing.T) {
	for name, offsets := range map[string][]int64{
		"nonzero first":  {1, 5},
		"decreasing":     {0, 9, 5},
		"huge":           {0, -1},
		"no partitions?": {0},
	} {
		if _, err := DecodeIndex(appendIndex(nil, offsets)); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: err = %v, want ErrCorruptIndex", name, err)
		}
	}
	got, err := DecodeIndex(appendIndex(nil, []int64{0, 0, 7, 7}))
	if err != nil || !slices.Equal(got, []int64{0, 0, 7, 7}) {
		t.Fatalf("DecodeIndex = %v, %v", got, err)
	}
}

func TestDataSizeMismatch(t *testing.T) {
	recs := randOutput(rand.New(rand.NewPCG(6, 6)), 3, 300)
	data, index, _ := writeOutput(t, t.TempDir(), 3, block.None, recs)
	f, err := os.OpenFile(data, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("extra"))
	f.Close()
	if _, err := OpenPartition(data, index, 0); !errors.Is(err, ErrCorruptIndex) {
		t.Fatalf("err = %v, want ErrCorruptIndex", err)
	}
}

func TestCorruptData(t *testing.T) {
	recs := []rec{{0, []byte("a"), []byte("1")}, {1, []byte("b"), []byte("2")}}
	data, index, sizes := writeOutput(t, t.TempDir(), 2, block.S2, recs)
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[sizes[0]+block.HeaderSize] ^= 1 // partition 1's payload
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readPartition(t, data, index, 0); len(got) != 1 {
		t.Fatalf("partition 0: %d records", len(got))
	}
	r, err := OpenPartition(data, index, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); !errors.Is(err, block.ErrCorrupt) || !strings.Contains(err.Error(), "partition 1") {
		t.Fatalf("err = %v, want block.ErrCorrupt naming partition 1", err)
	}
	if _, err := OpenPartition(data, index, 2); err == nil {
		t.Fatal("OpenPartition(2) of 2 succeeded")
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "i"), 0, block.S2); err == nil {
		t.Fatal("0 partitions accepted")
	}
	if _, err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "d"), 1, block.S2); err == nil {
		t.Fatal("same data and index path accepted")
	}
	if _, err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "missing", "i"), 1, block.S2); err == nil {
		t.Fatal("index in a missing directory accepted")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("failed Create left %v", left)
	}
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add(appendIndex(nil, []int64{0, 10, 10, 25}))
	f.Add(appendIndex(nil, []int64{0, 0}))
	f.Add([]byte("SLIX"))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		offsets, err := DecodeIndex(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("error does not wrap ErrCorruptIndex: %v", err)
			}
			return
		}
		if len(offsets) < 2 || offsets[0] != 0 || !slices.IsSorted(offsets) {
			t.Fatalf("accepted invalid offsets %v", offsets)
		}
		if !bytes.Equal(appendIndex(nil, offsets), b) {
			t.Fatal("accepted index does not re-encode to the same bytes")
		}
	})
}
