package mapreduce

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// Counters are a job's counters by group and name, as Hadoop's: the
// built-in ones in the group TaskCounters and the user's own, counted with
// Count. Every map and reduce task is counted once, from the attempt whose
// output the job used, however many attempts failed, were lost or were
// recomputed after a worker was lost.
type Counters map[string]map[string]int64

// TaskCounters is the group of the built-in counters.
const TaskCounters = "mapreduce"

// The built-in counters, Hadoop's TaskCounter names.
const (
	MapInputRecords      = "MAP_INPUT_RECORDS"      // records the Input gave the mappers
	MapOutputRecords     = "MAP_OUTPUT_RECORDS"     // pairs the mappers emitted
	MapOutputBytes       = "MAP_OUTPUT_BYTES"       // their encoded keys and values, uncompressed
	CombineInputRecords  = "COMBINE_INPUT_RECORDS"  // values the combiner read
	CombineOutputRecords = "COMBINE_OUTPUT_RECORDS" // values it emitted
	SpilledRecords       = "SPILLED_RECORDS"        // records written to sorted runs on disk, map and reduce side
	ReduceShuffleBytes   = "REDUCE_SHUFFLE_BYTES"   // encoded bytes the reducers read from the shuffle, uncompressed
	ReduceInputGroups    = "REDUCE_INPUT_GROUPS"    // groups, that is calls of Reduce
	ReduceInputRecords   = "REDUCE_INPUT_RECORDS"   // values the reducers read
	ReduceOutputRecords  = "REDUCE_OUTPUT_RECORDS"  // records the reducers emitted
)

// Get returns the counter name of group, 0 when it was never counted.
func (c Counters) Get(group, name string) int64 { return c[group][name] }

// Add adds n to the counter name of group.
func (c Counters) Add(group, name string, n int64) {
	g := c[group]
	if g == nil {
		g = map[string]int64{}
		c[group] = g
	}
	g[name] += n
}

// Merge adds every counter of o to c.
func (c Counters) Merge(o Counters) {
	for _, g := range slices.Sorted(maps.Keys(o)) {
		for name, n := range o[g] {
			c.Add(g, name, n)
		}
	}
}

// taskCounters are one task attempt's counters, reachable from the ctx
// its Mapper, Combiner and Reducer get.
type taskCounters struct {
	mu sync.Mutex
	c  Counters
}

type countersKey struct{}

// Count adds n to the user counter name of group, for the task that ctx
// belongs to (the ctx a Mapper, Combiner or Reducer was given). It may be
// called from several goroutines. Outside a task it does nothing.
func Count(ctx context.Context, group, name string, n int64) {
	tc, _ := ctx.Value(countersKey{}).(*taskCounters)
	if tc == nil {
		return
	}
	tc.mu.Lock()
	tc.c.Add(group, name, n)
	tc.mu.Unlock()
}

func withCounters(ctx context.Context, tc *taskCounters) context.Context {
	return context.WithValue(ctx, countersKey{}, tc)
}

// snapshot returns a copy of the counters counted so far.
func (tc *taskCounters) snapshot() Counters {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := Counters{}
	out.Merge(tc.c)
	return out
}
