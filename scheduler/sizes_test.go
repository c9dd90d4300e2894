package scheduler

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

// compressSizes against the sizes themselves, on random vectors from
// sparse to dense, small to skewed: an empty partition is always reported
// exactly 0, a non-empty one never 0, an exact size is the size, and past
// the vector the size is unknown.
func TestCompressSizesAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	approx := 0
	for i := range 2000 {
		r := 1 + rng.IntN(20000)
		if i%3 == 0 {
			r = 1 + rng.IntN(64)
		}
		density := rng.Float64()
		sizes := make([]int64, r)
		for p := range sizes {
			if rng.Float64() < density {
				sizes[p] = 1 + rng.Int64N(1000)
				if rng.IntN(500) == 0 {
					sizes[p] *= 10000 // skew
				}
			}
		}
		m := compressSizes(sizes)
		if m.approx {
			approx++
		}
		for p, want := range sizes {
			got, exact := m.at(p)
			switch {
			case want == 0 && (got != 0 || !exact):
				t.Fatalf("r=%d: empty partition %d reported %d (exact %v)", r, p, got, exact)
			case want != 0 && got == 0:
				t.Fatalf("r=%d: partition %d of %d bytes reported empty", r, p, want)
			case exact && got != want:
				t.Fatalf("r=%d: partition %d of %d bytes reported exactly %d", r, p, want, got)
			case !m.approx && !exact:
				t.Fatalf("r=%d: an exact map output reported partition %d approximately", r, p)
			case want >= 4*m.avg*100 && !exact:
				t.Fatalf("r=%d: a partition 400 times the average (%d) reported approximately", r, want)
			}
		}
		if got, exact := m.at(r); got != -1 || exact {
			t.Fatalf("past the sizes: %d, %v; want unknown", got, exact)
		}
		if limit := max(exactBudget, r/8+12*maxLarge) + 64; m.bytes() > limit+r/8 {
			t.Fatalf("r=%d: %d bytes kept, want at most %d", r, m.bytes(), limit+r/8)
		}
	}
	if approx < 100 {
		t.Fatalf("only %d of 2000 vectors were compressed: the test does not reach approximate sizes", approx)
	}
}

// A 10,000 × 10,000 shuffle of tiny data (a few non-empty partitions per
// map output) and of dense data both fit in tens of MB.
func TestTenThousandSquaredFits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 map outputs")
	}
	for _, dense := range []bool{false, true} {
		s := New(DefaultConfig())
		st := &stage{graph: 1, shuffle: 1, parts: 10000, pending: make([]int32, 10000), idle: make([]uint64, (10000+63)/64)}
		st.out = newOutputTable(10000)
		s.outputs[shuffleKey{1, 1}] = st.out
		sizes := make([]int64, 10000)
		for m := range 10000 {
			clear(sizes)
			for p := range sizes {
				// Nine in ten non-empty, or two in 10,000; sizes up to 1 MiB.
				if h := (m*7919 + p*104729) % 10000; dense && h%10 > 0 || !dense && h < 2 {
					sizes[p] = 1 + int64(h*h)%(1<<20)
				}
			}
			s.setOutput(st, m, outEntry{worker: "w", gen: int64(m + 1), sizes: compressSizes(sizes)})
		}
		n := s.MapOutputBytes()
		t.Logf("dense %v: %.1f MB", dense, float64(n)/1e6)
		if n > 40e6 {
			t.Fatalf("dense %v: the table takes %d bytes", dense, n)
		}
	}
}

func TestShuffleInputRoundTrip(t *testing.T) {
	blocks := []MapBlock{
		{Map: 0, Worker: "w1", Replica: "c1", Gen: 4, Size: 120, Exact: true},
		{Map: 3, Worker: "w2", Gen: 2, Size: 7},
		{Map: 9, Worker: "w1", Gen: 1 << 40, Size: -1},
	}
	in := NewShuffleInput(3, 7, 10, blocks)
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out ShuffleInput
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if out.Shuffle != 3 || out.Part != 7 || out.Maps() != 10 || !reflect.DeepEqual(out.Blocks(), blocks) || !reflect.DeepEqual(out.Workers(), []string{"c1", "w1", "w2"}) {
		t.Fatalf("round trip gave %+v %v %v", out, out.Blocks(), out.Workers())
	}
	for _, bad := range [][]byte{nil, {0}, {1}, b[:len(b)-1], append(b, 0)} {
		if err := new(ShuffleInput).UnmarshalBinary(bad); !errors.Is(err, ErrBadInput) {
			t.Errorf("%x: %v, want ErrBadInput", bad, err)
		}
	}
}

// FuzzShuffleInput decodes arbitrary bytes as a ShuffleInput: an error
// wrapping ErrBadInput or an input that encodes back to the same bytes.
func FuzzShuffleInput(f *testing.F) {
	seed, _ := NewShuffleInput(3, 7, 10, []MapBlock{{Map: 0, Worker: "w1", Replica: "c1", Gen: 4, Size: 120, Exact: true}, {Map: 9, Worker: "w2", Size: -1}}).MarshalBinary()
	f.Add(seed)
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		var in ShuffleInput
		if err := in.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("error %v does not wrap ErrBadInput", err)
			}
			return
		}
		again, err := in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back ShuffleInput
		if err := back.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(back.Blocks(), in.Blocks()) {
			t.Fatalf("re-encoding %x gave %x: %v", b, again, err)
		}
	})
}
