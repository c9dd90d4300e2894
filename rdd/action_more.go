package rdd

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// countValueRunner is the task of CountByValue: (value, count) frames, the
// value in its key encoding, in order of first appearance.
type countValueRunner[T comparable] struct{}

func (countValueRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, _ []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	kc, _ := codec.KeyFor[T]()
	return r.countEncoded(ctx, tc, part, kc.Append)
}

// CountByValue returns the number of times each distinct element occurs
// in r, counted on the executors by the element's encoding as CountByKey
// counts keys (-0 and +0 are one; each partition's NaNs are an entry of
// their own in the Go map). T must be a valid key type.
func CountByValue[T comparable](ctx context.Context, run Runner, r *RDD[T]) (map[T]int64, error) {
	if err := codec.CheckKey(reflect.TypeFor[T]()); err != nil {
		return nil, fmt.Errorf("rdd: CountByValue at %s: %w", callSite(1), roled(err, "element"))
	}
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	a, err := funcAction(run, countValueRunner[T]{}, nil)
	if err != nil {
		return nil, err
	}
	kc := codec.For[T]()
	out := map[T]int64{}
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		if err := decodeCountsByKey(kc, data, out); err != nil {
			return fmt.Errorf("rdd: CountByValue: partition %d: %w", p, err)
		}
		return nil
	})
	return out, err
}

// CollectAsMap returns the pairs of r as a Go map. Of pairs with equal
// keys, the one collected last (in partition order) wins, as in Spark.
func CollectAsMap[K comparable, V any](ctx context.Context, run Runner, r *RDD[Pair[K, V]]) (map[K]V, error) {
	all, err := Collect(ctx, run, r)
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(all))
	for _, p := range all {
		out[p.Key] = p.Value
	}
	return out, nil
}

// lookupRunner is the task of Lookup: the values, framed, of the pairs
// whose key encodes as arg.
type lookupRunner[K comparable, V any] struct{}

func (lookupRunner[K, V]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[Pair[K, V]](ar)
	if err != nil {
		return nil, err
	}
	kc, _ := codec.KeyFor[K]()
	vc := codec.For[V]()
	var kb, out []byte
	err = r.iterate(ctx, tc, part, func(p Pair[K, V]) bool {
		kb = kc.Append(kb[:0], p.Key)
		if bytes.Equal(kb, arg) {
			out = appendFramed(out, vc.Append, p.Value)
		}
		return true
	})
	return out, err
}

// Lookup returns the values of the pairs of r whose key is key, in
// partition order. Keys match by their encoding, as by-key operations
// group them (-0 matches +0, a NaN matches every NaN). The pairs are
// filtered on the executors: only the matching values reach the driver.
// When r was laid out by a partitioner (PartitionerOf), only the
// partition it gives key is computed, as Spark's lookup does.
func Lookup[K comparable, V any](ctx context.Context, run Runner, r *RDD[Pair[K, V]], key K) ([]V, error) {
	if err := codec.CheckKey(reflect.TypeFor[K]()); err != nil {
		return nil, fmt.Errorf("rdd: Lookup at %s: %w", callSite(1), roled(err, "key"))
	}
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	kc, _ := codec.KeyFor[K]()
	kb, err := encodeValue(kc, key)
	if err != nil {
		return nil, fmt.Errorf("rdd: Lookup at %s: encoding the key: %w", callSite(1), err)
	}
	a, err := funcAction(run, lookupRunner[K, V]{}, kb)
	if err != nil {
		return nil, err
	}
	var parts []int // nil: every partition
	if p, ok, err := partitionOfKey(ctx, run, r, key); err != nil {
		return nil, err
	} else if ok {
		parts = []int{p}
	}
	vc := codec.For[V]()
	found := make([][]V, r.n.parts)
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		for len(data) > 0 {
			f, rest, err := block.NextFrame(data)
			if err != nil {
				return fmt.Errorf("rdd: Lookup: partition %d: %w", p, err)
			}
			v, err := vc.Decode(f)
			if err != nil {
				return fmt.Errorf("rdd: Lookup: partition %d: %w", p, err)
			}
			found[p] = append(found[p], v)
			data = rest
		}
		return nil
	}, parts...)
	if err != nil {
		return nil, err
	}
	var out []V
	for _, vs := range found {
		out = append(out, vs...)
	}
	return out, nil
}

// sampleArg is the argument of TakeSample's sampling jobs.
type sampleArg struct {
	WithReplacement bool
	Fraction        float64
	Seed            uint64
}

// sampleRunner is the task of TakeSample's sampling jobs: each element kept
// with probability Fraction (Bernoulli), or repeated a Poisson(Fraction)
// number of times with replacement, drawn from a generator seeded by the
// job's seed and the partition, so every attempt samples alike.
type sampleRunner[T any] struct{}

func (sampleRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	var a sampleArg
	if err := msgpack.Unmarshal(arg, &a); err != nil || !(a.Fraction >= 0) || math.IsInf(a.Fraction, 0) {
		return nil, Permanent(fmt.Errorf("rdd: malformed sampling argument"))
	}
	rng := rand.New(rand.NewPCG(a.Seed, uint64(part)))
	var out []byte
	err = r.iterate(ctx, tc, part, func(t T) bool {
		n := 0
		if a.WithReplacement {
			n = poisson(rng, a.Fraction)
		} else if rng.Float64() < a.Fraction {
			n = 1
		}
		for range n {
			out = r.codec.put(out, t)
		}
		return true
	})
	return out, err
}

// sampleFraction is Spark's SamplingUtils.computeFractionForSampleSize:
// a fraction that draws at least num of total elements with probability
// 0.9999.
func sampleFraction(num int, total int64, withReplacement bool) float64 {
	s, n := float64(num), float64(total)
	if withReplacement {
		std := 6.0
		switch {
		case s < 6:
			std = 12
		case s < 16:
			std = 9
		}
		return max(s+std*math.Sqrt(s), 1e-10) / n
	}
	f := s / n
	gamma := -math.Log(1e-4) / n
	return min(1, max(1e-10, f+gamma+math.Sqrt(gamma*gamma+2*gamma*f)))
}

// maxSampleRounds bounds TakeSample's sampling jobs: each draws enough
// with probability 0.9999, so a second is rare and a hundredth means a
// broken generator.
const maxSampleRounds = 100

// TakeSample returns num elements of r drawn at random, with or without
// replacement, as Spark's takeSample does: it counts r, then draws a
// sample large enough with probability 0.9999 on the executors (drawing
// again in the rare case it is too small), shuffles it and keeps num;
// without replacement and num at least the count, it returns all of r,
// shuffled. The same seed gives the same sample of the same RDD.
func TakeSample[T any](ctx context.Context, run Runner, r *RDD[T], withReplacement bool, num int, seed int64) ([]T, error) {
	if num < 0 {
		return nil, fmt.Errorf("rdd: TakeSample at %s: a negative number of elements (%d)", callSite(1), num)
	}
	if num == 0 {
		return nil, nil
	}
	total, err := Count(ctx, run, r)
	if err != nil || total == 0 {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5a3b1e))
	if !withReplacement && int64(num) >= total {
		all, err := Collect(ctx, run, r)
		if err != nil {
			return nil, err
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		return all, nil
	}
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	fraction := sampleFraction(num, total, withReplacement)
	for range maxSampleRounds {
		arg, err := msgpack.Marshal(&sampleArg{WithReplacement: withReplacement, Fraction: fraction, Seed: rng.Uint64()})
		if err != nil {
			return nil, err
		}
		a, err := funcAction(run, sampleRunner[T]{}, arg)
		if err != nil {
			return nil, err
		}
		parts := make([][]T, r.n.parts)
		err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
			return r.codec.each(data, func(t T) bool { parts[p] = append(parts[p], t); return true })
		})
		if err != nil {
			return nil, err
		}
		var sample []T
		for _, p := range parts {
			sample = append(sample, p...)
		}
		if len(sample) >= num {
			rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
			return sample[:num], nil
		}
	}
	return nil, fmt.Errorf("rdd: TakeSample: %d samples of %d elements each drew fewer than %d", maxSampleRounds, total, num)
}

// forEachPartitionRunner is the task of ForEachPartition.
type forEachPartitionRunner[T any] struct{}

func (forEachPartitionRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, fns fnSet, _ []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	f, err := fnAt[func(context.Context, iter.Seq[T]) error](fns, 0)
	if err != nil {
		return nil, Permanent(err)
	}
	var ierr error
	seq := func(yield func(T) bool) {
		if ierr != nil {
			return
		}
		ierr = r.iterate(ctx, tc, part, yield)
	}
	if err := f(ctx, seq); err != nil {
		return nil, err
	}
	return nil, ierr
}

// ForEachPartition calls f once for each partition of r, on the executors,
// with the task's context and the partition's elements; an error from f
// (or from computing the partition) fails the task, which is retried as
// any task. f may run more than once for a partition (a retry, a lost
// worker, a speculative copy), so its side effects should be idempotent.
// Ranging over the elements a second time computes the partition again.
//
// On a cluster and with --local-cluster, f must capture no variables (a
// top-level function, or a literal that uses only its parameters,
// package-level names and constants): a capturing f is an error before
// any task runs, naming the call. In local mode any f runs, in the
// driver's process, concurrently for different partitions.
func ForEachPartition[T any](ctx context.Context, run Runner, r *RDD[T], f func(ctx context.Context, elems iter.Seq[T]) error) error {
	g, err := r.graph()
	if err != nil {
		return err
	}
	a, err := funcAction(run, forEachPartitionRunner[T]{}, nil, f)
	if isNotShippable(err) {
		return shipError("ForEachPartition", callSite(1))
	}
	if err != nil {
		return err
	}
	return runJob(ctx, run, g, r.n, a, func(int, []byte) error { return nil })
}

// ToLocalIterator returns the elements of r partition after partition,
// computing one partition per job when the iteration reaches it, so the
// driver holds at most one partition at a time. An error is yielded once,
// with the zero T, and ends the iteration. Each iteration runs the jobs
// again.
func ToLocalIterator[T any](ctx context.Context, run Runner, r *RDD[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		g, err := r.graph()
		if err != nil {
			yield(zero, err)
			return
		}
		for p := range r.n.parts {
			var got []T
			err := runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(_ int, data []byte) error {
				return r.codec.each(data, func(t T) bool { got = append(got, t); return true })
			}, p)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, t := range got {
				if !yield(t, nil) {
					return
				}
			}
		}
	}
}
