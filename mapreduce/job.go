package mapreduce

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/rdd"
)

// Mapper turns one input record into key-value pairs.
type Mapper[I, K, V any] interface {
	Map(ctx context.Context, record I, emit func(K, V)) error
}

// MapperFunc adapts a function to a Mapper.
type MapperFunc[I, K, V any] func(ctx context.Context, record I, emit func(K, V)) error

// Map calls f.
func (f MapperFunc[I, K, V]) Map(ctx context.Context, record I, emit func(K, V)) error {
	return f(ctx, record, emit)
}

// Reducer reads one group's values, as a stream, and emits output
// records. values may be ranged over once; it reads the shuffle as it
// goes, so a key with any number of values takes no more memory than one.
type Reducer[K, V, O any] interface {
	Reduce(ctx context.Context, key K, values iter.Seq[V], emit func(O)) error
}

// ReducerFunc adapts a function to a Reducer.
type ReducerFunc[K, V, O any] func(ctx context.Context, key K, values iter.Seq[V], emit func(O)) error

// Reduce calls f.
func (f ReducerFunc[K, V, O]) Reduce(ctx context.Context, key K, values iter.Seq[V], emit func(O)) error {
	return f(ctx, key, values, emit)
}

// Combiner folds a key's values in a map task's output before the
// shuffle. As in Hadoop, it may run on any subset of a key's values, or
// not at all, so what it emits must mean to the Reducer what it read.
type Combiner[K, V any] interface {
	Combine(ctx context.Context, key K, values iter.Seq[V], emit func(V)) error
}

// CombinerFunc adapts a function to a Combiner.
type CombinerFunc[K, V any] func(ctx context.Context, key K, values iter.Seq[V], emit func(V)) error

// Combine calls f.
func (f CombinerFunc[K, V]) Combine(ctx context.Context, key K, values iter.Seq[V], emit func(V)) error {
	return f(ctx, key, values, emit)
}

// Partitioner picks the reduce partition, in [0, n), of a key. It must be
// a fixed function of the key: every process and attempt must agree.
type Partitioner[K any] interface {
	Partition(key K, n int) int
}

// PartitionerFunc adapts a function to a Partitioner.
type PartitionerFunc[K any] func(key K, n int) int

// Partition calls f.
func (f PartitionerFunc[K]) Partition(key K, n int) int { return f(key, n) }

// Job is a MapReduce job: records I from Input go through Mapper as pairs
// (K, V), are sorted by key (SortKey), grouped (Grouping), and given to
// Reducer, whose records O go to Output.
type Job[I, K, V, O any] struct {
	Name   string   // names the job's operation in plans and the UI; "MapReduce" when empty
	Input  Input[I] // required
	Mapper Mapper[I, K, V]
	// Combiner, when set, combines each map task's output per key.
	Combiner Combiner[K, V]
	// Partitioner, when set, picks reduce partitions; otherwise a hash of
	// the key's SortKey encoding, or ranges of it with TotalOrder.
	Partitioner Partitioner[K]
	// TotalOrder partitions by ranges of the keys taken from a seeded
	// sample of the map output, so that part-00000, part-00001, ... hold
	// the keys in order (Hadoop's TotalOrderPartitioner). A range bound
	// may fall inside a Grouping's group, splitting it: with Grouping,
	// give a Partitioner instead. The sample runs the Mapper over the
	// input once more (its counters are not counted).
	TotalOrder bool
	Reducer    Reducer[K, V, O]
	Output     Output[O] // required
	// Reducers is the number of reduce tasks; Args.Reducers overrides it;
	// 0 picks it as rdd's by-key operations do.
	Reducers int
	// SortKey is the sort order of keys (the sort comparator). Its zero
	// value means Ordered for a K whose underlying type is a string or a
	// number; other key types need one.
	SortKey KeyOrder[K]
	// Grouping, when set, reports whether two keys adjacent in the sort
	// order go to one Reduce call (the grouping comparator, for secondary
	// sort); the call gets the first key of the group. Keys of a group
	// must be adjacent in SortKey's order and go to one partition (give a
	// Partitioner that looks only at the grouped part). Nil means equal
	// keys.
	Grouping func(a, b K) bool
}

// Args are what a run of a registered Job reads and writes.
type Args struct {
	Inputs   []string // paths for the Input
	Output   string   // the output directory: absent or empty
	Reducers int      // reduce tasks; 0 means Job.Reducers
}

// Registered is a Job registered with Register, ready to run.
type Registered[I, K, V, O any] struct {
	job   Job[I, K, V, O]
	order KeyOrder[K]
	fn    *rdd.FuncOf[Args, Counters]
	err   error
}

// Register compiles job onto rdd: a two-stage lineage (rdd.GroupSorted)
// built inside an rdd.Func, so that executors rebuild it and a lost map
// output is recomputed as any shuffle's is. Like rdd.Func, it must be
// called at package level (a var declaration or init): it panics
// otherwise. A job that lacks a part is an error that Run returns.
func Register[I, K, V, O any](job Job[I, K, V, O]) *Registered[I, K, V, O] {
	r := &Registered[I, K, V, O]{job: job, order: job.SortKey}
	if job.Name == "" {
		r.job.Name = "MapReduce"
	}
	r.err = r.validate()
	r.fn = rdd.Func(r.lineage)
	return r
}

func (r *Registered[I, K, V, O]) validate() error {
	j := r.job
	var missing []string
	if j.Input == nil {
		missing = append(missing, "Input")
	}
	if j.Mapper == nil {
		missing = append(missing, "Mapper")
	}
	if j.Reducer == nil {
		missing = append(missing, "Reducer")
	}
	if j.Output == nil {
		missing = append(missing, "Output")
	}
	if len(missing) > 0 {
		return fmt.Errorf("mapreduce: job %s has no %v: set them in the Job given to Register", j.Name, missing)
	}
	if (r.order.Append == nil) != (r.order.Decode == nil) {
		return fmt.Errorf("mapreduce: job %s: SortKey needs both Append and Decode", j.Name)
	}
	if r.order.Append == nil {
		o, ok := defaultOrder[K]()
		if !ok {
			return fmt.Errorf("mapreduce: job %s: key type %s has no natural order: set Job.SortKey", j.Name, reflect.TypeFor[K]())
		}
		r.order = o
	}
	return nil
}

// lineage builds the job's two stages; each reduce task writes its part
// file and yields its counters (the last one also the map tasks').
func (r *Registered[I, K, V, O]) lineage(a Args) *rdd.RDD[Counters] {
	j := r.job
	if r.err != nil {
		// Build nothing the job would run; Run reports r.err first.
		return rdd.Parallelize([]Counters{})
	}
	reducers := j.Reducers
	if a.Reducers != 0 {
		reducers = a.Reducers
	}
	sg := rdd.SortedGroups[K, V]{
		Name: j.Name, Partitions: reducers, AppendKey: r.order.Append, DecodeKey: r.order.Decode,
		TotalOrder: j.TotalOrder, SameGroup: j.Grouping,
	}
	if j.Partitioner != nil {
		sg.Partition = func(k K, _ []byte, n int) int { return j.Partitioner.Partition(k, n) }
	}
	return rdd.GroupSorted(j.Input(a.Inputs), sg, r.mapTask, func(ctx context.Context, rt *rdd.ReduceTask, groups iter.Seq2[K, iter.Seq[V]], yield func(Counters) bool) error {
		return r.reduceTask(ctx, rt, a.Output, groups, yield)
	})
}

var countersCodec = codec.For[Counters]()

func (r *Registered[I, K, V, O]) mapTask(int) rdd.MapTask[I, K, V] {
	tc := &taskCounters{c: Counters{}}
	mt := rdd.MapTask[I, K, V]{
		Map: func(ctx context.Context, in iter.Seq[I], emit func(K, V)) error {
			ctx = withCounters(ctx, tc)
			for rec := range in {
				if err := r.job.Mapper.Map(ctx, rec, emit); err != nil {
					return err
				}
			}
			return nil
		},
		Finish: func(st rdd.MapStats) []byte {
			c := tc.snapshot()
			c.Add(TaskCounters, MapInputRecords, st.InputRecords)
			c.Add(TaskCounters, MapOutputRecords, st.OutputRecords)
			c.Add(TaskCounters, MapOutputBytes, st.OutputBytes)
			c.Add(TaskCounters, SpilledRecords, st.SpilledRecords)
			if r.job.Combiner != nil {
				c.Add(TaskCounters, CombineInputRecords, st.CombineInput)
				c.Add(TaskCounters, CombineOutputRecords, st.CombineOutput)
			}
			return countersCodec.Append(nil, c)
		},
	}
	if r.job.Combiner != nil {
		mt.Combine = func(ctx context.Context, k K, values iter.Seq[V], emit func(V)) error {
			return r.job.Combiner.Combine(withCounters(ctx, tc), k, values, emit)
		}
	}
	return mt
}

func (r *Registered[I, K, V, O]) reduceTask(ctx context.Context, rt *rdd.ReduceTask, dir string, groups iter.Seq2[K, iter.Seq[V]], yield func(Counters) bool) error {
	total := Counters{}
	for i, side := range rt.Sides {
		c, err := countersCodec.Decode(side)
		if err != nil {
			return fmt.Errorf("mapreduce: counters of map task %d: %w", i, err)
		}
		total.Merge(c)
	}
	tc := &taskCounters{c: Counters{}}
	ctx = withCounters(ctx, tc)
	var nGroups, out int64
	err := rt.Save(ctx, dir, func(path string) (err error) {
		w, err := r.job.Output.Create(path)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}()
		var werr error
		emit := func(o O) {
			if werr == nil {
				out++
				werr = w.Write(o)
			}
		}
		for k, values := range groups {
			nGroups++
			if err := r.job.Reducer.Reduce(ctx, k, values, emit); err != nil {
				return err
			}
			if werr != nil {
				return werr
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st := rt.Stats()
	total.Merge(tc.snapshot())
	total.Add(TaskCounters, ReduceShuffleBytes, st.ShuffleBytes)
	total.Add(TaskCounters, ReduceInputGroups, nGroups)
	total.Add(TaskCounters, ReduceInputRecords, st.InputRecords)
	total.Add(TaskCounters, ReduceOutputRecords, out)
	total.Add(TaskCounters, SpilledRecords, st.SpilledRecords)
	yield(total)
	return nil
}

// CounterSink is what a Runner implements to receive a job's counters
// (driver.Session does: they go into the job summary).
type CounterSink interface {
	AddCounters(c map[string]map[string]int64)
}

// Run runs the job on a's inputs, writing a.Output's part files and
// _SUCCESS, and returns its counters. When run is a CounterSink it gets
// them too.
func (r *Registered[I, K, V, O]) Run(ctx context.Context, run rdd.Runner, a Args) (Counters, error) {
	if r.err != nil {
		return nil, r.err
	}
	if a.Output == "" {
		return nil, errors.New("mapreduce: Args.Output is empty: name an output directory")
	}
	parts, err := rdd.CollectCommitted(ctx, run, r.fn.Invoke(a), a.Output)
	if err != nil {
		return nil, err
	}
	total := Counters{}
	for _, c := range parts {
		total.Merge(c)
	}
	if sink, ok := run.(CounterSink); ok {
		sink.AddCounters(total)
	}
	return total, nil
}

// Job returns the job as Register was given it (a Name filled in), for
// building a related job from its parts.
func (r *Registered[I, K, V, O]) Job() Job[I, K, V, O] { return r.job }
