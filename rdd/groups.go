package rdd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// SortedGroups is the Hadoop shuffle: a map task turns its partition into
// key-value pairs, which are sorted by the bytes of an order-preserving key
// encoding (spilling sorted runs under the task's memory budget), combined
// when a combiner is set, and partitioned; a reduce task merges its
// partition's sorted runs and hands its function the groups of adjacent
// keys in order, each group's values as a stream read from the merge. A
// key's values are never collected: a hot key with billions of values
// costs the reduce task its memory budget, not a list.
//
// It is the primitive the mapreduce package compiles a Job onto.
type SortedGroups[K, V any] struct {
	// Name names the operation in plans and the UI; "SortedGroups" when empty.
	Name string
	// Partitions is the number of reduce partitions; 0 picks it as the
	// by-key operations do.
	Partitions int
	// AppendKey appends k's encoding, whose byte order is the sort order,
	// and DecodeKey reverses it. Both are required.
	AppendKey func(dst []byte, k K) []byte
	DecodeKey func(b []byte) (K, error)
	// Partition picks a pair's reduce partition in [0, n) from its key and
	// the key's encoding. Nil means a hash of the encoding, or, with
	// TotalOrder, ranges of it.
	Partition func(k K, enc []byte, n int) int
	// TotalOrder partitions by ranges of the encoded keys, the bounds taken
	// from a seeded sample of the map output, as Hadoop's
	// TotalOrderPartitioner with InputSampler: partition i then holds no
	// key above any of partition i+1. Ignored when Partition is set.
	TotalOrder bool
	// SameGroup reports whether adjacent keys a and b (in sort order) are
	// one group, as Hadoop's grouping comparator does; nil means equal
	// encodings. Keys of one group must be adjacent in the sort order and
	// go to one partition: that is the caller's part of the contract.
	SameGroup func(a, b K) bool
}

// MapTask is what a map task runs, made afresh for every attempt of every
// map partition (so that its closures may hold per-task state).
type MapTask[T, K, V any] struct {
	// Map reads the partition from in and emits pairs. It may stop early.
	Map func(ctx context.Context, in iter.Seq[T], emit func(K, V)) error
	// Combine, when set, is applied to each key's values in the map
	// output, after the sort: what it emits replaces them.
	Combine func(ctx context.Context, k K, values iter.Seq[V], emit func(V)) error
	// Finish, when set, is called once the output is sorted, with the
	// task's figures. The bytes it returns travel in the map output to the
	// last reduce partition, which sees them as ReduceTask.Sides: exactly
	// once for every map partition, from the map output it read.
	Finish func(MapStats) []byte
}

// MapStats are a map task's figures, Hadoop's names in brackets.
type MapStats struct {
	InputRecords   int64 // elements read from the partition (MAP_INPUT_RECORDS)
	OutputRecords  int64 // pairs emitted (MAP_OUTPUT_RECORDS)
	OutputBytes    int64 // their encoded key and value bytes (MAP_OUTPUT_BYTES)
	CombineInput   int64 // values given to the combiner (COMBINE_INPUT_RECORDS)
	CombineOutput  int64 // values it emitted (COMBINE_OUTPUT_RECORDS)
	SpilledRecords int64 // records written to sorted runs on disk (SPILLED_RECORDS)
}

// ReduceStats are a reduce task's figures, Hadoop's names in brackets.
type ReduceStats struct {
	ShuffleBytes   int64 // encoded bytes of the records read from the shuffle (REDUCE_SHUFFLE_BYTES)
	InputRecords   int64 // pairs read (REDUCE_INPUT_RECORDS)
	SpilledRecords int64 // records written to sorted runs on disk (SPILLED_RECORDS)
}

// ReduceTask is a reduce task's view of its partition.
type ReduceTask struct {
	Partition int
	// Sides holds the bytes every map task's Finish returned, in map
	// partition order, on the last partition only.
	Sides [][]byte

	tc    *task.Context
	stats ReduceStats
}

// Stats returns the task's figures so far; complete once every group has
// been read.
func (rt *ReduceTask) Stats() ReduceStats { return rt.stats }

// Save writes the task's part file of the output directory dir under the
// output commit protocol: write gets the path of this attempt's file; the
// file is committed if the driver lets this attempt commit. The job commit
// is CollectCommitted's.
func (rt *ReduceTask) Save(ctx context.Context, dir string, write func(path string) error) error {
	a, err := commit.NewAttempt(dir, rt.tc.Stage, rt.Partition, rt.tc.Attempt)
	if err != nil {
		return err
	}
	if err := write(a.Path()); err != nil {
		a.Abort()
		return err
	}
	ok, err := a.Commit(ctx, rt.tc.Commit)
	if err == nil && !ok {
		err = fmt.Errorf("%w: partition %d attempt %d", task.ErrCommitDenied, rt.Partition, rt.tc.Attempt)
	}
	return err
}

// ReduceFunc is what a reduce task runs: it reads its partition's groups,
// in key order, and yields the elements of the result.
type ReduceFunc[K, V, W any] func(ctx context.Context, rt *ReduceTask, groups iter.Seq2[K, iter.Seq[V]], yield func(W) bool) error

// Data records carry recTag before the encoded key; a side record's key is
// empty, so the two never mix.
const recTag = 1

// GroupSorted shuffles r as s says, running newMap's MapTask in every map
// task and reduce in every reduce task: the two stages of a MapReduce job.
func GroupSorted[T, K, V, W any](r *RDD[T], s SortedGroups[K, V], newMap func(part int) MapTask[T, K, V], reduce ReduceFunc[K, V, W]) *RDD[W] {
	name := s.Name
	if name == "" {
		name = "SortedGroups"
	}
	var opts []Option
	if s.Partitions != 0 {
		opts = append(opts, Partitions(s.Partitions))
	}
	parts, partsErr := shuffleParts(name, opts, r.n)
	var buildErr error
	if s.AppendKey == nil || s.DecodeKey == nil {
		buildErr = fmt.Errorf("rdd: %s at %s: AppendKey and DecodeKey are required", name, callSite(1))
	}
	vc := codec.For[V]()

	var bounds [][]byte // TotalOrder: installed by setState before any map task runs
	partition := func(k K, kb []byte) int {
		switch {
		case s.Partition != nil:
			return s.Partition(k, kb, parts)
		case s.TotalOrder:
			return sort.Search(len(bounds), func(i int) bool { return bytes.Compare(kb, bounds[i]) <= 0 })
		}
		return hashPart(kb, parts)
	}

	sd := &shuffleDep{parent: r.n, parts: parts}
	sd.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		return groupMap(ctx, tc, sd, r, mapPart, newMap(mapPart), s.AppendKey, s.DecodeKey, vc, partition)
	}
	var sample *RDD[string]
	if s.TotalOrder && s.Partition == nil {
		sample = sampleKeys(r, newMap, s.AppendKey)
		sd.prepare = func(ctx context.Context, run Runner, g *graph) ([]byte, error) {
			return sampleBounds(ctx, run, g, sample, sd.id, parts)
		}
		sd.setState = func(state []byte) error {
			bs, err := decodeBounds(state, parts)
			if err == nil {
				bounds = bs
			}
			return err
		}
	}

	out := newRDD(name, parts, func(ctx context.Context, tc *task.Context, part int, yield func(W) bool) error {
		return groupReduce(ctx, tc, sd, part, s, vc, reduce, yield)
	}, &dep{parent: r.n, shuffle: sd})
	if sample != nil {
		out.n.aux = []*node{sample.n}
	}
	return out.fail(partsErr).fail(buildErr)
}

// groupMap runs one map task: the pairs mt.Map emits are sorted by
// (partition, key) with spills, combined, and written with mt.Finish's
// side record last.
func groupMap[T, K, V any](ctx context.Context, tc *task.Context, sd *shuffleDep, r *RDD[T], mapPart int, mt MapTask[T, K, V],
	appendKey func([]byte, K) []byte, decodeKey func([]byte) (K, error), vc codec.Codec[V], partition func(K, []byte) int) error {
	so, err := newSorter(tc, memoryOf(tc), true)
	if err != nil {
		return err
	}
	defer closeSorter(tc, so)
	var (
		st               MapStats
		kb, vb           []byte
		addErr, inErr    error
		added, lastSpill int64
	)
	emit := func(k K, v V) {
		if addErr != nil {
			return
		}
		kb = appendKey(append(kb[:0], recTag), k)
		p := partition(k, kb[1:])
		if p < 0 || p >= sd.parts {
			addErr = fmt.Errorf("rdd: partitioner gave partition %d for a key, outside [0, %d)", p, sd.parts)
			return
		}
		vb = vc.Append(vb[:0], v)
		spills := so.Spills()
		if addErr = so.Add(p, kb, vb); addErr != nil {
			return
		}
		if so.Spills() != spills {
			st.SpilledRecords += added - lastSpill
			lastSpill = added
		}
		added++
		st.OutputRecords++
		st.OutputBytes += int64(len(kb) - 1 + len(vb))
	}
	in := func(yield func(T) bool) {
		err := r.iterate(ctx, tc, mapPart, func(t T) bool {
			st.InputRecords++
			return yield(t) && addErr == nil
		})
		if err != nil && inErr == nil {
			inErr = err
		}
	}
	err = mt.Map(ctx, in, emit)
	if err == nil {
		err = cmpErr(inErr, addErr)
	}
	if err != nil {
		return err
	}
	it, err := so.Iter()
	if err != nil {
		return err
	}
	return writeMapOutput(ctx, tc, sd, func(w task.ShuffleWriter) error {
		cur := -1
		put := func(p int, k, v []byte) error {
			if p != cur {
				if err := w.Partition(p); err != nil {
					return err
				}
				cur = p
			}
			w.Frame(k)
			w.Frame(v)
			return w.EndRecord()
		}
		if mt.Combine == nil {
			for it.Next() {
				if err := put(it.Part(), it.Key(), it.Value()); err != nil {
					return err
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
		} else if err := combineSorted(ctx, it, mt.Combine, decodeKey, vc, &st, put); err != nil {
			return err
		}
		if mt.Finish == nil {
			return nil
		}
		return put(sd.parts-1, nil, mt.Finish(st))
	})
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// combineSorted runs combine over each run of records with the same
// partition and key in it, writing what it emits with put.
func combineSorted[K, V any](ctx context.Context, it *spill.Iterator, combine func(context.Context, K, iter.Seq[V], func(V)) error, decodeKey func([]byte) (K, error),
	vc codec.Codec[V], st *MapStats, put func(p int, k, v []byte) error) error {
	c := cursor[V]{it: it}
	c.advance()
	var key, vb []byte
	for c.ok {
		p := c.it.Part()
		key = append(key[:0], c.it.Key()...)
		k, err := decodeKey(key[1:])
		if err != nil {
			return err
		}
		same := func() bool { return c.it.Part() == p && bytes.Equal(c.it.Key(), key) }
		vals := c.values(same, vc.Decode, &st.CombineInput)
		var putErr error
		err = combine(ctx, k, vals, func(v V) {
			if putErr == nil {
				st.CombineOutput++
				vb = vc.Append(vb[:0], v)
				putErr = put(p, key, vb)
			}
		})
		if err = cmpErr(err, putErr, c.err); err != nil {
			return err
		}
		c.skip(same)
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// cursor walks a sorted stream group by group.
type cursor[V any] struct {
	it  *spill.Iterator
	ok  bool // it is on a record
	err error
}

func (c *cursor[V]) advance() {
	c.ok = c.it.Next()
	if !c.ok {
		c.err = c.it.Err()
	}
}

// values streams the values of the records from the current one while
// same holds. It may be ranged over once; a second range yields nothing.
func (c *cursor[V]) values(same func() bool, decode func([]byte) (V, error), count *int64) iter.Seq[V] {
	used := false
	return func(yield func(V) bool) {
		if used {
			return
		}
		used = true
		for c.ok && same() {
			v, err := decode(c.it.Value())
			if err != nil {
				c.err, c.ok = err, false
				return
			}
			*count++
			c.advance()
			if !yield(v) {
				return
			}
		}
	}
}

// skip moves past the rest of the current group.
func (c *cursor[V]) skip(same func() bool) {
	for c.ok && same() {
		c.advance()
	}
}

// groupReduce runs one reduce task: it sorts the partition's records with
// spills, takes the side records aside, and gives reduce the groups.
func groupReduce[K, V, W any](ctx context.Context, tc *task.Context, sd *shuffleDep, part int, s SortedGroups[K, V], vc codec.Codec[V],
	reduce ReduceFunc[K, V, W], yield func(W) bool) error {
	so, err := newSorter(tc, memoryOf(tc), true)
	if err != nil {
		return err
	}
	defer closeSorter(tc, so)
	rt := &ReduceTask{Partition: part, tc: tc}
	var added, lastSpill int64
	err = eachRecord(ctx, tc, sd.id, part, func(k, v []byte) error {
		rt.stats.ShuffleBytes += int64(len(k) + len(v))
		if len(k) == 0 {
			if part != sd.parts-1 {
				return fmt.Errorf("rdd: shuffle %d partition %d: %w: a side record outside the last partition", sd.id, part, block.ErrCorrupt)
			}
			rt.Sides = append(rt.Sides, bytes.Clone(v))
			return nil
		}
		if k[0] != recTag {
			return fmt.Errorf("rdd: shuffle %d partition %d: %w: record tag %d", sd.id, part, block.ErrCorrupt, k[0])
		}
		spills := so.Spills()
		if err := so.Add(0, k[1:], v); err != nil {
			return err
		}
		if so.Spills() != spills {
			rt.stats.SpilledRecords += added - lastSpill
			lastSpill = added
		}
		added++
		return nil
	})
	if err != nil {
		return err
	}
	it, err := so.Iter()
	if err != nil {
		return err
	}
	c := cursor[V]{it: it}
	c.advance()
	var stopped bool
	groups := func(yieldGroup func(K, iter.Seq[V]) bool) {
		var key []byte
		for c.ok && !stopped {
			key = append(key[:0], c.it.Key()...)
			k, err := s.DecodeKey(key)
			if err != nil {
				c.err, c.ok = err, false
				return
			}
			same := func() bool { return bytes.Equal(c.it.Key(), key) }
			if s.SameGroup != nil {
				same = func() bool {
					if bytes.Equal(c.it.Key(), key) {
						return true
					}
					k2, err := s.DecodeKey(c.it.Key())
					if err != nil {
						c.err, c.ok = err, false
						return false
					}
					return s.SameGroup(k, k2)
				}
			}
			if !yieldGroup(k, c.values(same, vc.Decode, &rt.stats.InputRecords)) {
				stopped = true
				return
			}
			c.skip(same)
		}
	}
	if err := reduce(ctx, rt, groups, yield); err != nil {
		return err
	}
	return c.err
}

// sampleKeys is the lineage that TotalOrder samples: the encoded keys that
// the map tasks emit.
func sampleKeys[T, K, V any](r *RDD[T], newMap func(int) MapTask[T, K, V], appendKey func([]byte, K) []byte) *RDD[string] {
	return newRDD("SampleKeys", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(string) bool) error {
		var inErr error
		stop := false
		in := func(y func(T) bool) {
			if err := r.iterate(ctx, tc, part, func(t T) bool { return y(t) && !stop }); err != nil && inErr == nil {
				inErr = err
			}
		}
		var kb []byte
		err := newMap(part).Map(ctx, in, func(k K, _ V) {
			if !stop {
				kb = appendKey(kb[:0], k)
				stop = !yield(string(kb))
			}
		})
		return cmpErr(err, inErr)
	}, narrow(r.n))
}

// sampleBounds runs the sample job and picks parts-1 ascending, distinct
// bounds, as SortByKey does.
func sampleBounds(ctx context.Context, run Runner, g *graph, keys *RDD[string], seed, parts int) ([]byte, error) {
	per := (3*sampleSize*parts + keys.n.parts - 1) / max(keys.n.parts, 1)
	var sample []string
	err := runJob(ctx, run, g, keys.n, task.Action{Kind: task.ActSample, N: per, Seed: int64(seed)}, func(_ int, data []byte) error {
		return keys.codec.each(data, func(k string) bool { sample = append(sample, k); return true })
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(sample)
	var state []byte
	last := ""
	for i := 1; i < parts && len(sample) > 0; i++ {
		b := sample[i*len(sample)/parts]
		if len(state) > 0 && b == last {
			continue
		}
		last = b
		state = appendFrame(state, []byte(b))
	}
	return state, nil
}

// decodeBounds checks and decodes range bounds: more than parts-1 or out of
// order would send records to a partition that does not exist, or the
// wrong one.
func decodeBounds(state []byte, parts int) ([][]byte, error) {
	var bs [][]byte
	for len(state) > 0 {
		f, rest, err := block.NextFrame(state)
		if err != nil {
			return nil, err
		}
		if len(bs) == parts-1 {
			return nil, fmt.Errorf("rdd: more than %d range bounds for %d partitions", parts-1, parts)
		}
		if len(bs) > 0 && bytes.Compare(bs[len(bs)-1], f) >= 0 {
			return nil, fmt.Errorf("rdd: range bound %d is not above the one before", len(bs))
		}
		bs, state = append(bs, bytes.Clone(f)), rest
	}
	return bs, nil
}

// CollectCommitted runs r, whose partitions each save a part file of the
// output directory dir through ReduceTask.Save, under the output commit
// protocol: dir must not exist or be empty; when every partition has
// committed, the job commit moves the part files into dir and writes
// _SUCCESS; on failure dir is left as it was. It returns r's elements,
// partition after partition, from the one attempt of each partition whose
// result the driver took.
func CollectCommitted[T any](ctx context.Context, run Runner, r *RDD[T], dir string) ([]T, error) {
	if dir == "" {
		return nil, errors.New("rdd: CollectCommitted: empty output directory name")
	}
	g, err := r.graph()
	if err != nil {
		return nil, err
	}
	created, err := commit.SetupJob(dir)
	if err != nil {
		return nil, fmt.Errorf("rdd: %w", err)
	}
	parts := make([][]T, r.n.parts)
	err = runJob(ctx, run, g, r.n, task.Action{Kind: task.ActCollect}, func(p int, data []byte) error {
		return r.codec.each(data, func(t T) bool { parts[p] = append(parts[p], t); return true })
	})
	if err == nil {
		if err = commit.CommitJob(dir, r.n.parts); err != nil {
			err = fmt.Errorf("rdd: %w", err)
		}
	}
	if err != nil {
		commit.AbortJob(dir, created)
		return nil, err
	}
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}
