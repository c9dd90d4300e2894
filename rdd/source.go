package rdd

import (
	"context"

	"github.com/sluicehq/sluice/internal/task"
)

// Parallelize distributes data over partitions (2 unless Partitions says
// otherwise), in order: partition i holds an equal, contiguous run of data.
// Executors rebuild data from the Func that calls Parallelize, so it must be
// the same in every process: a Func argument or a constant.
func Parallelize[T any](data []T, opts ...Option) *RDD[T] {
	o, err := buildOptions("Parallelize", opts)
	n := o.parts
	if n == 0 {
		n = 2
	}
	r := newRDD("Parallelize", n, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		lo, hi := part*len(data)/n, (part+1)*len(data)/n
		for _, t := range data[lo:hi] {
			if !yield(t) {
				return nil
			}
		}
		return nil
	})
	return r.fail(err)
}
