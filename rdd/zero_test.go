package rdd_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// zeroInput is Spark's example for the zero value of aggregateByKey: key 5
// has two values, keys 1 and 3 one each.
var zeroInput = []rdd.Pair[int, int]{rdd.KV(1, 1), rdd.KV(3, 2), rdd.KV(5, 1), rdd.KV(5, 3)}

// The folds modify their first argument and return it, as Spark allows:
// each key must get its own copy of the zero value.
var (
	mapZeroF = rdd.Func(func(in int) *rdd.RDD[rdd.Pair[int, map[int]bool]] {
		return rdd.AggregateByKey(rdd.Parallelize(zeroInput, rdd.Partitions(in)), map[int]bool{},
			func(acc map[int]bool, v int) map[int]bool { acc[v] = true; return acc },
			func(a, b map[int]bool) map[int]bool { maps.Copy(a, b); return a },
			rdd.Partitions(3))
	})
	// The zero has spare capacity, so append writes into its backing array.
	sliceZeroF = rdd.Func(func(in int) *rdd.RDD[rdd.Pair[int, []int]] {
		return rdd.AggregateByKey(rdd.Parallelize(zeroInput, rdd.Partitions(in)), make([]int, 0, 8),
			func(acc []int, v int) []int { return append(acc, v) },
			func(a, b []int) []int { return append(a, b...) },
			rdd.Partitions(3))
	})
	chanZeroF = rdd.Func(func(in int) *rdd.RDD[rdd.Pair[int, chan int]] {
		return rdd.AggregateByKey(rdd.Parallelize(zeroInput, rdd.Partitions(in)), make(chan int), // site:chan-zero
			func(acc chan int, _ int) chan int { return acc },
			func(a, _ chan int) chan int { return a })
	})
)

// TestAggregateByKeyFreshZero checks that every key starts from its own
// copy of the zero value, on one input partition and on several that run
// concurrently (run it with -race: a shared zero is written by two tasks).
func TestAggregateByKeyFreshZero(t *testing.T) {
	for _, lc := range []int{0, 2} {
		if lc > 0 && testing.Short() {
			continue
		}
		t.Run(map[int]string{0: "local", 2: "local-cluster"}[lc], func(t *testing.T) {
			testFreshZero(t, newSession(t, func(c *driver.Config) { c.LocalCluster = lc }))
		})
	}
}

func testFreshZero(t *testing.T, s *driver.Session) {
	want := map[int][]int{1: {1}, 3: {2}, 5: {1, 3}}
	for _, in := range []int{1, 2, 4} {
		got := map[int][]int{}
		for _, p := range collect(t, s, mapZeroF.Invoke(in)) {
			got[p.Key] = slices.Sorted(maps.Keys(p.Value))
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("map zero, %d input partitions: %v, want %v", in, got, want)
		}
		got = map[int][]int{}
		for _, p := range collect(t, s, sliceZeroF.Invoke(in)) {
			got[p.Key] = slices.Sorted(slices.Values(p.Value))
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("slice zero, %d input partitions: %v, want %v", in, got, want)
		}
	}
}

// A zero value that cannot be encoded is a build error naming the call,
// returned by the action before any task runs.
func TestAggregateByKeyZeroMustEncode(t *testing.T) {
	log := &jobLog{run: newSession(t)}
	r := chanZeroF.Invoke(2)
	_, err := rdd.Collect(context.Background(), log, r)
	site := "zero_test.go:" + lineOf(t, "zero_test.go", "chan-zero")
	if err == nil || !strings.Contains(err.Error(), "rdd: AggregateByKey at "+site) || !strings.Contains(err.Error(), "zero value") {
		t.Fatalf("Collect: %v; want an error naming AggregateByKey at %s and its zero value", err, site)
	}
	if len(log.jobs) != 0 {
		t.Fatalf("ran jobs %v for a lineage that cannot be built", log.jobs)
	}
}
