package rdd

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/sluicehq/sluice/internal/task"
)

// firstK keeps the first k elements of a stream in the order of compare,
// ties broken by arrival (seq), so that it selects exactly what a stable
// sort of the whole stream followed by [:k] would. Its heap has the last
// kept element on top.
type firstK[T any] struct {
	k       int
	compare func(a, b T) int
	elems   []T
	seqs    []int
	seq     int
}

func (h *firstK[T]) Len() int { return len(h.elems) }
func (h *firstK[T]) Less(i, j int) bool {
	// a max-heap: i above j when i comes later
	return h.after(i, j)
}
func (h *firstK[T]) after(i, j int) bool {
	if c := h.compare(h.elems[i], h.elems[j]); c != 0 {
		return c > 0
	}
	return h.seqs[i] > h.seqs[j]
}
func (h *firstK[T]) Swap(i, j int) {
	h.elems[i], h.elems[j] = h.elems[j], h.elems[i]
	h.seqs[i], h.seqs[j] = h.seqs[j], h.seqs[i]
}
func (h *firstK[T]) Push(x any) { panic("firstK: Push is add's") }
func (h *firstK[T]) Pop() any {
	n := len(h.elems) - 1
	h.elems, h.seqs = h.elems[:n], h.seqs[:n]
	return nil
}

// add offers t, which arrives after everything offered before.
func (h *firstK[T]) add(t T) {
	seq := h.seq
	h.seq++
	if len(h.elems) < h.k {
		h.elems, h.seqs = append(h.elems, t), append(h.seqs, seq)
		heap.Fix(h, len(h.elems)-1)
		return
	}
	// t arrives last, so it displaces the top only if strictly before it.
	if h.compare(t, h.elems[0]) < 0 {
		h.elems[0], h.seqs[0] = t, seq
		heap.Fix(h, 0)
	}
}

// sorted returns the kept elements in order.
func (h *firstK[T]) sorted() []T {
	idx := make([]int, len(h.elems))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		if c := h.compare(h.elems[i], h.elems[j]); c != 0 {
			return c
		}
		return cmp.Compare(h.seqs[i], h.seqs[j])
	})
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = h.elems[j]
	}
	return out
}

// firstKOf returns the first k elements of all in the order of compare,
// stably.
func firstKOf[T any](all []T, k int, compare func(a, b T) int) []T {
	h := &firstK[T]{k: k, compare: compare}
	for _, t := range all {
		h.add(t)
	}
	return h.sorted()
}

// orderArg is the argument of the ordering actions: k, and whether the
// order is reversed (Top).
func orderArg(k int, desc bool) []byte {
	b := binary.AppendUvarint(nil, uint64(k))
	if desc {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeOrderArg(b []byte) (int, bool, error) {
	k, n := binary.Uvarint(b)
	if n <= 0 || len(b) != n+1 || k > 1<<40 {
		return 0, false, Permanent(fmt.Errorf("rdd: malformed ordering argument (%d bytes)", len(b)))
	}
	return int(k), b[n] == 1, nil
}

// reversed returns the reverse order of compare.
func reversed[T any](compare func(a, b T) int) func(a, b T) int {
	return func(a, b T) int { return compare(b, a) }
}

// firstKRunner is the task of TakeOrdered and Top for ordered types.
type firstKRunner[T cmp.Ordered] struct{}

func (firstKRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, _ fnSet, arg []byte) ([]byte, error) {
	return firstKWith[T](ctx, tc, ar, part, cmp.Compare[T], arg)
}

// firstKFuncRunner is the task of TakeOrderedFunc and TopFunc: fns[0] is
// the user's compare function.
type firstKFuncRunner[T any] struct{}

func (firstKFuncRunner[T]) run(ctx context.Context, tc *task.Context, ar anyRDD, part int, fns fnSet, arg []byte) ([]byte, error) {
	compare, err := fnAt[func(a, b T) int](fns, 0)
	if err != nil {
		return nil, Permanent(err)
	}
	return firstKWith[T](ctx, tc, ar, part, compare, arg)
}

func firstKWith[T any](ctx context.Context, tc *task.Context, ar anyRDD, part int, compare func(a, b T) int, arg []byte) ([]byte, error) {
	r, err := rddAs[T](ar)
	if err != nil {
		return nil, err
	}
	k, desc, err := decodeOrderArg(arg)
	if err != nil {
		return nil, err
	}
	if desc {
		compare = reversed(compare)
	}
	h := &firstK[T]{k: k, compare: compare}
	if err := r.iterate(ctx, tc, part, func(t T) bool { h.add(t); return true }); err != nil {
		return nil, err
	}
	var buf []byte
	for _, t := range h.sorted() {
		buf = r.codec.put(buf, t)
	}
	return buf, nil
}

// takeOrdered runs the ordering actions: every partition sends its first
// k in the order (reversed when desc), the driver merges them. A compare
// function that cannot reach the executors is applied in the driver to
// every element.
func takeOrdered[T any](ctx context.Context, run Runner, r *RDD[T], k int, desc bool, runner partRunner, compare func(a, b T) int, fns ...any) ([]T, error) {
	g, err := r.graph()
	if err != nil || k <= 0 {
		return nil, err
	}
	order := compare
	if desc {
		order = reversed(compare)
	}
	a, err := funcAction(run, runner, orderArg(k, desc), fns...)
	if isNotShippable(err) {
		a, err = task.Action{Kind: task.ActCollect}, nil
	}
	if err != nil {
		return nil, err
	}
	// Each partition's list is kept to k as it arrives, so the driver
	// holds at most k per partition even when every element comes.
	parts := make([][]T, r.n.parts)
	err = runJob(ctx, run, g, r.n, a, func(p int, data []byte) error {
		h := &firstK[T]{k: k, compare: order}
		err := r.codec.each(data, func(t T) bool { h.add(t); return true })
		parts[p] = h.sorted()
		return err
	})
	if err != nil {
		return nil, err
	}
	return firstKOf(slices.Concat(parts...), k, order), nil
}

// TakeOrdered returns the k smallest elements of r in ascending order, as
// cmp.Compare orders them (NaNs first); among equal elements, those of
// earlier partitions and earlier in their partition first. Each task
// selects its partition's k on the executor, so at most k elements per
// partition reach the driver. It returns nil when k <= 0.
func TakeOrdered[T cmp.Ordered](ctx context.Context, run Runner, r *RDD[T], k int) ([]T, error) {
	return takeOrdered(ctx, run, r, k, false, firstKRunner[T]{}, cmp.Compare[T])
}

// Top returns the k largest elements of r in descending order, as
// TakeOrdered selects the smallest.
func Top[T cmp.Ordered](ctx context.Context, run Runner, r *RDD[T], k int) ([]T, error) {
	return takeOrdered(ctx, run, r, k, true, firstKRunner[T]{}, cmp.Compare[T])
}

// TakeOrderedFunc is TakeOrdered in the order of compare, which returns a
// negative number when a comes before b, a positive one when after, and 0
// when they are equal (as slices.SortFunc's). On a cluster compare reaches
// the executors only if it captures no variables (see Reduce); a
// capturing compare is applied in the driver, where every element then
// travels, with the same answer.
func TakeOrderedFunc[T any](ctx context.Context, run Runner, r *RDD[T], k int, compare func(a, b T) int) ([]T, error) {
	return takeOrdered(ctx, run, r, k, false, firstKFuncRunner[T]{}, compare, compare)
}

// TopFunc returns the k largest elements of r in the order of compare, in
// descending order, as TakeOrderedFunc selects the smallest.
func TopFunc[T any](ctx context.Context, run Runner, r *RDD[T], k int, compare func(a, b T) int) ([]T, error) {
	return takeOrdered(ctx, run, r, k, true, firstKFuncRunner[T]{}, compare, compare)
}

// one returns the only element of a result of k=1, or ErrEmpty.
func one[T any](op string, out []T, err error) (T, error) {
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("rdd: %s: %w", op, ErrEmpty)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return out[0], nil
}

// Min returns the smallest element of r, as cmp.Compare orders them (a
// NaN is smaller than any number), computed on the executors. It returns
// ErrEmpty when r has no elements.
func Min[T cmp.Ordered](ctx context.Context, run Runner, r *RDD[T]) (T, error) {
	out, err := takeOrdered(ctx, run, r, 1, false, firstKRunner[T]{}, cmp.Compare[T])
	return one("Min", out, err)
}

// Max returns the largest element of r, as Min the smallest.
func Max[T cmp.Ordered](ctx context.Context, run Runner, r *RDD[T]) (T, error) {
	out, err := takeOrdered(ctx, run, r, 1, true, firstKRunner[T]{}, cmp.Compare[T])
	return one("Max", out, err)
}

// MinFunc returns the first smallest element of r in the order of
// compare, as TakeOrderedFunc selects it.
func MinFunc[T any](ctx context.Context, run Runner, r *RDD[T], compare func(a, b T) int) (T, error) {
	out, err := takeOrdered(ctx, run, r, 1, false, firstKFuncRunner[T]{}, compare, compare)
	return one("MinFunc", out, err)
}

// MaxFunc returns the first largest element of r in the order of compare,
// as TopFunc selects it.
func MaxFunc[T any](ctx context.Context, run Runner, r *RDD[T], compare func(a, b T) int) (T, error) {
	out, err := takeOrdered(ctx, run, r, 1, true, firstKFuncRunner[T]{}, compare, compare)
	return one("MaxFunc", out, err)
}
