package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Shared variables (rdd.Broadcast, rdd.Accumulator) cross between the
// rdd package, which owns their values, and the runtimes, which move
// them: a driver serves broadcast values and applies accumulator updates,
// an executor fetches the values and collects the updates of each task.

// BroadcastFetcher fetches the encoded value of broadcast id from the
// driver: an executor process installs one (SetBroadcastFetcher).
type BroadcastFetcher func(ctx context.Context, id string) ([]byte, error)

// SharedHooks is what the rdd package installs at init for the runtimes.
type SharedHooks struct {
	// BroadcastData returns the encoded value of broadcast id, created
	// for the Runner owner, for a driver to serve to its executors.
	BroadcastData func(owner any, id string) ([]byte, error)
	// ReleaseBroadcasts drops every broadcast value created for owner:
	// its session closed.
	ReleaseBroadcasts func(owner any)
	// ApplyAccumulators merges a task's updates into the driver's values.
	ApplyAccumulators func(updates []AccumUpdate) error
	// AccumulatorValues returns every registered accumulator's name and
	// driver value, for the job summary.
	AccumulatorValues func() []AccumValue
}

// AccumValue is an accumulator's name and driver value.
type AccumValue struct {
	Name  string
	Value any
}

// shared belongs to the Func registry, like hooks: set once at init by
// rdd, and by an executor process as it starts.
var shared struct {
	sync.Mutex
	h     SharedHooks
	fetch BroadcastFetcher
}

// InstallShared installs h. Only the rdd package calls it, at init.
func InstallShared(h SharedHooks) {
	shared.Lock()
	defer shared.Unlock()
	shared.h = h
}

func sharedHooks() SharedHooks {
	shared.Lock()
	defer shared.Unlock()
	return shared.h
}

// SetBroadcastFetcher makes this process an executor that fetches
// broadcast values through f. Only an executor process calls it, before
// it runs any task.
func SetBroadcastFetcher(f BroadcastFetcher) {
	shared.Lock()
	defer shared.Unlock()
	shared.fetch = f
}

// BroadcastFetcherOf returns the fetcher SetBroadcastFetcher installed, or
// nil in a process that is not an executor (a driver, in any mode).
func BroadcastFetcherOf() BroadcastFetcher {
	shared.Lock()
	defer shared.Unlock()
	return shared.fetch
}

// BroadcastData returns the encoded value of broadcast id that owner (a
// Session, as a Runner) created, to serve it to an executor.
func BroadcastData(owner any, id string) ([]byte, error) {
	h := sharedHooks()
	if h.BroadcastData == nil {
		return nil, errNoRDD
	}
	return h.BroadcastData(owner, id)
}

// ReleaseBroadcasts drops the broadcast values created for owner.
func ReleaseBroadcasts(owner any) {
	if h := sharedHooks(); h.ReleaseBroadcasts != nil {
		h.ReleaseBroadcasts(owner)
	}
}

// ApplyAccumulators merges a task's accumulator updates into the driver's
// values. The driver calls it once per (job, partition) for a result task
// and on every success of a map task.
func ApplyAccumulators(updates []AccumUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	h := sharedHooks()
	if h.ApplyAccumulators == nil {
		return errNoRDD
	}
	return h.ApplyAccumulators(updates)
}

// AccumulatorValues returns every registered accumulator's name and value
// in the driver, in registration order.
func AccumulatorValues() []AccumValue {
	if h := sharedHooks(); h.AccumulatorValues != nil {
		return h.AccumulatorValues()
	}
	return nil
}

// AccumUpdate is one accumulator's update from one task attempt: the
// accumulator's registry key and the attempt's merged value, encoded.
type AccumUpdate struct {
	Key   string
	Value []byte
}

// MaxAccumUpdates bounds the encoded updates of one task attempt: they
// travel with its result.
const MaxAccumUpdates = 8 << 20

// ErrAccumUpdates is wrapped by the error of an attempt whose updates
// could not be encoded or passed MaxAccumUpdates.
var ErrAccumUpdates = errors.New("task: accumulator updates")

// Accumulators collects one task attempt's accumulator updates, merged
// per accumulator as they are added; the executor encodes them when the
// attempt succeeds and drops them when it fails.
type Accumulators struct {
	mu sync.Mutex
	m  map[string]*accumEntry
}

type accumEntry struct {
	v      any
	encode func(v any) ([]byte, error)
}

type accumsKey struct{}

// WithAccumulators returns ctx carrying a, for user functions that take
// the task's context to add to.
func WithAccumulators(ctx context.Context, a *Accumulators) context.Context {
	return context.WithValue(ctx, accumsKey{}, a)
}

// AccumulatorsOf returns the collector of the task that ctx belongs to,
// or nil outside a task.
func AccumulatorsOf(ctx context.Context) *Accumulators {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(accumsKey{}).(*Accumulators)
	return a
}

// Add merges v into the attempt's value for accumulator key: the first
// value of a key is kept as is, each later one merged by merge(old, v).
// encode turns the merged value into bytes when the attempt ends.
func (a *Accumulators) Add(key string, v any, merge func(old, v any) any, encode func(v any) ([]byte, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]*accumEntry{}
	}
	if e := a.m[key]; e != nil {
		e.v = merge(e.v, v)
		return
	}
	a.m[key] = &accumEntry{v: v, encode: encode}
}

// Updates encodes the collected updates, in key order.
func (a *Accumulators) Updates() ([]AccumUpdate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]string, 0, len(a.m))
	for k := range a.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]AccumUpdate, 0, len(keys))
	total := 0
	for _, k := range keys {
		e := a.m[k]
		b, err := e.encode(e.v)
		if err != nil {
			return nil, fmt.Errorf("%w: encoding accumulator %s: %w", ErrAccumUpdates, k, err)
		}
		total += len(k) + len(b)
		if total > MaxAccumUpdates {
			return nil, fmt.Errorf("%w: a task's updates passed %d MiB at accumulator %s: accumulate a summary (a count, a sketch), not the data", ErrAccumUpdates, MaxAccumUpdates>>20, k)
		}
		out = append(out, AccumUpdate{Key: k, Value: b})
	}
	return out, nil
}
