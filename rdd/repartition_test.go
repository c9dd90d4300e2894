package rdd_test

import (
	"iter"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

// Spread is the argument of spreadF: the sizes of the input partitions of
// numbered, and Repartition's count.
type Spread struct {
	Sizes []int
	Out   int
}

// spreadF repartitions and then gathers each output partition into one
// slice, so the test sees where every element went.
var spreadF = rdd.Func(func(a Spread) *rdd.RDD[[]int] {
	return rdd.MapPartitions(rdd.Repartition(numbered(a.Sizes), a.Out), func(_ int, in iter.Seq[int]) iter.Seq[[]int] {
		return func(yield func([]int) bool) { yield(slices.Collect(in)) }
	})
})

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// TestRepartitionBalanced checks where round-robin Repartition puts
// elements when there are fewer input partitions than output ones. Each map
// task starts its round-robin at a fixed pseudo-random position, as Spark
// does; starting map task i at i (as Sluice did) leaves the high partitions
// empty (10 partitions of 10 into 20 gave sizes 1, 2, ..., 10, 9, ..., 1, 0).
//
// The bounds: with 100 to 119 elements per map task and 20 outputs, each
// output gets 5 or 6 elements from each map task whatever the starts, so
// max/min <= 60/50 = 1.2 is arithmetic. With 10 elements per map task the
// sizes depend on the starts alone; they are a fixed function of the map
// partition, so the sizes are fixed too (4 to 6), and max <= 2*min holds
// with room. Uniformly random starts would leave a partition empty about
// 1% of the time for this shape: the bound tests this placement function,
// which is part of the output's definition, not a law of round-robin.
func TestRepartitionBalanced(t *testing.T) {
	hundredish := make([]int, 10)
	for i := range hundredish {
		hundredish[i] = 100 + (i*7)%20
	}
	for _, tc := range []struct {
		name  string
		arg   Spread
		ratio float64
	}{
		{"10x10 into 20", Spread{repeat(10, 10), 20}, 2},
		{"10x~100 into 20", Spread{hundredish, 20}, 1.2},
		{"3x40 into 7", Spread{repeat(3, 40), 7}, 1.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := collect(t, newSession(t), spreadF.Invoke(tc.arg))
			again := collect(t, newSession(t), spreadF.Invoke(tc.arg))
			if len(first) != tc.arg.Out {
				t.Fatalf("%d partitions, want %d", len(first), tc.arg.Out)
			}
			if !slices.EqualFunc(first, again, slices.Equal) {
				t.Fatalf("two runs placed elements differently:\n%v\n%v", first, again)
			}
			sizes := make([]int, len(first))
			var all []int
			for i, p := range first {
				sizes[i] = len(p)
				all = append(all, p...)
			}
			if slices.Sort(all); !slices.Equal(all, wantNumbered(tc.arg.Sizes)) {
				t.Fatalf("the output is not a permutation of the input")
			}
			lo, hi := slices.Min(sizes), slices.Max(sizes)
			if lo == 0 || float64(hi) > tc.ratio*float64(lo) {
				t.Fatalf("partition sizes %v: want none empty and max <= %g*min", sizes, tc.ratio)
			}
		})
	}
}
