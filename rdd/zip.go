package rdd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrZipMismatch is the error of a Zip whose RDDs differ in a partition's
// number of elements. It is permanent: a retry gives the same counts.
var ErrZipMismatch = errors.New("rdd: Zip of RDDs with different numbers of elements in a partition")

// Zip pairs the i-th element of a with the i-th element of b, partition
// by partition, as Spark's zip does. a and b must have the same number of
// partitions (else the first action fails, naming this call) and the same
// number of elements in each partition (else the task fails with an error
// wrapping ErrZipMismatch, which is permanent). Both partitions are read
// together, one element at a time.
func Zip[T, U any](a *RDD[T], b *RDD[U]) *RDD[Pair[T, U]] {
	var err error
	if a.n.parts != b.n.parts {
		err = fmt.Errorf("rdd: Zip at %s: the RDDs have %d and %d partitions; Zip needs the same number (Coalesce or Repartition one of them)",
			callSite(1), a.n.parts, b.n.parts)
	}
	out := newRDD("Zip", a.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[T, U]) bool) error {
		var berr error
		next, stop := iter.Pull(func(y func(U) bool) {
			if e := b.iterate(ctx, tc, part, y); e != nil {
				berr = e
			}
		})
		defer stop()
		n := 0
		short, stopped := false, false
		err := a.iterate(ctx, tc, part, func(t T) bool {
			u, ok := next()
			if !ok {
				short = true
				return false
			}
			n++
			if !yield(Pair[T, U]{t, u}) {
				stopped = true
				return false
			}
			return true
		})
		switch {
		case err != nil:
			return err
		case berr != nil:
			return berr
		case short:
			return Permanent(fmt.Errorf("%w: partition %d of the second RDD ends after %d elements; the first has more", ErrZipMismatch, part, n))
		case stopped:
			return nil
		}
		if _, more := next(); more {
			return Permanent(fmt.Errorf("%w: partition %d of the first RDD ends after %d elements; the second has more", ErrZipMismatch, part, n))
		}
		return berr
	}, narrow(a.n), narrow(b.n))
	return out.fail(err)
}

// ZipWithIndex pairs every element of r with its index: its position in
// r, partition after partition, from 0. As in Spark, the first action
// runs a job that counts the elements of every partition but the last,
// so that each partition knows where its indices start. The indices are
// stable when r's order is (every user function deterministic, no
// Repartition upstream), as recomputation needs.
func ZipWithIndex[T any](r *RDD[T]) *RDD[Pair[T, int64]] {
	var starts []int64 // installed by setState before any task runs
	out := newRDD("ZipWithIndex", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[T, int64]) bool) error {
		if starts == nil {
			return fmt.Errorf("rdd: ZipWithIndex: partition %d ran before the driver counted the partitions", part)
		}
		i := starts[part]
		return r.iterate(ctx, tc, part, func(t T) bool {
			ok := yield(Pair[T, int64]{t, i})
			i++
			return ok
		})
	}, narrow(r.n))
	parts := r.n.parts
	prep := &shuffleDep{parent: r.n}
	out.n.prep = prep
	prep.prepare = func(ctx context.Context, run Runner, g *graph) ([]byte, error) {
		counts := make([]int64, parts)
		if parts > 1 {
			ps := make([]int, parts-1)
			for i := range ps {
				ps[i] = i
			}
			err := runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCount}, func(p int, data []byte) error {
				n, err := decodeCount(data)
				if err != nil {
					return fmt.Errorf("rdd: ZipWithIndex: partition %d: %w", p, err)
				}
				counts[p] = n
				return nil
			}, ps...)
			if err != nil {
				return nil, err
			}
		}
		var state []byte
		var start int64
		for _, c := range counts {
			state = binary.AppendUvarint(state, uint64(start))
			start += c
		}
		return state, nil
	}
	prep.setState = func(state []byte) error {
		ss := make([]int64, 0, parts)
		for len(state) > 0 {
			v, k := binary.Uvarint(state)
			if k <= 0 || v > 1<<62 {
				return fmt.Errorf("malformed start index")
			}
			if len(ss) > 0 && int64(v) < ss[len(ss)-1] {
				return fmt.Errorf("start index %d below the one before (%d)", v, ss[len(ss)-1])
			}
			ss, state = append(ss, int64(v)), state[k:]
		}
		if len(ss) != parts {
			return fmt.Errorf("%d start indices for %d partitions", len(ss), parts)
		}
		starts = ss
		return nil
	}
	return out
}

// ZipWithUniqueID pairs every element of r with a unique id: the k-th
// element of partition p of n gets k*n+p, as in Spark. Unlike
// ZipWithIndex it runs no job, but the ids have gaps.
func ZipWithUniqueID[T any](r *RDD[T]) *RDD[Pair[T, int64]] {
	n := int64(r.n.parts)
	return newRDD("ZipWithUniqueID", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[T, int64]) bool) error {
		id := int64(part)
		return r.iterate(ctx, tc, part, func(t T) bool {
			ok := yield(Pair[T, int64]{t, id})
			id += n
			return ok
		})
	}, narrow(r.n))
}

// Cartesian returns every pair of an element of a and an element of b, as
// Spark's cartesian does: partition i*len(b)+j pairs partition i of a
// with partition j of b, reading partition j of b once per element of
// partition i of a (Cache b when it is costly to compute).
func Cartesian[T, U any](a *RDD[T], b *RDD[U]) *RDD[Pair[T, U]] {
	nb := b.n.parts
	return newRDD("Cartesian", a.n.parts*nb, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[T, U]) bool) error {
		i, j := part/nb, part%nb
		var berr error
		stopped := false
		err := a.iterate(ctx, tc, i, func(t T) bool {
			berr = b.iterate(ctx, tc, j, func(u U) bool {
				if !yield(Pair[T, U]{t, u}) {
					stopped = true
					return false
				}
				return true
			})
			return berr == nil && !stopped
		})
		if err != nil {
			return err
		}
		return berr
	}, narrow(a.n), narrow(b.n))
}

// Shuffle makes Coalesce spread the elements through a shuffle, as
// Repartition does, instead of merging whole partitions.
func Shuffle() Option { return func(o *options) { o.shuffle = true } }

// Coalesce returns r in at most n partitions without a shuffle, as
// Spark's coalesce does: output partition i is the concatenation of a
// contiguous run of r's partitions, the runs as even as the counts allow.
// With n at or above r's count it keeps r's partitions. With the Shuffle
// option it is Repartition(r, n), which balances skewed partitions and
// can also raise the count. n must be at least 1.
func Coalesce[T any](r *RDD[T], n int, opts ...Option) *RDD[T] {
	o, err := buildOptions("Coalesce", opts)
	if n < 1 {
		err = partitionCountError(fmt.Sprintf("Coalesce(%d)", n), callSite(1))
		n = 1
	}
	if o.shuffle {
		out := Repartition(r, n)
		return out.fail(err)
	}
	parent := r.n.parts
	n = min(n, parent)
	out := newRDD("Coalesce", n, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		for p := part * parent / n; p < (part+1)*parent/n; p++ {
			stopped := false
			err := r.iterate(ctx, tc, p, func(t T) bool {
				if !yield(t) {
					stopped = true
					return false
				}
				return true
			})
			if err != nil || stopped {
				return err
			}
		}
		return nil
	}, narrow(r.n))
	return out.fail(err)
}
