package rdd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// sampleSize is how many keys per output partition the range partitioner
// samples, as Spark's RangePartitioner does.
const sampleSize = 20

// SortByKey sorts a pair RDD by key, ascending, across partitions:
// partition i holds keys no greater than those of partition i+1. The
// partition bounds come from a seeded sample of the keys, taken by a job
// the first action runs, so they are the same in every process and
// attempt. Records with equal keys keep their input order.
func SortByKey[K cmp.Ordered, V any](r *RDD[Pair[K, V]], opts ...Option) *RDD[Pair[K, V]] {
	parts, partsErr := shuffleParts("SortByKey", opts, r.n)
	keys := Keys(r)
	appendOrd, decodeOrd := codec.OrderedFor[K]()
	vc := codec.For[V]()

	var bounds []K // installed by setState before any map task runs
	s := &shuffleDep{parent: r.n, parts: parts}
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, p Pair[K, V]) ([]byte, []byte, int) {
			i := sort.Search(len(bounds), func(i int) bool { return cmp.Compare(p.Key, bounds[i]) <= 0 })
			return appendOrd(kb, p.Key), vc.Append(vb, p.Value), i
		})
	}
	s.prepare = func(ctx context.Context, run Runner, g *graph) ([]byte, error) {
		per := (3*sampleSize*parts + keys.n.parts - 1) / max(keys.n.parts, 1)
		var sample []K
		err := runJob(ctx, run, g, keys.n, task.Action{Kind: task.ActSample, N: per, Seed: int64(s.id)}, func(_ int, data []byte) error {
			return keys.codec.each(data, func(k K) bool { sample = append(sample, k); return true })
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(sample, cmp.Compare[K])
		var state []byte
		var last []byte
		for i := 1; i < parts && len(sample) > 0; i++ {
			b := sample[i*len(sample)/parts]
			kb := appendOrd(nil, b)
			if last != nil && string(kb) == string(last) {
				continue
			}
			last = kb
			state = appendFrame(state, kb)
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
			k, err := decodeOrd(f)
			if err != nil {
				return err
			}
			if len(bs) == parts-1 {
				return fmt.Errorf("rdd: SortByKey: more than %d range bounds for %d partitions", parts-1, parts)
			}
			if len(bs) > 0 && cmp.Compare(bs[len(bs)-1], k) >= 0 {
				return fmt.Errorf("rdd: SortByKey: range bound %d (%v) is not above the one before (%v)", len(bs), k, bs[len(bs)-1])
			}
			bs, state = append(bs, k), rest
		}
		bounds = bs
		return nil
	}

	out := newRDD("SortByKey", parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
		return sortedInput(ctx, tc, part, func(it *spill.Iterator) error {
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
		}, s.id)
	}, &dep{parent: r.n, shuffle: s})
	out.n.aux = []*node{keys.n}
	return out.fail(partsErr)
}
