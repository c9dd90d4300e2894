package rdd_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// Fixed-size keys that the map-side combine keys by their memory, and
// some that it must not (padding, floats), summed against a Go map.

type packedKey struct {
	A int32
	B uint16
	C bool
	D [1]uint8
}

type paddedKey struct {
	A int8
	B int64
}

type floatKey struct {
	A int32
	F float32
}

type fixedArgs struct {
	Seed  uint64
	Keys  int
	N     int
	Parts int
}

var (
	mkPacked = func(r *rand.Rand) packedKey {
		return packedKey{int32(r.IntN(50) - 25), uint16(r.IntN(3)), r.IntN(2) == 0, [1]uint8{uint8(r.IntN(2))}}
	}
	mkArray = func(r *rand.Rand) (k [20]byte) { // longer than a slot holds inline
		k[0], k[19] = byte(r.IntN(40)), byte(r.IntN(40))
		return k
	}
	mkBool   = func(r *rand.Rand) bool { return r.IntN(2) == 0 }
	mkPadded = func(r *rand.Rand) paddedKey { return paddedKey{int8(r.IntN(30)), int64(r.IntN(30))} }
	mkFloat  = func(r *rand.Rand) floatKey {
		f := float32(r.IntN(3))
		if f == 0 && r.IntN(2) == 0 {
			f = -f // -0: equal to +0 for Go, another bit pattern
		}
		return floatKey{int32(r.IntN(20)), f}
	}
)

func fixedInput[K comparable](a fixedArgs, mk func(r *rand.Rand) K) []rdd.Pair[K, int] {
	rng := rand.New(rand.NewPCG(a.Seed, 1))
	keys := make([]K, a.Keys)
	for i := range keys {
		keys[i] = mk(rng)
	}
	in := make([]rdd.Pair[K, int], a.N)
	for i := range in {
		in[i] = rdd.KV(keys[rng.IntN(len(keys))], rng.IntN(100))
	}
	return in
}

func sumInts(a, b int) int { return a + b }

func reduceFixed[K comparable](mk func(*rand.Rand) K) *rdd.FuncOf[fixedArgs, rdd.Pair[K, int]] {
	return rdd.Func(func(a fixedArgs) *rdd.RDD[rdd.Pair[K, int]] {
		return rdd.ReduceByKey(rdd.Parallelize(fixedInput(a, mk), rdd.Partitions(a.Parts)), sumInts, rdd.Partitions(3))
	})
}

var (
	packedF = reduceFixed(mkPacked)
	arrayF  = reduceFixed(mkArray)
	boolF   = reduceFixed(mkBool)
	paddedF = reduceFixed(mkPadded)
	floatF  = reduceFixed(mkFloat)
)

func checkFixed[K comparable](t *testing.T, s *driver.Session, f *rdd.FuncOf[fixedArgs, rdd.Pair[K, int]], a fixedArgs, mk func(r *rand.Rand) K) {
	t.Helper()
	want := map[K]int{}
	for _, p := range fixedInput(a, mk) {
		want[p.Key] += p.Value
	}
	got, err := rdd.Collect(context.Background(), s, f.Invoke(a))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[K]bool{}
	for _, p := range got {
		if seen[p.Key] {
			t.Fatalf("%+v: key %v twice", a, p.Key)
		}
		seen[p.Key] = true
		if want[p.Key] != p.Value {
			t.Fatalf("%+v: key %v sums to %d, want %d", a, p.Key, p.Value, want[p.Key])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%+v: %d keys, want %d", a, len(got), len(want))
	}
}

func TestFixedSizeKeysCombine(t *testing.T) {
	for _, budget := range []string{"default", "tiny"} {
		t.Run(budget, func(t *testing.T) {
			s := newSession(t, func(c *driver.Config) {
				if budget == "tiny" {
					c.Memory = 64 << 10
				}
			})
			for seed := range uint64(4) {
				a := fixedArgs{Seed: seed, Keys: 1 + int(seed)*200, N: 3000 + int(seed)*4000, Parts: 1 + int(seed)%3}
				t.Run(fmt.Sprint(seed), func(t *testing.T) {
					checkFixed(t, s, packedF, a, mkPacked)
					checkFixed(t, s, arrayF, a, mkArray)
					checkFixed(t, s, boolF, a, mkBool)
					checkFixed(t, s, paddedF, a, mkPadded)
					checkFixed(t, s, floatF, a, mkFloat)
				})
			}
			if spills := s.Metrics().Spills; (budget == "tiny") != (spills > 0) {
				t.Fatalf("%d spills with the %s budget", spills, budget)
			}
		})
	}
}
