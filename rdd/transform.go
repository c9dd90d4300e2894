package rdd

import (
	"context"
	"iter"

	"github.com/sluicehq/sluice/internal/task"
)

func narrow(parent *node) *dep { return &dep{parent: parent} }

// Map returns the RDD of f applied to every element of r.
func Map[T, U any](r *RDD[T], f func(T) U) *RDD[U] {
	return newRDD("Map", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(U) bool) error {
		return r.iterate(ctx, tc, part, func(t T) bool { return yield(f(t)) })
	}, narrow(r.n))
}

// MapErr is Map for a function that can fail: it sees the task's context
// and returns an error, which fails the task as a panic would, wrapped in
// the job's TaskError (errors.Is finds it). The task is retried unless the
// error is marked Permanent.
func MapErr[T, U any](r *RDD[T], f func(ctx context.Context, t T) (U, error)) *RDD[U] {
	return newRDD("MapErr", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(U) bool) error {
		var ferr error
		err := r.iterate(ctx, tc, part, func(t T) bool {
			u, err := f(ctx, t)
			if err != nil {
				ferr = err
				return false
			}
			return yield(u)
		})
		if ferr != nil {
			return ferr
		}
		return err
	}, narrow(r.n))
}

// FlatMap calls f on every element of r; the result holds every value f
// emits. Emitting instead of returning a slice costs no allocation per
// element. Values emitted after the consumer has all it needs (under
// Take, say) are dropped, but f runs to its end: an f that may emit
// without end should be a FlatMapErr, whose emit says when to stop.
func FlatMap[T, U any](r *RDD[T], f func(t T, emit func(U))) *RDD[U] {
	return newRDD("FlatMap", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(U) bool) error {
		stopped := false
		emit := func(u U) {
			if !stopped && !yield(u) {
				stopped = true
			}
		}
		return r.iterate(ctx, tc, part, func(t T) bool {
			f(t, emit)
			return !stopped
		})
	}, narrow(r.n))
}

// FlatMapErr is FlatMap for a function that can fail or emit without end:
// f sees the task's context, and emit returns false once the consumer
// wants no more values (under Take, say), when f should return. An error
// from f fails the task, as in MapErr.
func FlatMapErr[T, U any](r *RDD[T], f func(ctx context.Context, t T, emit func(U) bool) error) *RDD[U] {
	return newRDD("FlatMapErr", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(U) bool) error {
		stopped := false
		emit := func(u U) bool {
			if !stopped && !yield(u) {
				stopped = true
			}
			return !stopped
		}
		var ferr error
		err := r.iterate(ctx, tc, part, func(t T) bool {
			if err := f(ctx, t, emit); err != nil {
				ferr = err
				return false
			}
			return !stopped
		})
		if ferr != nil {
			return ferr
		}
		return err
	}, narrow(r.n))
}

// Filter returns the elements of r for which keep is true. It keeps r's
// partitioner (see PartitionerOf).
func Filter[T any](r *RDD[T], keep func(T) bool) *RDD[T] {
	out := newRDD("Filter", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		return r.iterate(ctx, tc, part, func(t T) bool { return !keep(t) || yield(t) })
	}, narrow(r.n))
	keepPartitioner(out.n, r.n)
	return out
}

// MapPartitions calls f once per partition with an iterator over its
// elements; the result holds what f's iterator yields.
func MapPartitions[T, U any](r *RDD[T], f func(part int, in iter.Seq[T]) iter.Seq[U]) *RDD[U] {
	return newRDD("MapPartitions", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(U) bool) error {
		var err error
		in := func(y func(T) bool) {
			if e := r.iterate(ctx, tc, part, y); e != nil && err == nil {
				err = e
			}
		}
		for u := range f(part, in) {
			if !yield(u) {
				break
			}
		}
		return err
	}, narrow(r.n))
}

// MapValues applies f to the value of every pair, keeping keys (and so
// partitioning, see PartitionerOf) as they are.
func MapValues[K, V, W any](r *RDD[Pair[K, V]], f func(V) W) *RDD[Pair[K, W]] {
	out := Map(r, func(p Pair[K, V]) Pair[K, W] { return Pair[K, W]{p.Key, f(p.Value)} })
	out.n.name = "MapValues"
	keepPartitioner(out.n, r.n)
	return out
}

// Keys returns the keys of a pair RDD.
func Keys[K, V any](r *RDD[Pair[K, V]]) *RDD[K] {
	out := Map(r, func(p Pair[K, V]) K { return p.Key })
	out.n.name = "Keys"
	return out
}

// Values returns the values of a pair RDD.
func Values[K, V any](r *RDD[Pair[K, V]]) *RDD[V] {
	out := Map(r, func(p Pair[K, V]) V { return p.Value })
	out.n.name = "Values"
	return out
}

// Union returns the elements of every RDD: the partitions of the first,
// then those of the second, and so on.
func Union[T any](rs ...*RDD[T]) *RDD[T] {
	total := 0
	deps := make([]*dep, len(rs))
	for i, r := range rs {
		total += r.n.parts
		deps[i] = narrow(r.n)
	}
	return newRDD("Union", total, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		for _, r := range rs {
			if part < r.n.parts {
				return r.iterate(ctx, tc, part, yield)
			}
			part -= r.n.parts
		}
		return nil
	}, deps...)
}
