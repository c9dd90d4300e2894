package rdd

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// reduceBytes is the input a reduce partition gets by default when the
// size of a shuffle's input is known: Spark's advisory partition size.
const reduceBytes = 64 << 20

// shuffleParts picks the number of reduce partitions of the operation op:
// the option when given; else, when the size of the input before the
// shuffle is known (files), one partition per 64 MiB of it, at least two,
// at most the largest parent's count; else the largest parent's count, as
// Spark's default partitioner does. So many small files make few reduce
// partitions, not one per file. (The cluster's slots cannot enter: every
// process must build the same lineage, whatever the cluster's size.) A
// count below 1 is an error for the new node.
func shuffleParts(op string, opts []Option, parents ...*node) (int, error) {
	o, err := buildOptions(op, opts)
	if o.parts > 0 {
		return o.parts, nil
	}
	n := 1
	var bytes int64
	for _, p := range parents {
		n = max(n, p.parts)
		if bytes >= 0 && p.inputBytes >= 0 {
			bytes += p.inputBytes
		} else {
			bytes = -1
		}
	}
	if bytes >= 0 {
		// At least two, so that even a small job sorts or groups in
		// parallel; never more than the map side has.
		n = min(n, max(2, int((bytes+reduceBytes-1)/reduceBytes)))
	}
	return n, err
}

// Aggregator says how CombineByKey folds values into combiners.
type Aggregator[V, C any] struct {
	Create         func(V) C    // a combiner from a key's first value
	MergeValue     func(C, V) C // fold one more value in
	MergeCombiners func(C, C) C // merge two combiners (across map outputs and spills)
}

// CombineByKey combines the values of each key with agg, combining on the
// map side before the shuffle, then across map outputs.
func CombineByKey[K comparable, V, C any](r *RDD[Pair[K, V]], agg Aggregator[V, C], opts ...Option) *RDD[Pair[K, C]] {
	return combineByKey("CombineByKey", r, agg, opts)
}

// ReduceByKey merges the values of each key with f, which must be
// associative and commutative.
func ReduceByKey[K comparable, V any](r *RDD[Pair[K, V]], f func(V, V) V, opts ...Option) *RDD[Pair[K, V]] {
	return combineByKey("ReduceByKey", r, Aggregator[V, V]{
		Create:         func(v V) V { return v },
		MergeValue:     f,
		MergeCombiners: f,
	}, opts)
}

// AggregateByKey folds the values of each key into zero with seq, and
// merges partial results with comb. As in Spark, every key starts from its
// own deep copy of zero in every map task, so seq and comb may modify their
// first argument and return it. zero is copied through the codec (encoded
// once, decoded once per key) unless its type holds no references; a zero
// that cannot be encoded makes the first action fail.
func AggregateByKey[K comparable, V, U any](r *RDD[Pair[K, V]], zero U, seq func(U, V) U, comb func(U, U) U, opts ...Option) *RDD[Pair[K, U]] {
	fresh, err := zeroCopier(zero)
	out := combineByKey("AggregateByKey", r, Aggregator[V, U]{
		Create:         func(v V) U { return seq(fresh(), v) },
		MergeValue:     seq,
		MergeCombiners: comb,
	}, opts)
	if err != nil {
		out.fail(fmt.Errorf("rdd: AggregateByKey at %s: %w", callSite(1), err))
	}
	return out
}

// combineByKey combines the values of each key. When r is already laid
// out by the output's partitioner, every key's records are in one
// partition of r, so each output partition combines its own parent
// partition with no shuffle, as Spark does.
func combineByKey[K comparable, V, C any](name string, r *RDD[Pair[K, V]], agg Aggregator[V, C], opts []Option) *RDD[Pair[K, C]] {
	target, _, partsErr := targetPartitioner[K](name, opts, r.n)
	info := newPartInfo(target)
	kc, _ := codec.KeyFor[K]()
	cc := codec.For[C]()
	var out *RDD[Pair[K, C]]
	if samePartitioner(r.n.partitioner, info) {
		out = newRDD(name, r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, C]) bool) error {
			create := func(v V) C { return cloneKey(agg.Create(v)) }
			t := newSpillTable(tc, 0, memoryOf(tc)/2, cc, create, agg.MergeValue, keyBytes, partZero)
			defer t.close()
			var kb []byte
			var addErr error
			err := r.iterate(ctx, tc, part, func(p Pair[K, V]) bool {
				kb = kc.Append(kb[:0], p.Key)
				addErr = t.addString(unsafe.String(unsafe.SliceData(kb), len(kb)), p.Value)
				return addErr == nil
			})
			if err == nil {
				err = addErr
			}
			if err == nil {
				err = t.done()
			}
			if err != nil {
				return err
			}
			return emitCombined(name, t, kc, agg.MergeCombiners, yield)
		}, narrow(r.n))
	} else {
		out = combineShuffled(name, r, agg, target, kc, cc)
	}
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = info
	return out.fail(partsErr)
}

// combineShuffled combines each key's values on the map side, shuffles
// the combiners by target and merges them on the reduce side.
func combineShuffled[K comparable, V, C any](name string, r *RDD[Pair[K, V]], agg Aggregator[V, C], target Partitioner[K], kc codec.Codec[K], cc codec.Codec[C]) *RDD[Pair[K, C]] {
	s := &shuffleDep{parent: r.n, parts: target.NumPartitions(), partitioner: target}
	mergeBytes := func(a, b []byte) ([]byte, error) {
		ca, err := cc.Decode(a)
		if err != nil {
			return nil, err
		}
		cb, err := cc.Decode(b)
		if err != nil {
			return nil, err
		}
		return cc.Append(nil, agg.MergeCombiners(ca, cb)), nil
	}
	rk := rawKeyOf[K]()
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		return combineMap(ctx, tc, s, r, mapPart, agg, rk, kc, cc, target, mergeBytes)
	}

	identity := func(c C) C { return c }
	return newRDD(name, s.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, C]) bool) error {
		t := newSpillTable(tc, 0, memoryOf(tc)/2, cc, identity, agg.MergeCombiners, keyBytes, partZero)
		defer t.close()
		err := eachRecord(ctx, tc, s.id, part, func(kf, vf []byte) error {
			c, err := cc.Decode(vf)
			if err != nil {
				return fmt.Errorf("rdd: %s: %w", name, err)
			}
			return t.addString(unsafe.String(unsafe.SliceData(kf), len(kf)), c)
		})
		if err == nil {
			err = t.done()
		}
		if err != nil {
			return err
		}
		return emitCombined(name, t, kc, agg.MergeCombiners, yield)
	}, &dep{parent: r.n, shuffle: s})
}

// combineMap is the map side of combineShuffled: each key's combiner in
// a combTable, keyed as rawKeyOf says (a string, integer or fixed-size key
// as it is, with no encoding per record; any other by its canonical
// encoding), one hash per record, a partition hash per distinct key when
// the table is written, and sorted runs when it outgrows half the task's
// memory.
func combineMap[K comparable, V, C any](ctx context.Context, tc *task.Context, s *shuffleDep, r *RDD[Pair[K, V]], mapPart int,
	agg Aggregator[V, C], rk rawKey[K], kc codec.Codec[K], cc codec.Codec[C], target Partitioner[K], mergeBytes func(a, b []byte) ([]byte, error)) error {
	// view makes a K of a table's key bytes, sharing them when K is a
	// string: for encoding, and for the hash partitioner, which reads
	// only the encoding; another partitioner is user code, which may keep
	// the key, so it gets a copy.
	// A key held by its encoding is decoded for a partitioner that is not
	// the hash partitioner: once per distinct key, when the table is
	// written.
	view := func(raw []byte) (K, error) {
		var k K
		switch {
		case rk.str:
			*(*string)(unsafe.Pointer(&k)) = unsafe.String(unsafe.SliceData(raw), len(raw))
		case rk.fixed > 0:
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&k)), rk.fixed), raw)
		case rk.word != nil:
			k = rk.fromWord(binary.LittleEndian.Uint64(raw))
		default:
			return kc.Decode(raw)
		}
		return k, nil
	}
	encodeKey := func(dst, raw []byte) []byte {
		k, _ := view(raw) // a raw key: no error
		return kc.Append(dst, k)
	}
	if rk.encoded() {
		encodeKey = keyBytes
	}
	var partOf func(raw, kb []byte) (int, error)
	if h, ok := target.(HashPartitioner[K]); ok {
		n := h.N
		partOf = func(_, kb []byte) (int, error) { return hashPart(kb, n), nil }
	} else {
		partOf = func(raw, kb []byte) (int, error) {
			k, err := view(raw)
			if err != nil {
				return 0, err
			}
			if rk.str {
				*(*string)(unsafe.Pointer(&k)) = string(raw)
			}
			p := target.Partition(k)
			if p < 0 || p >= s.parts {
				return 0, partitionRangeError(target, p, s.parts)
			}
			return p, nil
		}
	}
	create := func(v V) C { return cloneKey(agg.Create(v)) }
	t := newSpillTable(tc, int(s.sizeHint.Load()), memoryOf(tc)/2, cc, create, agg.MergeValue, encodeKey, partOf)
	defer t.close()
	var addErr error
	var err error
	if rk.str {
		err = r.iterate(ctx, tc, mapPart, func(p Pair[K, V]) bool {
			addErr = t.addString(*(*string)(unsafe.Pointer(&p.Key)), p.Value)
			return addErr == nil
		})
	} else if rk.fixed > 0 {
		// The key's bytes go through a scratch buffer: addString copies
		// them before it returns, and p.Key stays on the stack.
		kb := make([]byte, rk.fixed)
		err = r.iterate(ctx, tc, mapPart, func(p Pair[K, V]) bool {
			copy(kb, unsafe.Slice((*byte)(unsafe.Pointer(&p.Key)), rk.fixed))
			addErr = t.addString(unsafe.String(unsafe.SliceData(kb), len(kb)), p.Value)
			return addErr == nil
		})
	} else if rk.word != nil {
		err = r.iterate(ctx, tc, mapPart, func(p Pair[K, V]) bool {
			addErr = t.addWord(rk.word(&p.Key), p.Value)
			return addErr == nil
		})
	} else {
		var kb []byte
		err = r.iterate(ctx, tc, mapPart, func(p Pair[K, V]) bool {
			kb = kc.Append(kb[:0], p.Key)
			addErr = t.addString(unsafe.String(unsafe.SliceData(kb), len(kb)), p.Value)
			return addErr == nil
		})
	}
	if n := int64(t.t.n); n > s.sizeHint.Load() {
		s.sizeHint.Store(n)
	}
	if err == nil {
		err = addErr
	}
	if err == nil {
		err = t.done()
	}
	if err != nil {
		return err
	}
	if !t.spilled() {
		return writeMapOutput(ctx, tc, s, func(w task.ShuffleWriter) error { return t.write(w, s.parts) })
	}
	if err := t.dump(); err != nil {
		return err
	}
	it, err := t.so.Iter()
	if err != nil {
		return err
	}
	return writeMapOutput(ctx, tc, s, func(w task.ShuffleWriter) error { return writeSorted(it, w, mergeBytes) })
}

// emitCombined yields every key's combiner of a table keyed by canonical
// encodings (what partitioners hash, so grouping agrees with partitioning
// whatever K's equality says): in first-seen order when everything fit
// (deterministic, because input is read in a fixed order), else in
// key-byte order, merging the spilled runs with mergeC. A key is decoded
// from its encoding.
func emitCombined[K, X, C any](name string, t *spillTable[X, C], kc codec.Codec[K], mergeC func(C, C) C, yield func(Pair[K, C]) bool) error {
	if !t.spilled() {
		err := t.each(func(raw []byte, c *C) error {
			k, err := kc.Decode(raw)
			if err != nil {
				return fmt.Errorf("rdd: %s: %w", name, err)
			}
			if !yield(Pair[K, C]{k, *c}) {
				return errStop
			}
			return nil
		})
		if err == errStop {
			return nil
		}
		return err
	}
	if err := t.dump(); err != nil {
		return err
	}
	it, err := t.so.Iter()
	if err != nil {
		return err
	}
	return groupSorted(it, func(kf []byte, vfs func(func([]byte) bool)) (bool, error) {
		var acc C
		first := true
		var derr error
		vfs(func(vf []byte) bool {
			c, err := t.cc.Decode(vf)
			if err != nil {
				derr = err
				return false
			}
			if first {
				acc, first = c, false
			} else {
				acc = mergeC(acc, c)
			}
			return true
		})
		if derr != nil {
			return false, fmt.Errorf("rdd: %s: %w", name, derr)
		}
		k, err := kc.Decode(kf)
		if err != nil {
			return false, fmt.Errorf("rdd: %s: %w", name, err)
		}
		return yield(Pair[K, C]{k, acc}), nil
	})
}

// groupSorted calls f once per run of equal keys of a key-sorted stream,
// with the key and an iterator over the run's values. f returns false to
// stop.
func groupSorted(it *spill.Iterator, f func(key []byte, vals func(func([]byte) bool)) (bool, error)) error {
	ok := it.Next()
	var key []byte
	for ok {
		key = append(key[:0], it.Key()...)
		done := false
		vals := func(y func([]byte) bool) {
			for !done {
				if !y(it.Value()) {
					break
				}
				ok = it.Next()
				if !ok || string(it.Key()) != string(key) {
					done = true
				}
			}
		}
		more, err := f(key, vals)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		// Skip what f did not read of this run.
		for !done {
			ok = it.Next()
			if !ok || string(it.Key()) != string(key) {
				done = true
			}
		}
	}
	return it.Err()
}

// plainShuffle makes the map side of a shuffle without map-side combining:
// records keyed by the canonical encoding of K (see codec.KeyFor),
// partitioned by p. With exactKeys the record keeps the key's exact
// encoding, for an operation that groups nothing and returns keys as they
// were (PartitionBy): -0 stays -0, though it goes where +0 goes.
func plainShuffle[K comparable, V any](r *RDD[Pair[K, V]], p Partitioner[K], exactKeys bool) *shuffleDep {
	s := &shuffleDep{parent: r.n, parts: p.NumPartitions(), partitioner: p}
	partOf := partitionFunc(p)
	kc, differs := codec.KeyFor[K]()
	ec, vc := codec.For[K](), codec.For[V]()
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		var hb []byte
		return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, p Pair[K, V]) ([]byte, []byte, int) {
			if exactKeys && differs {
				hb = kc.Append(hb[:0], p.Key)
				return ec.Append(kb, p.Key), vc.Append(vb, p.Value), partOf(p.Key, hb)
			}
			kb = kc.Append(kb, p.Key)
			return kb, vc.Append(vb, p.Value), partOf(p.Key, kb)
		})
	}
	return s
}

// GroupByKey groups the values of each key into one slice. The values of a
// key are kept in memory together; the keys of a partition are sorted on
// disk when they do not fit. Prefer ReduceByKey or AggregateByKey when the
// values can be combined. An r already laid out by the output's
// partitioner is grouped in place, without a shuffle.
func GroupByKey[K comparable, V any](r *RDD[Pair[K, V]], opts ...Option) *RDD[Pair[K, []V]] {
	target, _, partsErr := targetPartitioner[K]("GroupByKey", opts, r.n)
	d, src := sideOf(r, target)
	kc, vc := codec.For[K](), codec.For[V]()
	out := newRDD("GroupByKey", target.NumPartitions(), func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, []V]) bool) error {
		return sortedInput(ctx, tc, part, func(it *spill.Iterator) error {
			return groupSorted(it, func(kf []byte, vfs func(func([]byte) bool)) (bool, error) {
				k, err := kc.Decode(kf)
				if err != nil {
					return false, err
				}
				var vs []V
				var derr error
				vfs(func(vf []byte) bool {
					v, err := vc.Decode(vf)
					if err != nil {
						derr = err
						return false
					}
					vs = append(vs, v)
					return true
				})
				if derr != nil {
					return false, derr
				}
				return yield(Pair[K, []V]{k, vs}), nil
			})
		}, src)
	}, d)
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = newPartInfo(target)
	return out.fail(partsErr)
}

// PartitionBy hash-partitions a pair RDD into n partitions by key
// (PartitionWith and a HashPartitioner); records keep their input order
// within a partition, and keys come back exactly as they were (a -0 key
// stays -0, though it goes where +0 goes). n must be at least 1. An r
// already hash-partitioned into n partitions is returned as it is.
func PartitionBy[K comparable, V any](r *RDD[Pair[K, V]], n int) *RDD[Pair[K, V]] {
	if n < 1 {
		err := partitionCountError(fmt.Sprintf("PartitionBy(%d)", n), callSite(1))
		return partitionBy("PartitionBy", r, HashPartitioner[K]{1}).fail(err)
	}
	return partitionBy("PartitionBy", r, Partitioner[K](HashPartitioner[K]{n}))
}

func partitionBy[K comparable, V any](name string, r *RDD[Pair[K, V]], p Partitioner[K]) *RDD[Pair[K, V]] {
	info := newPartInfo(p)
	if samePartitioner(r.n.partitioner, info) {
		return r
	}
	s := plainShuffle(r, p, true)
	kc, vc := codec.For[K](), codec.For[V]()
	out := newRDD(name, s.parts, func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, V]) bool) error {
		return eachDecoded(ctx, tc, s.id, part, yield, func(kf, vf []byte) (Pair[K, V], error) {
			k, err := kc.Decode(kf)
			if err != nil {
				return Pair[K, V]{}, err
			}
			v, err := vc.Decode(vf)
			return Pair[K, V]{k, v}, err
		})
	}, &dep{parent: r.n, shuffle: s})
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = info
	return out
}

// Distinct returns each distinct element of r once.
func Distinct[T comparable](r *RDD[T], opts ...Option) *RDD[T] {
	pairs := Map(r, func(t T) Pair[T, bool] { return Pair[T, bool]{t, true} })
	first := func(a, _ bool) bool { return a }
	out := Keys(combineByKey("Distinct", pairs, Aggregator[bool, bool]{
		Create: func(v bool) bool { return v }, MergeValue: first, MergeCombiners: first,
	}, opts))
	out.n.name = "Distinct"
	return out
}

// Join returns, for every key in both a and b, every pair of a value from a
// and a value from b (an inner join). The values of one key from a are held
// in memory together; keys are sorted on disk when they do not fit. A side
// already laid out by the output's partitioner is read without a shuffle,
// so a join of co-partitioned RDDs is narrow.
func Join[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, Pair[V, W]]] {
	target, _, partsErr := targetPartitioner[K]("Join", opts, a.n, b.n)
	da, srcA := sideOf(a, target)
	db, srcB := sideOf(b, target)
	kc, vc, wc := codec.For[K](), codec.For[V](), codec.For[W]()
	out := newRDD("Join", target.NumPartitions(), func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, Pair[V, W]]) bool) error {
		return sortedInput(ctx, tc, part, func(it *spill.Iterator) error {
			var (
				curKey []byte
				k      K
				left   []V
			)
			for it.Next() {
				tkey := it.Key()
				kf, side := tkey[:len(tkey)-1], tkey[len(tkey)-1]
				if string(kf) != string(curKey) {
					curKey = append(curKey[:0], kf...)
					left = left[:0]
					var err error
					if k, err = kc.Decode(kf); err != nil {
						return err
					}
				}
				if side == 0 {
					v, err := vc.Decode(it.Value())
					if err != nil {
						return err
					}
					left = append(left, v)
					continue
				}
				if len(left) == 0 {
					continue
				}
				w, err := wc.Decode(it.Value())
				if err != nil {
					return err
				}
				for _, v := range left {
					if !yield(Pair[K, Pair[V, W]]{k, Pair[V, W]{v, w}}) {
						return nil
					}
				}
			}
			return it.Err()
		}, srcA, srcB)
	}, da, db)
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = newPartInfo(target)
	return out.fail(partsErr)
}

// Repartition spreads the elements of r over n partitions round-robin, as
// Spark's repartition does, balancing them whatever their values: each
// input partition deals its elements out in turn, starting at a
// pseudo-random output partition fixed by its index. n must be at least 1.
// Where an element goes depends on its position in its input partition,
// so the shuffle is marked indeterminate: if any of its map tasks must run
// again, the scheduler reruns all of them and everything downstream.
func Repartition[T any](r *RDD[T], n int) *RDD[T] {
	var partsErr error
	if n < 1 {
		partsErr = partitionCountError(fmt.Sprintf("Repartition(%d)", n), callSite(1))
		n = 1
	}
	s := &shuffleDep{parent: r.n, parts: n, indeterminate: true}
	ec := r.codec
	s.runMap = func(ctx context.Context, tc *task.Context, mapPart int) error {
		next := roundRobinStart(mapPart, n)
		return plainMap(ctx, tc, s, r, mapPart, func(kb, vb []byte, t T) ([]byte, []byte, int) {
			p := next
			next = (next + 1) % n
			// The key stays empty: a record is the whole element, framed.
			return kb, ec.put(vb, t), p
		})
	}
	return newRDD("Repartition", n, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		return eachDecoded(ctx, tc, s.id, part, yield, func(_, vf []byte) (T, error) {
			t, rest, err := ec.get(vf)
			if err == nil && len(rest) > 0 {
				err = fmt.Errorf("rdd: Repartition: %d bytes after the element", len(rest))
			}
			return t, err
		})
	}, &dep{parent: r.n, shuffle: s}).fail(partsErr)
}

// roundRobinStart is the reduce partition where map partition mapPart of a
// Repartition into n partitions deals its first element. Spark starts at
// new Random(byteswap32(mapPart)).nextInt(n): a position that looks random,
// so that small input partitions do not pile onto the same reduce
// partitions (starting map partition i at i % n, 10 partitions of 10 into
// 20 gave sizes 1, 2, ..., 10, ..., 1, 0), but is fixed by the map
// partition, so that every attempt deals the same way. This is the same
// idea with SplitMix64's finaliser as the hash; it depends on nothing but
// its arguments (no per-process seed).
func roundRobinStart(mapPart, n int) int {
	x := uint64(mapPart) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}
