package rdd

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// sampleSize is how many keys per output partition the range partitioner
// samples, as Spark's RangePartitioner does.
const sampleSize = 20

// Descending makes a sort (SortByKey, SortBy, SortByKeyFunc,
// RepartitionAndSortWithinPartitions) order keys from high to low, as
// Spark's ascending = false does.
func Descending() Option { return func(o *options) { o.descending = true } }

// SortByKey sorts a pair RDD by key, ascending (or descending with the
// Descending option), across partitions: partition i holds keys that sort
// no later than those of partition i+1. The partition bounds come from a
// seeded sample of the keys, taken by a job the first action runs, so they
// are the same in every process and attempt. Records with equal keys keep
// their input order. The result is laid out by a RangePartitioner (see
// PartitionerOf), so a by-key operation on it that keeps that layout does
// not shuffle again.
func SortByKey[K cmp.Ordered, V any](r *RDD[Pair[K, V]], opts ...Option) *RDD[Pair[K, V]] {
	parts, partsErr := shuffleParts("SortByKey", opts, r.n)
	if o, _ := buildOptions("SortByKey", opts); o.descending {
		out := sortByFunc("SortByKey", r, func(a, b K) int { return cmp.Compare(b, a) }, parts)
		out.n.partitioner.p.(*RangePartitioner[K]).order = -1
		return out.fail(partsErr)
	}
	appendOrd, decodeOrd := codec.OrderedFor[K]()
	vc := codec.For[V]()
	s := &shuffleDep{parent: r.n, parts: parts}
	rp, keys := sampledRange(s, r, parts, cmp.Compare[K])
	rp.order = 1
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, p Pair[K, V]) ([]byte, []byte, int) {
			return appendOrd(kb, p.Key), vc.Append(vb, p.Value), rp.Partition(p.Key)
		})
	}
	out := newRDD("SortByKey", parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
		return sortedInput(ctx, tc, part, orderedPairs(decodeOrd, vc, yield), fromShuffle(s))
	}, &dep{parent: r.n, shuffle: s})
	out.n.aux = []*node{keys}
	out.n.partitioner = newPartInfo[K](rp)
	return out.fail(partsErr)
}

// orderedPairs decodes a stream sorted by order-preserving key bytes.
// String keys are copied into shared blocks (see stringBlocks).
func orderedPairs[K, V any](decodeOrd func([]byte) (K, error), vc codec.Codec[V], yield func(Pair[K, V]) bool) func(*spill.Iterator) error {
	if reflect.TypeFor[K]().Kind() == reflect.String {
		var sb stringBlocks
		decodeOrd = func(b []byte) (K, error) {
			var k K
			*(*string)(unsafe.Pointer(&k)) = sb.string(b)
			return k, nil
		}
	}
	return func(it *spill.Iterator) error {
		for it.Next() {
			k, err := decodeOrd(it.Key())
			if err != nil {
				return err
			}
			v, err := vc.Decode(it.Value())
			if err != nil {
				return err
			}
			if !yield(Pair[K, V]{k, v}) {
				return nil
			}
		}
		return it.Err()
	}
}

// stringBlockSize is the block that stringBlocks cuts strings from.
const stringBlockSize = 32 << 10

// stringBlocks copies byte slices into strings cut from shared blocks: one
// allocation for many short strings instead of one each, as TextFile's
// lines share their read chunk. A string kept by the user keeps its block
// (at most stringBlockSize bytes) alive.
type stringBlocks struct{ buf []byte }

func (sb *stringBlocks) string(b []byte) string {
	if len(b) == 0 || len(b) > stringBlockSize/8 {
		return string(b)
	}
	if cap(sb.buf)-len(sb.buf) < len(b) {
		sb.buf = make([]byte, 0, stringBlockSize)
	}
	start := len(sb.buf)
	// Bytes appended are never written again: later appends go past them.
	sb.buf = append(sb.buf, b...)
	return unsafe.String(&sb.buf[start], len(b))
}

// SortByKeyFunc is SortByKey for keys of any type, ordered by compare,
// which returns a negative number, zero or a positive number as a sorts
// before, with or after b, and must be a strict weak order. Keys must
// survive encoding, as every element does. Each partition is sorted
// within the task's memory: runs that do not fit are sorted in memory,
// written to disk and merged.
func SortByKeyFunc[K, V any](r *RDD[Pair[K, V]], compare func(a, b K) int, opts ...Option) *RDD[Pair[K, V]] {
	parts, partsErr := shuffleParts("SortByKeyFunc", opts, r.n)
	if o, _ := buildOptions("SortByKeyFunc", opts); o.descending {
		asc := compare
		compare = func(a, b K) int { return asc(b, a) }
	}
	return sortByFunc("SortByKeyFunc", r, compare, parts).fail(partsErr)
}

// SortBy sorts the elements of r by the key f gives them, ascending (or
// descending with the Descending option), as Spark's sortBy does: a
// SortByKey of the keyed elements, keys dropped.
func SortBy[T any, K cmp.Ordered](r *RDD[T], f func(T) K, opts ...Option) *RDD[T] {
	out := Values(SortByKey(KeyBy(r, f), opts...))
	out.n.name = "SortBy"
	return out
}

// sortByFunc range-partitions r by a sampled RangePartitioner ordered by
// compare and sorts each partition by it.
func sortByFunc[K, V any](name string, r *RDD[Pair[K, V]], compare func(a, b K) int, parts int) *RDD[Pair[K, V]] {
	kc, vc := codec.For[K](), codec.For[V]()
	s := &shuffleDep{parent: r.n, parts: parts}
	rp, keys := sampledRange(s, r, parts, compare)
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, p Pair[K, V]) ([]byte, []byte, int) {
			return kc.Append(kb, p.Key), vc.Append(vb, p.Value), rp.Partition(p.Key)
		})
	}
	out := newRDD(name, parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
		return sortedFunc(ctx, tc, part, fromShuffle(s), kc, vc, compare, yield)
	}, &dep{parent: r.n, shuffle: s})
	out.n.aux = []*node{keys}
	out.n.partitioner = newPartInfo[K](rp)
	return out
}

// sampledRange returns the RangePartitioner of shuffle s into parts
// partitions, ordered by compare, and the node of r's keys that it
// samples: s.prepare samples them on the driver before the map stage, and
// s.setState installs the bounds in every process.
func sampledRange[K, V any](s *shuffleDep, r *RDD[Pair[K, V]], parts int, compare func(a, b K) int) (*RangePartitioner[K], *node) {
	rp := &RangePartitioner[K]{compare: compare, sampled: true, parts: parts}
	s.partitioner = rp
	keys := Keys(r)
	kc := codec.For[K]()
	s.prepare = func(ctx context.Context, run Runner, g *graph) ([]byte, error) {
		per := (3*sampleSize*parts + keys.n.parts - 1) / max(keys.n.parts, 1)
		var sample []K
		err := runJob(ctx, run, g, keys.n, task.Action{Kind: task.ActSample, N: per, Seed: int64(s.id)}, func(_ int, data []byte) error {
			return keys.codec.each(data, func(k K) bool { sample = append(sample, k); return true })
		})
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(sample, compare)
		var state []byte
		var last *K
		for i := 1; i < parts && len(sample) > 0; i++ {
			b := sample[i*len(sample)/parts]
			if last != nil && compare(*last, b) >= 0 {
				continue
			}
			last = &b
			state = appendFrame(state, kc.Append(nil, b))
		}
		return state, nil
	}
	// setState installs the bounds prepare chose, which arrive with every
	// task. Bounds out of order or too many of them would send records to
	// the wrong partition, or to one that does not exist, so they are an
	// error.
	s.setState = func(state []byte) error {
		var bs []K
		for len(state) > 0 {
			f, rest, err := block.NextFrame(state)
			if err != nil {
				return err
			}
			k, err := kc.Decode(f)
			if err != nil {
				return err
			}
			if len(bs) == parts-1 {
				return fmt.Errorf("rdd: sort: more than %d range bounds for %d partitions", parts-1, parts)
			}
			if len(bs) > 0 && compare(bs[len(bs)-1], k) >= 0 {
				return fmt.Errorf("rdd: sort: range bound %d (%v) is not above the one before (%v)", len(bs), k, bs[len(bs)-1])
			}
			bs, state = append(bs, k), rest
		}
		rp.bounds, rp.ready = bs, true
		return nil
	}
	return rp, keys.n
}

// RepartitionAndSortWithinPartitions lays out a pair RDD by p and sorts
// each partition by key, ascending (or descending with the Descending
// option), in one shuffle, as Spark's repartitionAndSortWithinPartitions
// does: cheaper than PartitionWith then a sort, because the shuffle's
// sort does the work. Records with equal keys keep their input order.
func RepartitionAndSortWithinPartitions[K cmp.Ordered, V any](r *RDD[Pair[K, V]], p Partitioner[K], opts ...Option) *RDD[Pair[K, V]] {
	const name = "RepartitionAndSortWithinPartitions"
	o, err := buildOptions(name, opts)
	if err == nil {
		err = checkPartitioner(p)
		if err != nil {
			err = fmt.Errorf("rdd: %s at %s: %w", name, callSite(1), err)
		}
	}
	if err != nil || o.parts > 0 {
		if err == nil {
			err = fmt.Errorf("rdd: %s at %s: the partitioner sets the number of partitions; Partitions cannot", name, callSite(1))
		}
		p = HashPartitioner[K]{1}
	}
	s := &shuffleDep{parent: r.n, parts: p.NumPartitions(), partitioner: p}
	kcanon, _ := codec.KeyFor[K]()
	partOf := partitionFunc(p)
	vc := codec.For[V]()
	var compute func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error
	if o.descending {
		kc := codec.For[K]()
		s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
			var hb []byte
			return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, q Pair[K, V]) ([]byte, []byte, int) {
				hb = kcanon.Append(hb[:0], q.Key)
				return kc.Append(kb, q.Key), vc.Append(vb, q.Value), partOf(q.Key, hb)
			})
		}
		desc := func(a, b K) int { return cmp.Compare(b, a) }
		compute = func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
			return sortedFunc(ctx, tc, part, fromShuffle(s), kc, vc, desc, yield)
		}
	} else {
		appendOrd, decodeOrd := codec.OrderedFor[K]()
		s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
			var hb []byte
			return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, q Pair[K, V]) ([]byte, []byte, int) {
				hb = kcanon.Append(hb[:0], q.Key)
				return appendOrd(kb, q.Key), vc.Append(vb, q.Value), partOf(q.Key, hb)
			})
		}
		compute = func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
			return sortedInput(ctx, tc, part, orderedPairs(decodeOrd, vc, yield), fromShuffle(s))
		}
	}
	out := newRDD(name, s.parts, compute, &dep{parent: r.n, shuffle: s})
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = newPartInfo(p)
	return out.fail(err)
}

// FilterByRange returns the pairs of r whose key lies in [lo, hi], as
// Spark's filterByRange does. When r is laid out by a RangePartitioner in
// the keys' natural order (SortByKey's, or one from NewRangePartitioner),
// partitions that cannot hold such a key are not computed at all: their
// tasks read nothing. Otherwise every pair is tested.
func FilterByRange[K cmp.Ordered, V any](r *RDD[Pair[K, V]], lo, hi K) *RDD[Pair[K, V]] {
	in := func(k K) bool { return cmp.Compare(lo, k) <= 0 && cmp.Compare(k, hi) <= 0 }
	var rp *RangePartitioner[K]
	if p, ok := PartitionerOf(r); ok {
		if q, ok := p.(*RangePartitioner[K]); ok && (q.natural || q.order != 0) {
			rp = q
		}
	}
	out := newRDD("FilterByRange", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
		if cmp.Compare(lo, hi) > 0 {
			return nil // an empty range
		}
		if rp != nil {
			a, b := rp.Partition(lo), rp.Partition(hi)
			if a > b {
				a, b = b, a // descending
			}
			if part < a || part > b {
				return nil
			}
		}
		return r.iterate(ctx, tc, part, func(p Pair[K, V]) bool { return !in(p.Key) || yield(p) })
	}, narrow(r.n))
	keepPartitioner(out.n, r.n)
	return out
}

// sortedFunc sorts the records of partition part of src by compare on
// their decoded keys, stably (records with equal keys keep src's order),
// within half the task's memory: a run that outgrows it is sorted in
// memory and written to disk through a spill.Sorter that keeps insertion
// order, and the runs are merged at the end, ties going to the earlier
// run. A partition of data/budget runs holds that many files open.
func sortedFunc[K, V any](ctx context.Context, tc *task.Context, part int, src source, kc codec.Codec[K], vc codec.Codec[V], compare func(a, b K) int, yield func(Pair[K, V]) bool) error {
	type rec struct {
		k  K
		kb []byte
		vb []byte
	}
	half := memoryOf(tc) / 2
	var (
		chunk []rec
		mem   int64
		runs  []*spill.Sorter
	)
	defer func() {
		for _, so := range runs {
			closeSorter(tc, so)
		}
	}()
	var zeroK K
	entry := int64(64) + sizeOf(zeroK)
	byKey := func(a, b rec) int { return compare(a.k, b.k) }
	flush := func() error {
		slices.SortStableFunc(chunk, byKey)
		so, err := newSorter(tc, max(64<<10, half/64), false)
		if err != nil {
			return err
		}
		runs = append(runs, so)
		for _, r := range chunk {
			if err := so.Add(0, r.kb, r.vb); err != nil {
				return err
			}
		}
		clear(chunk)
		chunk, mem = chunk[:0], 0
		return nil
	}
	err := src(ctx, tc, part, func(kb, vb []byte) error {
		k, err := kc.Decode(kb)
		if err != nil {
			return err
		}
		r := rec{k, append([]byte(nil), kb...), append([]byte(nil), vb...)}
		chunk = append(chunk, r)
		if mem += entry + int64(len(kb)+len(vb)) + sizeOf(k); mem > half {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		slices.SortStableFunc(chunk, byKey)
		for _, r := range chunk {
			v, err := vc.Decode(r.vb)
			if err != nil {
				return err
			}
			if !yield(Pair[K, V]{r.k, v}) {
				return nil
			}
		}
		return nil
	}
	if len(chunk) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	// A k-way merge; k is small, so a linear scan for the least head is
	// simpler than a heap and costs little next to decoding.
	type head struct {
		it *spill.Iterator
		k  K
		ok bool
	}
	heads := make([]head, len(runs))
	advance := func(h *head) error {
		if h.ok = h.it.Next(); !h.ok {
			return h.it.Err()
		}
		var err error
		h.k, err = kc.Decode(h.it.Key())
		return err
	}
	for i, so := range runs {
		it, err := so.Iter()
		if err != nil {
			return err
		}
		heads[i].it = it
		if err := advance(&heads[i]); err != nil {
			return err
		}
	}
	for {
		best := -1
		for i := range heads {
			if heads[i].ok && (best < 0 || compare(heads[i].k, heads[best].k) < 0) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		h := &heads[best]
		v, err := vc.Decode(h.it.Value())
		if err != nil {
			return err
		}
		if !yield(Pair[K, V]{h.k, v}) {
			return nil
		}
		if err := advance(h); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
