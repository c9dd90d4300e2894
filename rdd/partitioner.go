package rdd

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// Partitioner says which partition each key of a pair RDD goes to, as
// Spark's Partitioner does. Partition must return a number in
// [0, NumPartitions()) and the same number for a key in every process and
// every attempt: it runs in map tasks on executors, which rebuild it from
// the Func that builds the lineage. A key it sends elsewhere fails the
// task.
//
// By-key operations record the partitioner that laid out their output,
// and an operation whose input is already laid out by an equal
// partitioner reads it without a shuffle. Two partitioners are equal when
// the first has a method Equal(Partitioner[K]) bool that says so; else
// when they are the same comparable value (==) of the same type, so a
// pointer is equal only to itself and a struct only to one with equal
// fields; a value that cannot be compared (one holding a slice, map or
// func) is equal to nothing. Partitioners with different partition counts
// are never equal.
type Partitioner[K any] interface {
	NumPartitions() int
	Partition(key K) int
}

// HashPartitioner sends a key to partition hash(key) mod N, where the hash
// is a fixed function of the key's canonical encoding (see the README's
// "Element types"): the partitioner of by-key operations unless one is
// given. N must be at least 1. Two HashPartitioners with the same N are
// equal.
type HashPartitioner[K any] struct{ N int }

// NumPartitions returns h.N.
func (h HashPartitioner[K]) NumPartitions() int { return h.N }

// Partition returns the partition of k.
func (h HashPartitioner[K]) Partition(k K) int {
	kc, _ := codec.KeyFor[K]()
	return hashPart(kc.Append(nil, k), h.N)
}

func (h HashPartitioner[K]) String() string { return fmt.Sprintf("hash(%d)", h.N) }

// RangePartitioner sends keys to partitions by ranges: partition i holds
// the keys above bound i-1 and no greater than bound i, so its keys sort
// before those of partition i+1. SortByKey makes one whose bounds come
// from a sample that the first action takes; NewRangePartitioner and
// NewRangePartitionerFunc make one from bounds the program knows.
//
// A RangePartitioner is equal to itself, and one made by
// NewRangePartitioner to another made by NewRangePartitioner with the
// same bounds; one with a compare function, or from a sample, to nothing
// else (functions cannot be compared).
type RangePartitioner[K any] struct {
	bounds  []K
	compare func(a, b K) int
	natural bool  // made by NewRangePartitioner: compare is cmp.Compare
	order   int8  // a sort's: 1 when compare is cmp.Compare, -1 when its reverse, 0 for another
	sampled bool  // bounds installed by a sort's shuffle state
	ready   bool  // sampled bounds installed
	parts   int   // for a sampled partitioner, fixed before its bounds are known
	err     error // a construction error, reported by the operation using it
}

// NewRangePartitioner returns the RangePartitioner with bounds, which must
// be strictly ascending, making len(bounds)+1 partitions. Bounds out of
// order make the operation using the partitioner fail at its first action.
func NewRangePartitioner[K cmp.Ordered](bounds ...K) *RangePartitioner[K] {
	r := NewRangePartitionerFunc(cmp.Compare[K], bounds...)
	r.natural = true
	return r
}

// NewRangePartitionerFunc is NewRangePartitioner for keys ordered by
// compare, which returns a negative number, zero or a positive number as
// a sorts before, with or after b. bounds must ascend strictly by compare.
func NewRangePartitionerFunc[K any](compare func(a, b K) int, bounds ...K) *RangePartitioner[K] {
	r := &RangePartitioner[K]{bounds: append([]K(nil), bounds...), compare: compare, parts: len(bounds) + 1}
	for i := 1; i < len(bounds); i++ {
		if compare(bounds[i-1], bounds[i]) >= 0 {
			r.err = fmt.Errorf("rdd: range bound %d (%v) is not above the one before (%v)", i, bounds[i], bounds[i-1])
			break
		}
	}
	return r
}

// NumPartitions returns the number of partitions.
func (r *RangePartitioner[K]) NumPartitions() int { return r.parts }

// Partition returns the partition of k: the first whose bound is not
// below k.
func (r *RangePartitioner[K]) Partition(k K) int {
	if r.sampled && !r.ready {
		// A bug, never a user's mistake: the driver installs the bounds
		// before any task runs.
		panic("rdd: a range partitioner was used before its bounds were sampled")
	}
	return sort.Search(len(r.bounds), func(i int) bool { return r.compare(k, r.bounds[i]) <= 0 })
}

// Equal reports whether o is r, or both come from NewRangePartitioner with
// equal bounds.
func (r *RangePartitioner[K]) Equal(o Partitioner[K]) bool {
	q, ok := o.(*RangePartitioner[K])
	switch {
	case !ok:
		return false
	case q == r:
		return true
	case !r.natural || !q.natural || len(r.bounds) != len(q.bounds) || r.err != nil || q.err != nil:
		return false
	}
	for i := range r.bounds {
		if r.compare(r.bounds[i], q.bounds[i]) != 0 {
			return false
		}
	}
	return true
}

func (r *RangePartitioner[K]) String() string { return fmt.Sprintf("range(%d)", r.parts) }

// WithPartitioner makes a by-key operation (ReduceByKey, GroupByKey,
// Join, CoGroup, ...) lay out its output by p instead of hashing keys into
// the default number of partitions. p's key type must be the operation's;
// it cannot be given with Partitions.
func WithPartitioner[K any](p Partitioner[K]) Option {
	site := callSite(1)
	return func(o *options) { o.partitioner, o.partitionerSite = p, site }
}

// PartitionerOf returns the partitioner that laid out r's partitions by
// key, if r's layout comes from one: after PartitionBy, PartitionWith,
// SortByKey, a by-key operation, and the operations that keep keys where
// they are (MapValues, FlatMapValues, Filter, Sample, ...). Map and most
// other operations drop it, as in Spark. A SortByKey's RangePartitioner
// learns its bounds when the first action on the lineage samples them;
// its Partition panics before that.
func PartitionerOf[K, V any](r *RDD[Pair[K, V]]) (Partitioner[K], bool) {
	if r.n.partitioner == nil {
		return nil, false
	}
	p, ok := r.n.partitioner.p.(Partitioner[K])
	return p, ok
}

// partInfo is the untyped record of a node's partitioner.
type partInfo struct {
	p    any // a Partitioner[K]
	same func(other *partInfo) bool
}

func newPartInfo[K any](p Partitioner[K]) *partInfo {
	return &partInfo{p: p, same: func(o *partInfo) bool { return o != nil && equalPartitioners(p, o.p) }}
}

// keepPartitioner records that out has the layout of parent: for
// operations that keep every key in its partition.
func keepPartitioner(out, parent *node) { out.partitioner = parent.partitioner }

// samePartitioner reports whether a node laid out by a has the layout that
// b would give, so that reading it needs no shuffle.
func samePartitioner(a, b *partInfo) bool { return a != nil && b != nil && a.same(b) }

func equalPartitioners[K any](a Partitioner[K], o any) bool {
	b, ok := o.(Partitioner[K])
	if !ok || a.NumPartitions() != b.NumPartitions() {
		return false
	}
	if e, ok := a.(interface{ Equal(Partitioner[K]) bool }); ok {
		return e.Equal(b)
	}
	return comparableEqual(a, b)
}

// comparableEqual is a == b for values of one comparable type; false for
// others, and for a comparable type holding an incomparable value (an
// interface field holding a slice), where == would panic.
func comparableEqual(a, b any) (eq bool) {
	ta := reflect.TypeOf(a)
	if ta == nil || ta != reflect.TypeOf(b) || !ta.Comparable() {
		return false
	}
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// checkPartitioner reports a partitioner that cannot lay out anything.
func checkPartitioner[K any](p Partitioner[K]) error {
	if p == nil {
		return fmt.Errorf("a nil Partitioner")
	}
	if r, ok := p.(*RangePartitioner[K]); ok && r.err != nil {
		return r.err
	}
	if n := p.NumPartitions(); n < 1 {
		return fmt.Errorf("partitioner %T has %d partitions; it needs at least 1", p, n)
	}
	return nil
}

// targetPartitioner picks the partitioner of by-key operation op's
// output, as Spark's defaultPartitioner does: the one given
// (WithPartitioner, or a HashPartitioner for Partitions(n)); else the
// partitioner of the parent with the most partitions that has one, unless
// its count is an order of magnitude below the largest parent's; else a
// HashPartitioner into shuffleParts' count. A mistake in the options is
// returned with a usable partitioner, so that building goes on.
func targetPartitioner[K any](op string, opts []Option, parents ...*node) (Partitioner[K], options, error) {
	o, err := buildOptions(op, opts)
	def, _ := shuffleParts(op, nil, parents...)
	if o.partitioner != nil {
		p, ok := o.partitioner.(Partitioner[K])
		switch {
		case !ok:
			return HashPartitioner[K]{def}, o, fmt.Errorf("rdd: WithPartitioner(%T) for %s at %s: %s has keys of type %v; give a Partitioner[%v]",
				o.partitioner, op, o.partitionerSite, op, reflect.TypeFor[K](), reflect.TypeFor[K]())
		case o.parts > 0:
			return p, o, fmt.Errorf("rdd: %s at %s: give Partitions or WithPartitioner, not both", op, o.partitionerSite)
		}
		if perr := checkPartitioner(p); perr != nil {
			return HashPartitioner[K]{def}, o, fmt.Errorf("rdd: WithPartitioner for %s at %s: %w", op, o.partitionerSite, perr)
		}
		return p, o, err
	}
	if o.parts > 0 {
		return HashPartitioner[K]{o.parts}, o, err
	}
	var best Partitioner[K]
	most := 0
	for _, n := range parents {
		most = max(most, n.parts)
		if n.partitioner == nil {
			continue
		}
		if p, ok := n.partitioner.p.(Partitioner[K]); ok && (best == nil || p.NumPartitions() > best.NumPartitions()) {
			best = p
		}
	}
	if best != nil && (best.NumPartitions()*10 > most || def <= best.NumPartitions()) {
		return best, o, err
	}
	return HashPartitioner[K]{def}, o, err
}

// partitionFunc returns where p sends a key, given the key and its
// canonical encoding (codec.KeyFor), which a HashPartitioner hashes
// without encoding the key again.
func partitionFunc[K any](p Partitioner[K]) func(k K, kb []byte) int {
	if h, ok := p.(HashPartitioner[K]); ok {
		n := h.N
		return func(_ K, kb []byte) int { return hashPart(kb, n) }
	}
	return func(k K, _ []byte) int { return p.Partition(k) }
}

// partitionRangeError is a map task's error for a partitioner that sent a
// key outside its partitions.
func partitionRangeError(p any, part, n int) error {
	return fmt.Errorf("rdd: partitioner %T sent a key to partition %d; it has partitions 0 to %d", p, part, n-1)
}

// partitionOfKey reports which partition of r holds the records of key
// when r's layout comes from a partitioner (ok is false when it does not),
// so that an action (Lookup) can compute that partition alone. It
// prepares r's shuffles first (a SortByKey's sample), so it may run jobs.
func partitionOfKey[K, V any](ctx context.Context, run Runner, r *RDD[Pair[K, V]], key K) (part int, ok bool, err error) {
	p, ok := PartitionerOf(r)
	if !ok {
		return 0, false, nil
	}
	g, err := r.graph()
	if err != nil {
		return 0, false, err
	}
	if err := g.prepare(ctx, run, r.n); err != nil {
		return 0, false, err
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("rdd: partitioner %T panicked on key %v: %v", p, key, v)
		}
	}()
	part = p.Partition(key)
	if part < 0 || part >= r.n.parts {
		return 0, false, partitionRangeError(p, part, r.n.parts)
	}
	return part, true, nil
}

// PartitionWith lays out a pair RDD by p: each record goes to partition
// p.Partition(key), keeping its input order within a partition, and keys
// come back exactly as they were. An r already laid out by a partitioner
// equal to p is returned as it is, without a shuffle, as Spark's
// partitionBy does.
func PartitionWith[K comparable, V any](r *RDD[Pair[K, V]], p Partitioner[K]) *RDD[Pair[K, V]] {
	if err := checkPartitioner(p); err != nil {
		return partitionBy("PartitionWith", r, HashPartitioner[K]{1}).fail(fmt.Errorf("rdd: PartitionWith at %s: %w", callSite(1), err))
	}
	return partitionBy("PartitionWith", r, p)
}

// sideOf is one parent of a by-key operation laid out by p: read narrowly
// when the parent is already laid out by an equal partitioner, else
// through a shuffle that p partitions. Records come with their keys'
// canonical encoding.
func sideOf[K comparable, V any](r *RDD[Pair[K, V]], p Partitioner[K]) (*dep, source) {
	if samePartitioner(r.n.partitioner, newPartInfo(p)) {
		kc, _ := codec.KeyFor[K]()
		vc := codec.For[V]()
		return narrow(r.n), func(ctx context.Context, tc *task.Context, part int, f func(k, v []byte) error) error {
			var kb, vb []byte
			var ferr error
			err := r.iterate(ctx, tc, part, func(p Pair[K, V]) bool {
				kb, vb = kc.Append(kb[:0], p.Key), vc.Append(vb[:0], p.Value)
				ferr = f(kb, vb)
				return ferr == nil
			})
			if ferr != nil {
				return ferr
			}
			return err
		}
	}
	s := plainShuffle(r, p, false)
	return &dep{parent: r.n, shuffle: s}, fromShuffle(s)
}

// source feeds the records of one partition, as (key, value) frames, to f.
type source func(ctx context.Context, tc *task.Context, part int, f func(k, v []byte) error) error

// fromShuffle reads a reduce partition of s. The shuffle's id is read at
// run time: it is assigned when the graph is built.
func fromShuffle(s *shuffleDep) source {
	return func(ctx context.Context, tc *task.Context, part int, f func(k, v []byte) error) error {
		return eachRecord(ctx, tc, s.id, part, f)
	}
}
