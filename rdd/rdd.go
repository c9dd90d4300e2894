package rdd

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/task"
)

// RDD is a typed, lazily evaluated, partitioned dataset. Transformations
// build new RDDs; actions such as Collect or SaveAsTextFile run the lineage
// through a Runner.
type RDD[T any] struct {
	n       *node
	compute func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error
	codec   *elemCodec[T]

	// inv is set on the RDD that Func.Invoke returns: it names how every
	// process can rebuild this lineage.
	inv *task.Invocation
	// g is the graph built from this RDD at its first action.
	g     *graph
	gOnce sync.Once
	gErr  error
}

// node is the untyped part of an RDD that the scheduler sees.
type node struct {
	name          string
	parts         int
	deps          []*dep
	aux           []*node // nodes the driver runs jobs on for preparation (samples)
	err           error   // a construction error, reported by the first action
	indeterminate bool    // output order depends on input order
	checkpoint    string  // where Checkpoint was called, when it was: the driver writes one
	// rt is the storage level and checkpoint the driver decided on at run
	// time (persist.go); executors take it from the driver.
	rt   atomic.Pointer[nodeState]
	plan string // what a source read when planned (file sizes and times), part of the graph's digest
	// inputBytes is the size of the input this node's partitions read
	// before any shuffle, when known (files); -1 when not.
	inputBytes int64
	self       anyRDD

	elem reflect.Type // the element type, which must survive encoding
	key  reflect.Type // for a by-key operation, the key type it groups by
	// partitioner is what laid out this node's partitions by key (see
	// Partitioner), nil when nothing is known.
	partitioner *partInfo
	// prep, when set, is a preparation without a shuffle (ZipWithIndex's
	// partition counts): a shuffleDep with no map side whose prepare runs
	// on the driver before a job reads the node and whose state travels
	// with tasks as a shuffle's does, under its own id.
	prep *shuffleDep
	site sitePCs // where the user's code made the node

	id int // assigned when a Graph is built
}

// dep is an edge to a parent. A nil shuffle means a narrow dependency that
// the child computes in the same task by calling the parent's iterator.
type dep struct {
	parent  *node
	shuffle *shuffleDep
}

// anyRDD is what the task runner needs of a typed RDD.
type anyRDD interface {
	base() *node
	runResult(ctx context.Context, tc *task.Context, part int, a task.Action) ([]byte, error)
	checkpointPart(ctx context.Context, tc *task.Context, part int, dir string) ([]byte, error)
}

func (r *RDD[T]) base() *node { return r.n }

// Name returns a short description of the operation that made r.
func (r *RDD[T]) Name() string { return r.n.name }

// NumPartitions returns the number of partitions of r.
func (r *RDD[T]) NumPartitions() int { return r.n.parts }

// Err returns the error, if any, that building r's lineage ran into (a
// missing input path, a partition count below 1, say), or the first type
// in it whose values would not survive encoding (an unexported field, an
// interface, a func). Actions return it too, before running anything.
func (r *RDD[T]) Err() error {
	return lineageErr(walk(r.n))
}

func lineageErr(nodes []*node) error {
	for _, n := range nodes {
		if n.err != nil {
			return n.err
		}
	}
	return checkTypes(nodes)
}

// newRDD makes an RDD with one node.
func newRDD[T any](name string, parts int, compute func(context.Context, *task.Context, int, func(T) bool) error, deps ...*dep) *RDD[T] {
	r := &RDD[T]{
		n:       &node{name: name, parts: parts, deps: deps, inputBytes: narrowInputBytes(deps), elem: reflect.TypeFor[T](), site: callers()},
		compute: compute,
		codec:   codecOf[T](),
	}
	r.n.self = r
	return r
}

// narrowInputBytes is the input size of a node with deps: the sum of its
// parents' when every dependency is narrow and every parent's is known;
// -1 otherwise (after a shuffle the size is the shuffle's, unknown here).
func narrowInputBytes(deps []*dep) int64 {
	if len(deps) == 0 {
		return -1
	}
	var n int64
	for _, d := range deps {
		if d.shuffle != nil || d.parent.inputBytes < 0 {
			return -1
		}
		n += d.parent.inputBytes
	}
	return n
}

// Pair is a key and a value: the element type of by-key operations.
type Pair[K, V any] struct {
	Key   K
	Value V
}

// KV returns the Pair of k and v.
func KV[K, V any](k K, v V) Pair[K, V] { return Pair[K, V]{Key: k, Value: v} }

// String formats p as Hadoop's TextOutputFormat does: key, a tab, value.
func (p Pair[K, V]) String() string { return fmt.Sprint(p.Key) + "\t" + fmt.Sprint(p.Value) }

// Option changes how an RDD is built.
type Option func(*options)

type options struct {
	parts     int    // 0 when no Partitions option was given
	partsSite string // where a count below 1 was given, for the error

	partitioner     any    // a Partitioner[K] from WithPartitioner, checked by the operation
	partitionerSite string // where WithPartitioner was called
	descending      bool   // Descending: sort operations order keys high to low
	shuffle         bool   // Shuffle: Coalesce through a shuffle
}

// Partitions sets the number of partitions of the RDD being built. It must
// be at least 1: a smaller count makes the first action fail with an error
// naming the operation and this call.
func Partitions(n int) Option {
	site := ""
	if n < 1 {
		site = callSite(1)
	}
	return func(o *options) { o.parts, o.partsSite = n, site }
}

// buildOptions applies opts to the operation op. A partition count below 1
// is an error naming op and the Partitions call; o.parts is then 0, as if
// no count were given, so that building can go on.
func buildOptions(op string, opts []Option) (options, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.partsSite != "" {
		err := partitionCountError(fmt.Sprintf("Partitions(%d) for %s", o.parts, op), o.partsSite)
		o.parts, o.partsSite = 0, ""
		return o, err
	}
	return o, nil
}

// callSite returns "file.go:line" of the call skip frames above the caller
// of callSite: the user's call that a build error names.
func callSite(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return "an unknown line"
	}
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}

// partitionCountError is the build error for a partition count below 1:
// what is the operation and count as the user wrote them, site their call.
func partitionCountError(what, site string) error {
	return fmt.Errorf("rdd: %s at %s: the number of partitions must be at least 1", what, site)
}

// fail records err, if it is the first, as the error that building r ran
// into: lineages are built inside Funcs in every process, so a mistake
// becomes an error that the first action returns, never a panic. It returns r.
func (r *RDD[T]) fail(err error) *RDD[T] {
	if err != nil && r.n.err == nil {
		r.n.err = err
	}
	return r
}
