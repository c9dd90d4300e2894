package rdd

import (
	"context"
	"fmt"
	"iter"
	"reflect"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"

	"github.com/sluicehq/sluice/internal/task"
)

// Opt is a value that may be missing: the side of an outer join that had
// no value for a key comes as the zero Opt, whose Ok is false. It stands
// for Scala's Option in Spark's outer joins.
type Opt[T any] struct {
	Value T
	Ok    bool
}

// Some returns the Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{Value: v, Ok: true} }

// KeyBy returns the pairs of f(t) and t for every element t of r.
func KeyBy[T, K any](r *RDD[T], f func(T) K) *RDD[Pair[K, T]] {
	out := Map(r, func(t T) Pair[K, T] { return Pair[K, T]{f(t), t} })
	out.n.name = "KeyBy"
	return out
}

// FlatMapValues calls f on the value of every pair; the result holds a
// pair of the key and every value f emits, keeping keys (and so
// partitioning) as they are.
func FlatMapValues[K, V, W any](r *RDD[Pair[K, V]], f func(v V, emit func(W))) *RDD[Pair[K, W]] {
	out := FlatMap(r, func(p Pair[K, V], emit func(Pair[K, W])) {
		f(p.Value, func(w W) { emit(Pair[K, W]{p.Key, w}) })
	})
	out.n.name = "FlatMapValues"
	keepPartitioner(out.n, r.n)
	return out
}

// Glom returns one element per partition of r: a slice of the
// partition's elements, empty (nil) for an empty partition. A partition's
// elements are held in memory together.
func Glom[T any](r *RDD[T]) *RDD[[]T] {
	out := MapPartitions(r, func(_ int, in iter.Seq[T]) iter.Seq[[]T] {
		return func(yield func([]T) bool) {
			var all []T
			for t := range in {
				all = append(all, t)
			}
			yield(all)
		}
	})
	out.n.name = "Glom"
	return out
}

// GroupBy groups the elements of r by the key f gives them, as
// GroupByKey does: the elements of one key are held in memory together.
func GroupBy[T any, K comparable](r *RDD[T], f func(T) K, opts ...Option) *RDD[Pair[K, []T]] {
	out := GroupByKey(KeyBy(r, f), opts...)
	out.n.name = "GroupBy"
	return out
}

// FoldByKey merges the values of each key with f, starting from zero, as
// Spark's foldByKey does: every key starts from its own copy of zero in
// every map task (see AggregateByKey), so zero must be an identity of f,
// and f may modify its first argument and return it.
func FoldByKey[K comparable, V any](r *RDD[Pair[K, V]], zero V, f func(V, V) V, opts ...Option) *RDD[Pair[K, V]] {
	fresh, err := zeroCopier(zero)
	out := combineByKey("FoldByKey", r, Aggregator[V, V]{
		Create:         func(v V) V { return f(fresh(), v) },
		MergeValue:     f,
		MergeCombiners: f,
	}, opts)
	if err != nil {
		out.fail(fmt.Errorf("rdd: FoldByKey at %s: %w", callSite(1), err))
	}
	return out
}

// CoGroup returns, for every key in a or b, the values of that key in a
// and those in b (either may be empty, never both). The values of one key
// are held in memory together; keys are sorted on disk when they do not
// fit. A side already laid out by the output's partitioner is read
// without a shuffle, so a CoGroup of co-partitioned RDDs is narrow.
func CoGroup[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, Pair[[]V, []W]]] {
	return coGroup("CoGroup", a, b, opts)
}

func coGroup[K comparable, V, W any](name string, a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts []Option) *RDD[Pair[K, Pair[[]V, []W]]] {
	target, _, partsErr := targetPartitioner[K](name, opts, a.n, b.n)
	da, srcA := sideOf(a, target)
	db, srcB := sideOf(b, target)
	kc, vc, wc := codec.For[K](), codec.For[V](), codec.For[W]()
	out := newRDD(name, target.NumPartitions(), func(ctx context.Context, tc *task.Context, part int, yield func(Pair[K, Pair[[]V, []W]]) bool) error {
		return sortedInput(ctx, tc, part, func(it *spill.Iterator) error {
			var (
				curKey []byte
				k      K
				vs     []V
				ws     []W
				have   bool
			)
			flush := func() bool {
				if !have {
					return true
				}
				have = false
				return yield(Pair[K, Pair[[]V, []W]]{k, Pair[[]V, []W]{vs, ws}})
			}
			for it.Next() {
				tkey := it.Key()
				kf, side := tkey[:len(tkey)-1], tkey[len(tkey)-1]
				if !have || string(kf) != string(curKey) {
					if !flush() {
						return nil
					}
					curKey = append(curKey[:0], kf...)
					var err error
					if k, err = kc.Decode(kf); err != nil {
						return err
					}
					vs, ws, have = nil, nil, true
				}
				if side == 0 {
					v, err := vc.Decode(it.Value())
					if err != nil {
						return err
					}
					vs = append(vs, v)
					continue
				}
				w, err := wc.Decode(it.Value())
				if err != nil {
					return err
				}
				ws = append(ws, w)
			}
			if err := it.Err(); err != nil {
				return err
			}
			flush()
			return nil
		}, srcA, srcB)
	}, da, db)
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = newPartInfo(target)
	return out.fail(partsErr)
}

// LeftOuterJoin returns, for every key of a, every pair of a value from a
// and a value from b; a value of a whose key b lacks comes once, with a
// missing (not Ok) Opt. The values of one key are held in memory together.
func LeftOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, Pair[V, Opt[W]]]] {
	g := coGroup("LeftOuterJoin", a, b, opts)
	out := FlatMap(g, func(p Pair[K, Pair[[]V, []W]], emit func(Pair[K, Pair[V, Opt[W]]])) {
		for _, v := range p.Value.Key {
			if len(p.Value.Value) == 0 {
				emit(Pair[K, Pair[V, Opt[W]]]{p.Key, Pair[V, Opt[W]]{v, Opt[W]{}}})
			}
			for _, w := range p.Value.Value {
				emit(Pair[K, Pair[V, Opt[W]]]{p.Key, Pair[V, Opt[W]]{v, Some(w)}})
			}
		}
	})
	out.n.name = "LeftOuterJoin"
	keepPartitioner(out.n, g.n)
	return out
}

// RightOuterJoin returns, for every key of b, every pair of a value from a
// and a value from b; a value of b whose key a lacks comes once, with a
// missing (not Ok) Opt. The values of one key are held in memory together.
func RightOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, Pair[Opt[V], W]]] {
	g := coGroup("RightOuterJoin", a, b, opts)
	out := FlatMap(g, func(p Pair[K, Pair[[]V, []W]], emit func(Pair[K, Pair[Opt[V], W]])) {
		for _, w := range p.Value.Value {
			if len(p.Value.Key) == 0 {
				emit(Pair[K, Pair[Opt[V], W]]{p.Key, Pair[Opt[V], W]{Opt[V]{}, w}})
			}
			for _, v := range p.Value.Key {
				emit(Pair[K, Pair[Opt[V], W]]{p.Key, Pair[Opt[V], W]{Some(v), w}})
			}
		}
	})
	out.n.name = "RightOuterJoin"
	keepPartitioner(out.n, g.n)
	return out
}

// FullOuterJoin returns, for every key of a or b, every pair of a value
// from a and a value from b; a value whose key the other side lacks comes
// once, paired with a missing (not Ok) Opt. The values of one key are held
// in memory together.
func FullOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, Pair[Opt[V], Opt[W]]]] {
	g := coGroup("FullOuterJoin", a, b, opts)
	out := FlatMap(g, func(p Pair[K, Pair[[]V, []W]], emit func(Pair[K, Pair[Opt[V], Opt[W]]])) {
		vs, ws := p.Value.Key, p.Value.Value
		switch {
		case len(ws) == 0:
			for _, v := range vs {
				emit(Pair[K, Pair[Opt[V], Opt[W]]]{p.Key, Pair[Opt[V], Opt[W]]{Some(v), Opt[W]{}}})
			}
		case len(vs) == 0:
			for _, w := range ws {
				emit(Pair[K, Pair[Opt[V], Opt[W]]]{p.Key, Pair[Opt[V], Opt[W]]{Opt[V]{}, Some(w)}})
			}
		default:
			for _, v := range vs {
				for _, w := range ws {
					emit(Pair[K, Pair[Opt[V], Opt[W]]]{p.Key, Pair[Opt[V], Opt[W]]{Some(v), Some(w)}})
				}
			}
		}
	})
	out.n.name = "FullOuterJoin"
	keepPartitioner(out.n, g.n)
	return out
}

// SubtractByKey returns the pairs of a whose key is not in b, duplicates
// and all. Only b's keys cross the shuffle, not its values.
func SubtractByKey[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], opts ...Option) *RDD[Pair[K, V]] {
	bk := MapValues(b, func(W) bool { return true })
	g := coGroup("SubtractByKey", a, bk, opts)
	out := FlatMap(g, func(p Pair[K, Pair[[]V, []bool]], emit func(Pair[K, V])) {
		if len(p.Value.Value) > 0 {
			return
		}
		for _, v := range p.Value.Key {
			emit(Pair[K, V]{p.Key, v})
		}
	})
	out.n.name = "SubtractByKey"
	keepPartitioner(out.n, g.n)
	return out
}

// Subtract returns the elements of a that are not in b, duplicates and
// all, as Spark's subtract does. Elements are compared by their encoding,
// as by-key operations compare keys.
func Subtract[T comparable](a, b *RDD[T], opts ...Option) *RDD[T] {
	ka := Map(a, func(t T) Pair[T, bool] { return Pair[T, bool]{t, true} })
	kb := Map(b, func(t T) Pair[T, bool] { return Pair[T, bool]{t, true} })
	g := coGroup("Subtract", ka, kb, opts)
	out := FlatMap(g, func(p Pair[T, Pair[[]bool, []bool]], emit func(T)) {
		if len(p.Value.Value) > 0 {
			return
		}
		for range p.Value.Key {
			emit(p.Key)
		}
	})
	out.n.name = "Subtract"
	return out
}

// Intersection returns each element in both a and b once, as Spark's
// intersection does. Elements are compared by their encoding, as by-key
// operations compare keys.
func Intersection[T comparable](a, b *RDD[T], opts ...Option) *RDD[T] {
	ka := Map(a, func(t T) Pair[T, bool] { return Pair[T, bool]{t, true} })
	kb := Map(b, func(t T) Pair[T, bool] { return Pair[T, bool]{t, true} })
	g := coGroup("Intersection", ka, kb, opts)
	out := FlatMap(g, func(p Pair[T, Pair[[]bool, []bool]], emit func(T)) {
		if len(p.Value.Key) > 0 && len(p.Value.Value) > 0 {
			emit(p.Key)
		}
	})
	out.n.name = "Intersection"
	return out
}

// Triple holds three values: the value type of CoGroup3.
type Triple[A, B, C any] struct {
	First  A
	Second B
	Third  C
}

// CoGroup3 returns, for every key in a, b or c, the values of that key in
// each (any may be empty, never all three), as Spark's three-way cogroup
// does. The values of one key are held in memory together; keys are
// sorted on disk when they do not fit. A side already laid out by the
// output's partitioner is read without a shuffle.
func CoGroup3[K comparable, V, W, X any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], c *RDD[Pair[K, X]], opts ...Option) *RDD[Pair[K, Triple[[]V, []W, []X]]] {
	type out3 = Pair[K, Triple[[]V, []W, []X]]
	target, _, partsErr := targetPartitioner[K]("CoGroup3", opts, a.n, b.n, c.n)
	da, srcA := sideOf(a, target)
	db, srcB := sideOf(b, target)
	dc, srcC := sideOf(c, target)
	kc, vc, wc, xc := codec.For[K](), codec.For[V](), codec.For[W](), codec.For[X]()
	out := newRDD("CoGroup3", target.NumPartitions(), func(ctx context.Context, tc *task.Context, part int, yield func(out3) bool) error {
		return sortedInput(ctx, tc, part, func(it *spill.Iterator) error {
			var (
				curKey []byte
				cur    out3
				have   bool
			)
			for it.Next() {
				tkey := it.Key()
				kf, side := tkey[:len(tkey)-1], tkey[len(tkey)-1]
				if !have || string(kf) != string(curKey) {
					if have && !yield(cur) {
						return nil
					}
					curKey = append(curKey[:0], kf...)
					k, err := kc.Decode(kf)
					if err != nil {
						return err
					}
					cur, have = out3{Key: k}, true
				}
				var err error
				switch side {
				case 0:
					var v V
					v, err = vc.Decode(it.Value())
					cur.Value.First = append(cur.Value.First, v)
				case 1:
					var w W
					w, err = wc.Decode(it.Value())
					cur.Value.Second = append(cur.Value.Second, w)
				default:
					var x X
					x, err = xc.Decode(it.Value())
					cur.Value.Third = append(cur.Value.Third, x)
				}
				if err != nil {
					return err
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
			if have {
				yield(cur)
			}
			return nil
		}, srcA, srcB, srcC)
	}, da, db, dc)
	out.n.key = reflect.TypeFor[K]()
	out.n.partitioner = newPartInfo(target)
	return out.fail(partsErr)
}
