package rdd

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sluicehq/sluice/internal/task"
)

// sampleRand is the random source of partition part of a sample with
// seed: fixed by the two, so that every attempt and every recomputation
// draws the same numbers.
func sampleRand(seed int64, part int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(part)))
}

// Sample returns a random sample of r, as Spark's sample does. Without
// replacement each element is kept with probability fraction, which must
// lie in [0, 1] (Bernoulli sampling); with replacement each element comes
// k times, k drawn from a Poisson distribution with mean fraction, which
// must be at least 0. So the sample's size is about fraction × the count,
// not exactly. The draws are seeded by seed and the partition's index:
// every attempt and recomputation gives the same sample. Sample keeps r's
// partitioner.
func Sample[T any](r *RDD[T], withReplacement bool, fraction float64, seed int64) *RDD[T] {
	var err error
	switch {
	case math.IsNaN(fraction) || math.IsInf(fraction, 0) || fraction < 0:
		err = fmt.Errorf("rdd: Sample at %s: fraction %v must be a number of at least 0", callSite(1), fraction)
	case !withReplacement && fraction > 1:
		err = fmt.Errorf("rdd: Sample at %s: fraction %v without replacement must be at most 1 (sample with replacement to draw elements more than once)", callSite(1), fraction)
	}
	out := newRDD("Sample", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		rng := sampleRand(seed, part)
		if !withReplacement {
			return r.iterate(ctx, tc, part, func(t T) bool { return rng.Float64() >= fraction || yield(t) })
		}
		return r.iterate(ctx, tc, part, func(t T) bool {
			for k := poisson(rng, fraction); k > 0; k-- {
				if !yield(t) {
					return false
				}
			}
			return true
		})
	}, narrow(r.n))
	keepPartitioner(out.n, r.n)
	return out.fail(err)
}

// poisson draws from the Poisson distribution with the given mean by
// Knuth's multiplication method, a piece of mean at most 16 at a time (a
// sum of Poisson draws is a Poisson draw with the summed mean), so that
// exp(-mean) never underflows.
func poisson(rng *rand.Rand, mean float64) int {
	k := 0
	for mean > 0 {
		m := min(mean, 16)
		mean -= m
		limit, p := math.Exp(-m), rng.Float64()
		for p > limit {
			k++
			p *= rng.Float64()
		}
	}
	return k
}

// RandomSplit splits r into len(weights) RDDs at random, as Spark's
// randomSplit does: weights are normalised to sum to 1, and each element
// goes to exactly one split, split i with probability weights[i]. Every
// split draws the same seeded numbers for every element (by seed and
// partition), so the splits are disjoint and together hold every element
// of r, and every recomputation gives the same splits. Each split
// computes r again: Cache r when that is costly. Weights must be at least
// 0 and sum to more than 0.
func RandomSplit[T any](r *RDD[T], weights []float64, seed int64) []*RDD[T] {
	var err error
	sum := 0.0
	for _, w := range weights {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			err = fmt.Errorf("rdd: RandomSplit at %s: weight %v must be a number of at least 0", callSite(1), w)
		}
		sum += w
	}
	if err == nil && !(sum > 0) {
		err = fmt.Errorf("rdd: RandomSplit at %s: the weights %v must sum to more than 0", callSite(1), weights)
	}
	bounds := make([]float64, len(weights)+1)
	for i, w := range weights {
		bounds[i+1] = bounds[i] + w/sum
	}
	if len(weights) > 0 {
		bounds[len(weights)] = 1 // not 0.9999…: every draw in [0, 1) lands in a split
	}
	out := make([]*RDD[T], len(weights))
	for i := range weights {
		lo, hi := bounds[i], bounds[i+1]
		s := newRDD("RandomSplit", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
			rng := sampleRand(seed, part)
			return r.iterate(ctx, tc, part, func(t T) bool {
				x := rng.Float64()
				return x < lo || x >= hi || yield(t)
			})
		}, narrow(r.n))
		keepPartitioner(s.n, r.n)
		out[i] = s.fail(err)
	}
	return out
}
