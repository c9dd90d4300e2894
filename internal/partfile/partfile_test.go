package partfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/fuzztest"
)

// records returns n framed records of one or two frames each.
func records(rng *rand.Rand, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var rec []byte
		for range 1 + rng.IntN(2) {
			f := make([]byte, rng.IntN(300))
			for j := range f {
				f[j] = byte(rng.IntN(7))
			}
			rec = binary.AppendUvarint(rec, uint64(len(f)))
			rec = append(rec, f...)
		}
		out[i] = rec
	}
	return out
}

func write(t *testing.T, recs [][]byte) []byte {
	t.Helper()
	b := NewBytes()
	for _, r := range recs {
		if err := b.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readAll(data []byte) ([]byte, error) {
	var got []byte
	err := Each(bytes.NewReader(data), int64(len(data)), func(p []byte) (bool, error) {
		got = append(got, p...)
		return true, nil
	})
	return got, err
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 10, 2000} {
		recs := records(rng, n)
		data := write(t, recs)
		got, err := readAll(data)
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if want := bytes.Join(recs, nil); !bytes.Equal(got, want) {
			t.Fatalf("%d records: read back %d bytes, wrote %d", n, len(got), len(want))
		}
	}
}

// Every truncation and every single-bit flip is an error, never a shorter
// or different partition.
func TestDamageIsDetected(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := records(rng, 40)
	data := write(t, recs)
	want := bytes.Join(recs, nil)
	for n := range len(data) {
		if _, err := readAll(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut to %d of %d bytes: err %v, want ErrCorrupt", n, len(data), err)
		}
	}
	for i := range len(data) {
		for bit := range 8 {
			d := bytes.Clone(data)
			d[i] ^= 1 << bit
			got, err := readAll(d)
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("bit %d of byte %d flipped: read a different partition without an error", bit, i)
			}
			if err == nil && i >= headerSize && i < len(data)-trailerSize {
				t.Fatalf("bit %d of byte %d (in the blocks) flipped: no error", bit, i)
			}
		}
	}
}

func TestFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "part-00000")
	f, err := Create(path, block.S2)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(rand.New(rand.NewPCG(5, 6)), 500)
	for _, r := range recs {
		if err := f.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file exists under its name before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := EachFile(path, func(p []byte) (bool, error) { got = append(got, p...); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Join(recs, nil)) {
		t.Fatal("the committed file reads back differently")
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("%d files beside the partition, want none", len(ents)-1)
	}

	g, err := Create(filepath.Join(dir, "sub", "part-00001"), block.S2)
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Record(recs[0])
	g.Abort()
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("Abort left %d files", len(ents)-1)
	}
}

func FuzzEach(f *testing.F) {
	f.Add(write(&testing.T{}, records(rand.New(rand.NewPCG(7, 8)), 5)))
	f.Add([]byte("SLUICEPF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Guard(t)()
		_, _ = readAll(data)
	})
}
