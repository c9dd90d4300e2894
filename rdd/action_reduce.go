package rdd

import (
	"context"
	"fmt"
	"math"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// reduceArg is the argument of the reducing and aggregating actions.
type reduceArg struct {
	Zero  []byte // Fold, Aggregate: the encoded zero value, decoded afresh for every partition
	Group int    // TreeReduce, TreeAggregate: partitions a task combines; 0 or 1 for its own alone
}

// groupOf returns the partitions the task for partition part computes
// when each task combines group of them.
func groupOf(part, group, parts int) []int {
	if group <= 1 {
		return []int{part}
	}
	var out []int
	for q := part; q < min(part+group, parts); q++ {
		out = append(out, q)
	}
	return out
}

// reduceRunner is the task of Reduce and TreeReduce: the elements of its
// partitions reduced with fns[0], or nothing when they have none.
type reduceRunner[T any] struct{}

func (reduceRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, fns fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	f, err := fnAt[func(T, T) T](fns, 0)
	if err != nil {
		return nil, Permanent(err)
	}
	var a reduceArg
	if err := msgpack.Unmarshal(arg, &a); err != nil {
		return nil, Permanent(fmt.Errorf("rdd: decoding Reduce's argument: %w", err))
	}
	var acc T
	have := false
	for _, q := range groupOf(part, a.Group, r.n.parts) {
		err := r.iterate(ctx, tc, q, func(t T) bool {
			if have {
				acc = f(acc, t)
			} else {
				acc, have = t, true
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	if !have {
		return nil, nil
	}
	return r.codec.put(nil, acc), nil
}

// Reduce folds the elements of r with f, which must be associative and
// commutative. Each task reduces its partition on the executor and sends
// one value to the driver, which reduces those in partition order. It
// returns ErrEmpty when r has no elements.
//
// On a cluster (and with --local-cluster) f reaches the executors only if
// it captures no variables: a top-level function, or a literal that uses
// only its parameters, package-level names and constants. A closure that
// captures variables is applied in the driver instead, to every element,
// which gives the same answer at the cost of sending every element there.
func Reduce[T any](ctx context.Context, run Runner, r *RDD[T], f func(T, T) T) (T, error) {
	return treeReduce(ctx, run, r, f, 1)
}

// TreeReduce is Reduce, with the partial results combined on the executors
// in groups before they reach the driver: each task reduces a run of
// ⌈P^(1/depth)⌉ (at least 2) adjacent partitions of r's P, so the driver
// receives that many times fewer values, as Spark's treeReduce does with
// a shuffle. A depth of 1 is Reduce. When r's stage reads a shuffle, each
// task is given the shuffle inputs of every partition of its run. A
// capturing f is applied in the driver, as with Reduce.
func TreeReduce[T any](ctx context.Context, run Runner, r *RDD[T], f func(T, T) T, depth int) (T, error) {
	if depth < 1 {
		var zero T
		return zero, fmt.Errorf("rdd: TreeReduce at %s: depth must be at least 1, not %d", callSite(1), depth)
	}
	return treeReduce(ctx, run, r, f, depth)
}

func treeReduce[T any](ctx context.Context, run Runner, r *RDD[T], f func(T, T) T, depth int) (T, error) {
	var zero T
	g, err := r.graph()
	if err != nil {
		return zero, err
	}
	group := treeGroup(r.n, depth)
	arg, err := msgpack.Marshal(&reduceArg{Group: group})
	if err != nil {
		return zero, err
	}
	var partial []*T
	a, err := funcAction(run, reduceRunner[T]{}, arg, f)
	switch {
	case isNotShippable(err):
		partial, err = reducedInDriver(ctx, run, g, r, f)
	case err == nil:
		partial = make([]*T, r.n.parts)
		err = runSpan(ctx, run, g, r.n, a, func(p int, data []byte) error {
			return r.codec.each(data, func(t T) bool { partial[p] = &t; return true })
		}, group, groupLeaders(r.n.parts, group)...)
	}
	if err != nil {
		return zero, err
	}
	var acc *T
	for _, p := range partial {
		switch {
		case p == nil:
		case acc == nil:
			acc = p
		default:
			*acc = f(*acc, *p)
		}
	}
	if acc == nil {
		return zero, ErrEmpty
	}
	return *acc, nil
}

// reducedInDriver reduces each partition of r with f in the driver, for a
// function that cannot reach the executors.
func reducedInDriver[T any](ctx context.Context, run Runner, g *graph, r *RDD[T], f func(T, T) T) ([]*T, error) {
	partial := make([]*T, r.n.parts)
	err := runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(p int, data []byte) error {
		return r.codec.each(data, func(t T) bool {
			if partial[p] == nil {
				partial[p] = &t
			} else {
				*partial[p] = f(*partial[p], t)
			}
			return true
		})
	})
	return partial, err
}

// treeGroup returns how many adjacent partitions of n one task of a tree
// action combines: ⌈P^(1/depth)⌉, at least 2, when depth > 1; else 1. The
// job's Span gives the task the shuffle inputs of all of them.
func treeGroup(n *node, depth int) int {
	if depth <= 1 || n.parts <= 2 {
		return 1
	}
	scale := int(math.Ceil(math.Pow(float64(n.parts), 1/float64(depth))))
	return min(max(scale, 2), n.parts)
}

// groupLeaders returns the first partition of each group: the partitions
// a tree action's job computes.
func groupLeaders(parts, group int) []int {
	if group <= 1 {
		return nil // all
	}
	var out []int
	for p := 0; p < parts; p += group {
		out = append(out, p)
	}
	return out
}

// aggregateRunner is the task of Fold, Aggregate and TreeAggregate: each of
// its partitions folded with fns[0] (seqOp) from a fresh copy of the zero
// value, and the results combined with fns[1] (combOp).
type aggregateRunner[T, U any] struct{}

func (aggregateRunner[T, U]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, fns fnSet, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	seqOp, err := fnAt[func(U, T) U](fns, 0)
	if err != nil {
		return nil, Permanent(err)
	}
	combOp, err := fnAt[func(U, U) U](fns, 1)
	if err != nil {
		return nil, Permanent(err)
	}
	var a reduceArg
	if err := msgpack.Unmarshal(arg, &a); err != nil {
		return nil, Permanent(fmt.Errorf("rdd: decoding Aggregate's argument: %w", err))
	}
	uc := codec.For[U]()
	var acc U
	for i, q := range groupOf(part, a.Group, r.n.parts) {
		u, err := uc.Decode(a.Zero)
		if err != nil {
			return nil, Permanent(fmt.Errorf("rdd: decoding the zero value: %w", err))
		}
		err = r.iterate(ctx, tc, q, func(t T) bool { u = seqOp(u, t); return true })
		if err != nil {
			return nil, err
		}
		if i == 0 {
			acc = u
		} else {
			acc = combOp(acc, u)
		}
	}
	return encodeValue(uc, acc)
}

// Fold folds the elements of each partition of r with f, starting from a
// copy of zero, then folds those results in partition order, again from a
// copy of zero, as Spark's fold does: zero must be f's identity (0 for +,
// an empty slice for append) or it counts once per partition and once
// more. Every partition yields one value, empty ones zero. The partitions
// are folded on the executors; a capturing f runs in the driver, as
// Reduce explains.
func Fold[T any](ctx context.Context, run Runner, r *RDD[T], zero T, f func(T, T) T) (T, error) {
	return treeAggregate(ctx, run, "Fold", r, zero, f, f, 1)
}

// Aggregate folds the elements of each partition of r into a U with seqOp,
// starting from a copy of zero, and combines those results with combOp,
// in partition order, starting from a copy of zero, as Spark's aggregate
// does: zero must be combOp's identity. Copies are made by encoding zero,
// so U must survive encoding as element types do. The partitions are
// aggregated on the executors; capturing functions run in the driver, as
// Reduce explains.
func Aggregate[T, U any](ctx context.Context, run Runner, r *RDD[T], zero U, seqOp func(U, T) U, combOp func(U, U) U) (U, error) {
	return treeAggregate(ctx, run, "Aggregate", r, zero, seqOp, combOp, 1)
}

// TreeAggregate is Aggregate, with the partial results combined on the
// executors in groups before they reach the driver, as TreeReduce
// describes.
func TreeAggregate[T, U any](ctx context.Context, run Runner, r *RDD[T], zero U, seqOp func(U, T) U, combOp func(U, U) U, depth int) (U, error) {
	if depth < 1 {
		return zero, fmt.Errorf("rdd: TreeAggregate at %s: depth must be at least 1, not %d", callSite(1), depth)
	}
	return treeAggregate(ctx, run, "TreeAggregate", r, zero, seqOp, combOp, depth)
}

func treeAggregate[T, U any](ctx context.Context, run Runner, op string, r *RDD[T], zero U, seqOp func(U, T) U, combOp func(U, U) U, depth int) (U, error) {
	if err := codec.Check(reflect.TypeFor[U]()); err != nil {
		return zero, fmt.Errorf("rdd: %s at %v: %w", op, here(), roled(err, "zero value's"))
	}
	uc := codec.For[U]()
	zb, err := encodeValue(uc, zero)
	if err != nil {
		return zero, fmt.Errorf("rdd: %s at %v: encoding the zero value: %w", op, here(), err)
	}
	fresh := func() (U, error) { return uc.Decode(zb) }
	g, err := r.graph()
	if err != nil {
		return zero, err
	}
	group := treeGroup(r.n, depth)
	arg, err := msgpack.Marshal(&reduceArg{Zero: zb, Group: group})
	if err != nil {
		return zero, err
	}
	var partial []*U
	a, err := funcAction(run, aggregateRunner[T, U]{}, arg, seqOp, combOp)
	switch {
	case isNotShippable(err):
		partial, err = aggregatedInDriver(ctx, run, g, r, fresh, seqOp)
	case err == nil:
		partial = make([]*U, r.n.parts)
		err = runSpan(ctx, run, g, r.n, a, func(p int, data []byte) error {
			u, err := uc.Decode(data)
			if err != nil {
				return fmt.Errorf("rdd: %s: partition %d: %w", op, p, err)
			}
			partial[p] = &u
			return nil
		}, group, groupLeaders(r.n.parts, group)...)
	}
	if err != nil {
		return zero, err
	}
	acc, err := fresh()
	if err != nil {
		return zero, err
	}
	for _, p := range partial {
		if p != nil {
			acc = combOp(acc, *p)
		}
	}
	return acc, nil
}

// aggregatedInDriver folds each partition of r with seqOp in the driver,
// for functions that cannot reach the executors.
func aggregatedInDriver[T, U any](ctx context.Context, run Runner, g *graph, r *RDD[T], fresh func() (U, error), seqOp func(U, T) U) ([]*U, error) {
	partial := make([]*U, r.n.parts)
	err := runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(p int, data []byte) error {
		u, err := fresh()
		if err != nil {
			return err
		}
		if err := r.codec.each(data, func(t T) bool { u = seqOp(u, t); return true }); err != nil {
			return err
		}
		partial[p] = &u
		return nil
	})
	return partial, err
}
