package rdd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

// Lineages with a partition count taken from the Func's argument; the
// comment on each call's line lets the test find the line the error names.
var (
	pairs = []kv{rdd.KV("a", 1), rdd.KV("b", 2)}
	first = func(a, _ int) int { return a }

	badRepartitionF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.Repartition(rdd.Parallelize(pairs), n) // site:Repartition
	})
	badPartitionByF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.PartitionBy(rdd.Parallelize(pairs), n) // site:PartitionBy
	})
	badParallelizeF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.Parallelize(pairs, rdd.Partitions(n)) // site:Parallelize
	})
	badReduceByKeyF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.ReduceByKey(rdd.Parallelize(pairs), first, rdd.Partitions(n)) // site:ReduceByKey
	})
	badGroupByKeyF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, []int]] {
		return rdd.GroupByKey(rdd.Parallelize(pairs), rdd.Partitions(n)) // site:GroupByKey
	})
	badJoinF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, rdd.Pair[int, int]]] {
		return rdd.Join(rdd.Parallelize(pairs), rdd.Parallelize(pairs), rdd.Partitions(n)) // site:Join
	})
	badSortByKeyF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.SortByKey(rdd.Parallelize(pairs), rdd.Partitions(n)) // site:SortByKey
	})
	badDistinctF = rdd.Func(func(n int) *rdd.RDD[string] {
		return rdd.Distinct(rdd.Keys(rdd.Parallelize(pairs)), rdd.Partitions(n)) // site:Distinct
	})
	badAggregateByKeyF = rdd.Func(func(n int) *rdd.RDD[kv] {
		return rdd.AggregateByKey(rdd.Parallelize(pairs), 0, first, first, rdd.Partitions(n)) // site:AggregateByKey
	})
	badCombineByKeyF = rdd.Func(func(n int) *rdd.RDD[kv] {
		agg := rdd.Aggregator[int, int]{Create: func(v int) int { return v }, MergeValue: first, MergeCombiners: first}
		return rdd.CombineByKey(rdd.Parallelize(pairs), agg, rdd.Partitions(n)) // site:CombineByKey
	})
	badTextFileF = rdd.Func(func(n int) *rdd.RDD[string] {
		return rdd.TextFileWith(rdd.TextOptions{MinPartitions: n}, "partitioncount_test.go") // site:TextFileWith
	})
)

// TestPartitionCountBelowOne checks that every operation given a partition
// count below 1 builds, and that the first action returns an error naming
// the operation, the count and the call, without running anything. Spark
// rejects these counts too; Sluice used to treat them as 1 (or the default).
// Lineages are built inside Funcs, in every process, so the error waits for
// an action instead of panicking.
func TestPartitionCountBelowOne(t *testing.T) {
	s := newSession(t)
	for _, tc := range []struct {
		site string // the marker on the line of the call
		what string // how the error names the operation and count
		n    int
		run  func(context.Context, rdd.Runner, int) (actionErr, buildErr error)
	}{
		{"Repartition", "Repartition(0)", 0, try(badRepartitionF)},
		{"Repartition", "Repartition(-3)", -3, try(badRepartitionF)},
		{"PartitionBy", "PartitionBy(0)", 0, try(badPartitionByF)},
		{"Parallelize", "Partitions(0) for Parallelize", 0, try(badParallelizeF)},
		{"ReduceByKey", "Partitions(0) for ReduceByKey", 0, try(badReduceByKeyF)},
		{"GroupByKey", "Partitions(-1) for GroupByKey", -1, try(badGroupByKeyF)},
		{"Join", "Partitions(0) for Join", 0, try(badJoinF)},
		{"SortByKey", "Partitions(0) for SortByKey", 0, try(badSortByKeyF)},
		{"Distinct", "Partitions(0) for Distinct", 0, try(badDistinctF)},
		{"AggregateByKey", "Partitions(0) for AggregateByKey", 0, try(badAggregateByKeyF)},
		{"CombineByKey", "Partitions(0) for CombineByKey", 0, try(badCombineByKeyF)},
		{"TextFileWith", "TextFileWith(MinPartitions: -1)", -1, try(badTextFileF)},
	} {
		t.Run(tc.what, func(t *testing.T) {
			log := &jobLog{run: s}
			err, buildErr := tc.run(context.Background(), log, tc.n)
			want := "rdd: " + tc.what + " at partitioncount_test.go:" + lineOf(t, "partitioncount_test.go", tc.site) + ": "
			if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "must be at least 1") {
				t.Fatalf("Collect: %v\nwant an error beginning %q that says the count must be at least 1", err, want)
			}
			if buildErr == nil || buildErr.Error() != err.Error() {
				t.Fatalf("Err() = %v, want the action's error", buildErr)
			}
			if len(log.jobs) != 0 {
				t.Fatalf("ran jobs %v for a lineage that cannot be built", log.jobs)
			}
		})
	}
}

// try returns a function that invokes f with a count, runs Collect on the
// result and returns Collect's error and the RDD's Err.
func try[T any](f *rdd.FuncOf[int, T]) func(context.Context, rdd.Runner, int) (actionErr, buildErr error) {
	return func(ctx context.Context, run rdd.Runner, n int) (error, error) {
		r := f.Invoke(n)
		_, err := rdd.Collect(ctx, run, r)
		return err, r.Err()
	}
}
