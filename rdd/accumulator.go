package rdd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sync"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// ErrAccumulator is wrapped by every error about an Accumulator.
var ErrAccumulator = errors.New("rdd: accumulator")

// accumRule is the rule that the Accumulator constructors' panics name.
const accumRule = "register Accumulators at package level: in a var declaration or init"

// Accumulator is a shared variable that tasks add to and the driver reads,
// as Spark's accumulators and Hadoop's counters are. Register it at
// package level, like a Func, so that every process has it under the same
// key and user functions reach it by name:
//
//	var badLines = rdd.NewInt64Accumulator("bad lines")
//
//	var parse = rdd.Func(func(paths []string) *rdd.RDD[Row] {
//		return rdd.FlatMapErr(rdd.TextFile(paths...), func(ctx context.Context, line string, emit func(Row) bool) error {
//			row, err := parseRow(line)
//			if err != nil {
//				badLines.Add(ctx, 1)
//				return nil
//			}
//			emit(row)
//			return nil
//		})
//	})
//
//	n, err := rdd.Count(ctx, s, parse.Invoke(paths))
//	fmt.Println(n, "rows,", badLines.Value(), "bad lines")
//
// Add takes the context that Sluice gives user functions (MapErr,
// FlatMapErr, and the actions that run functions on executors): the
// task's updates collect there, merged, and travel to the driver with
// the task's success; a failed or lost attempt's updates are dropped.
// The driver applies them:
//
//   - exactly once per partition of a job for a task of the job's last
//     stage (the one the action reads), however often it was retried,
//     speculated or recomputed: use accumulators there for exact counts;
//   - on every successful attempt of a task of an earlier stage (before a
//     shuffle), as Spark does for transformations: a speculative copy
//     that also succeeds, or a map output recomputed after a lost worker,
//     adds its updates again, so such counts are at least the true one.
//
// Value is the driver's: it includes the updates of every task applied
// so far, from every job of every session in this process.
type Accumulator[T any] struct {
	key   string
	name  string
	add   func(a, b T) T
	codec codec.Codec[T]
	// copies says Value returns a copy: T holds references (a map, a
	// slice) that later updates, which add may make in place, would
	// change under the caller.
	copies bool

	mu    sync.Mutex
	value T
}

// anyAccumulator is an Accumulator of any type in the registry.
type anyAccumulator interface {
	apply(data []byte) error
	sig() string
	display() (name string, value any)
}

// accumulators is part of the Func registry: every copy of a binary
// registers the same Accumulators at init.
var accumulators struct {
	sync.Mutex
	byKey map[string]anyAccumulator
	keys  []string
}

// NewAccumulator registers an Accumulator of T named name (for the job
// summary) whose values combine with add, which must be associative and
// commutative, with T's zero value as its identity: add(zero, x) equals x.
// add may modify and return its first argument; never modify a value
// after passing it to Add. T must survive encoding exactly, as an element
// type must. Call it only to initialize a package-level variable (or in
// init), as Func: it panics, naming that rule and the call, once main has
// started.
func NewAccumulator[T any](name string, add func(a, b T) T) *Accumulator[T] {
	return register(name, add, 2)
}

// NewInt64Accumulator registers an Accumulator that sums int64s; see
// NewAccumulator.
func NewInt64Accumulator(name string) *Accumulator[int64] {
	return register(name, func(a, b int64) int64 { return a + b }, 2)
}

// NewFloat64Accumulator registers an Accumulator that sums float64s; see
// NewAccumulator.
func NewFloat64Accumulator(name string) *Accumulator[float64] {
	return register(name, func(a, b float64) float64 { return a + b }, 2)
}

func register[T any](name string, add func(a, b T) T, skip int) *Accumulator[T] {
	pc, file, line, _ := runtime.Caller(skip)
	site := fmt.Sprintf("%s:%d", filepath.Base(file), line)
	if inMain() {
		panic(fmt.Sprintf("rdd: Accumulator %q made at %s after main started: %s", name, site, accumRule))
	}
	if add == nil {
		panic(fmt.Sprintf("rdd: Accumulator %q made at %s with a nil add function", name, site))
	}
	if err := codec.Check(reflect.TypeFor[T]()); err != nil {
		panic(fmt.Sprintf("rdd: Accumulator %q made at %s: %v", name, site, roled(err, "value")))
	}
	fn := "unknown"
	if f := runtime.FuncForPC(pc); f != nil {
		fn = f.Name()
	}
	key := fmt.Sprintf("%s:%d", fn, line)
	a := &Accumulator[T]{name: name, add: add, codec: codec.For[T](), copies: holdsReferences(reflect.TypeFor[T]())}

	registry.Lock()
	sealed := registry.sealed
	registry.Unlock()
	if sealed {
		panic(fmt.Sprintf("rdd: Accumulator %q made at %s after a lineage was invoked: %s", name, site, accumRule))
	}
	accumulators.Lock()
	defer accumulators.Unlock()
	if accumulators.byKey == nil {
		accumulators.byKey = map[string]anyAccumulator{}
	}
	for base, i := key, 2; accumulators.byKey[key] != nil; i++ {
		key = fmt.Sprintf("%s#%d", base, i)
	}
	a.key = key
	accumulators.byKey[key] = a
	accumulators.keys = append(accumulators.keys, key)
	return a
}

// Name returns the name a was registered with.
func (a *Accumulator[T]) Name() string { return a.name }

// Add adds v to a. Inside a task, ctx must be the context Sluice gave the
// user function: the update joins the task's, which the driver applies
// when the task succeeds (see Accumulator for how often). In the driver,
// outside any task, v is added to the value at once. Add panics in an
// executor when ctx is not a task's.
func (a *Accumulator[T]) Add(ctx context.Context, v T) {
	if c := task.AccumulatorsOf(ctx); c != nil {
		var zero T
		c.Add(a.key, a.add(zero, v), a.mergeAny, a.encodeAny)
		return
	}
	if inExecutor() {
		panic(fmt.Errorf("%w %q: Add outside a task in an executor: pass the context your function was given", ErrAccumulator, a.name))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.value = a.add(a.value, v)
}

// Value returns the driver's value: every update applied so far, a copy
// of it when T holds references (maps, slices, pointers), so that later
// updates do not change it under the caller. It panics in an executor,
// which has no value to read.
func (a *Accumulator[T]) Value() T {
	if inExecutor() {
		panic(fmt.Errorf("%w %q: Value read in an executor: only the driver has the value", ErrAccumulator, a.name))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.copies {
		return a.value
	}
	b, err := encodeValue(a.codec, a.value)
	if err == nil {
		var v T
		if v, err = a.codec.Decode(b); err == nil {
			return v
		}
	}
	panic(fmt.Errorf("%w %q: copying the value: %w", ErrAccumulator, a.name, err))
}

// Reset sets the driver's value back to T's zero value.
func (a *Accumulator[T]) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	var zero T
	a.value = zero
}

func (a *Accumulator[T]) mergeAny(old, v any) any { return a.add(old.(T), v.(T)) }

func (a *Accumulator[T]) encodeAny(v any) ([]byte, error) { return encodeValue(a.codec, v.(T)) }

func (a *Accumulator[T]) apply(data []byte) error {
	v, err := a.codec.Decode(data)
	if err != nil {
		return fmt.Errorf("%w %q: decoding an update: %w", ErrAccumulator, a.name, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.value = a.add(a.value, v)
	return nil
}

func (a *Accumulator[T]) sig() string { return reflect.TypeFor[T]().String() }

func (a *Accumulator[T]) display() (string, any) { return a.name, a.Value() }

// inExecutor reports whether this process is an executor, which fetches
// broadcast values from its driver.
func inExecutor() bool { return task.BroadcastFetcherOf() != nil }

// applyAccumulators merges a task's updates into the driver's values.
func applyAccumulators(updates []task.AccumUpdate) error {
	var errs []error
	for _, u := range updates {
		accumulators.Lock()
		a := accumulators.byKey[u.Key]
		accumulators.Unlock()
		if a == nil {
			errs = append(errs, fmt.Errorf("%w %s: an update for an accumulator this binary does not register", ErrAccumulator, u.Key))
			continue
		}
		if err := a.apply(u.Value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// accumulatorValues returns the name and driver's value of every
// registered Accumulator, in registration order.
func accumulatorValues() []task.AccumValue {
	accumulators.Lock()
	keys := slices.Clone(accumulators.keys)
	accs := make([]anyAccumulator, len(keys))
	for i, k := range keys {
		accs[i] = accumulators.byKey[k]
	}
	accumulators.Unlock()
	out := make([]task.AccumValue, len(accs))
	for i, a := range accs {
		out[i].Name, out[i].Value = a.display()
	}
	return out
}

// accumulatorDigest lines for registryDigest: each key and type.
func accumulatorSigs() []string {
	accumulators.Lock()
	defer accumulators.Unlock()
	out := make([]string, 0, len(accumulators.keys))
	for _, k := range accumulators.keys {
		out = append(out, k+" "+accumulators.byKey[k].sig())
	}
	slices.Sort(out)
	return out
}

func init() {
	task.InstallShared(task.SharedHooks{
		BroadcastData:     broadcastData,
		ReleaseBroadcasts: releaseBroadcasts,
		ApplyAccumulators: applyAccumulators,
		AccumulatorValues: accumulatorValues,
	})
}
