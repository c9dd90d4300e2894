package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

var (
	accMapSide = rdd.NewInt64Accumulator("test: numbers read")
	accHalves  = rdd.NewFloat64Accumulator("test: halves")
	accCounted = rdd.NewInt64Accumulator("test: numbers counted")
	accKeys    = rdd.NewAccumulator("test: counts by key", func(a, b map[int]int64) map[int]int64 {
		if a == nil {
			a = map[int]int64{}
		}
		for k, v := range b {
			a[k] += v
		}
		return a
	})

	// failed remembers, in this process, the tasks that failed their
	// first attempt on purpose.
	failed  sync.Map
	errOnce = errors.New("the first attempt fails")
)

type accArgs struct {
	N, Parts  int
	FailFirst string // fail the first attempt of each task, after adding; a tag unique to the run
}

// failFirst fails the first call for key in this process when tag is set.
func failFirst(tag, key string) error {
	if tag == "" {
		return nil
	}
	if _, seen := failed.LoadOrStore(tag+"/"+key, true); seen {
		return nil
	}
	return errOnce
}

// counted adds to accumulators in a map stage (before ReduceByKey) and in
// the result stage (after it).
var counted = rdd.Func(func(a accArgs) *rdd.RDD[rdd.Pair[int, int64]] {
	nums := make([]int, a.N)
	for i := range nums {
		nums[i] = i
	}
	read := rdd.MapErr(rdd.Parallelize(nums, rdd.Partitions(a.Parts)), func(ctx context.Context, n int) (rdd.Pair[int, int64], error) {
		accMapSide.Add(ctx, 1)
		accHalves.Add(ctx, 0.5)
		if n%(a.N/a.Parts) == a.N/a.Parts-1 { // the last number of its partition
			if err := failFirst(a.FailFirst, fmt.Sprint("map", n)); err != nil {
				return rdd.Pair[int, int64]{}, err
			}
		}
		return rdd.KV(n%10, int64(1)), nil
	})
	sums := rdd.ReduceByKey(read, func(x, y int64) int64 { return x + y }, rdd.Partitions(4))
	return rdd.MapErr(sums, func(ctx context.Context, p rdd.Pair[int, int64]) (rdd.Pair[int, int64], error) {
		accCounted.Add(ctx, p.Value)
		accKeys.Add(ctx, map[int]int64{p.Key: p.Value})
		if p.Key != 0 {
			return p, nil
		}
		// One result task fails: a partition holds several keys.
		return p, failFirst(a.FailFirst, "result")
	})
})

func resetAccums() {
	accMapSide.Reset()
	accHalves.Reset()
	accCounted.Reset()
	accKeys.Reset()
}

func runCounted(t *testing.T, s *driver.Session, a accArgs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := rdd.Collect(ctx, s, counted.Invoke(a))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d keys, want 10", len(got))
	}
}

// checkAccums checks the accumulators after runs jobs over a.N numbers.
func checkAccums(t *testing.T, a accArgs, runs int) {
	t.Helper()
	n := int64(a.N * runs)
	if got := accCounted.Value(); got != n {
		t.Errorf("result stage: counted %d numbers, want %d", got, n)
	}
	want := map[int]int64{}
	for i := range a.N {
		want[i%10] += int64(runs)
	}
	if got := accKeys.Value(); !maps.Equal(got, want) {
		t.Errorf("result stage: counts by key %v, want %v", got, want)
	}
	if got := accMapSide.Value(); got != n {
		t.Errorf("map stage: read %d numbers, want %d", got, n)
	}
	if got := accHalves.Value(); got != float64(n)/2 {
		t.Errorf("map stage: halves add up to %v, want %v", got, float64(n)/2)
	}
}

// Tasks add through their context; the driver sees every successful
// task's updates once, and a failed attempt's never: each map task and
// one result task here add, then fail their first attempt.
func TestAccumulatorsExactlyOnceUnderRetries(t *testing.T) {
	s := newSession(t)
	resetAccums()
	a := accArgs{N: 200, Parts: 5}
	runCounted(t, s, a)
	checkAccums(t, a, 1)

	resetAccums()
	before := s.Metrics().TasksFailed
	a.FailFirst = t.Name()
	runCounted(t, s, a)
	if failures := s.Metrics().TasksFailed - before; failures != int64(a.Parts+1) {
		t.Fatalf("%d attempts failed, want the first of each of the %d map tasks and of one result task", failures, a.Parts)
	}
	checkAccums(t, a, 1)
}

// In the driver, outside any task, Add adds at once; Reset zeroes.
func TestAccumulatorInDriver(t *testing.T) {
	resetAccums()
	accCounted.Add(context.Background(), 5)
	accCounted.Add(context.Background(), 7)
	accKeys.Add(context.Background(), map[int]int64{1: 2})
	if accCounted.Value() != 12 || !maps.Equal(accKeys.Value(), map[int]int64{1: 2}) {
		t.Fatalf("values %d, %v", accCounted.Value(), accKeys.Value())
	}
	held := accKeys.Value()
	accKeys.Add(context.Background(), map[int]int64{1: 3})
	if !maps.Equal(held, map[int]int64{1: 2}) {
		t.Fatalf("a later Add changed a value Value returned: %v", held)
	}
	if accCounted.Name() != "test: numbers counted" {
		t.Fatalf("name %q", accCounted.Name())
	}
	accCounted.Reset()
	if accCounted.Value() != 0 {
		t.Fatal("Reset did not zero the value")
	}
}

// The new user's mistakes: an accumulator made once main has started, or
// of a type that would not survive encoding, panics naming the rule.
func TestAccumulatorMistakes(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	type hidden struct{ n int }
	mustPanic("an unexported field", func() { rdd.NewAccumulator("x", func(a, b hidden) hidden { return a }) })
	mustPanic("a nil add", func() { rdd.NewAccumulator[int]("x", nil) })
	counted.Invoke(accArgs{N: 10, Parts: 1}) // seals the registry
	mustPanic("an accumulator made after a lineage was invoked", func() { rdd.NewInt64Accumulator("late") })
}

// On --local-cluster the updates cross from executor processes with each
// task's result, and still count once per task.
func TestAccumulatorsOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, func(c *driver.Config) { c.LocalCluster = 2 })
	resetAccums()
	a := accArgs{N: 300, Parts: 6, FailFirst: t.Name()}
	runCounted(t, s, a)
	runCounted(t, s, accArgs{N: 300, Parts: 6})
	checkAccums(t, a, 2)
	if s.Metrics().TasksFailed < int64(a.Parts+1) {
		t.Fatalf("%d attempts failed, want at least the first of each map task's and of one result task's", s.Metrics().TasksFailed)
	}
}
