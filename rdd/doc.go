// Package rdd is Sluice's typed dataset API: lazily evaluated, partitioned
// collections (RDD[T]) built by transformations and run by actions, as in
// Spark.
//
// A lineage is built inside a Func, registered when the program starts, so
// that every copy of the binary can rebuild it: Go cannot ship closures, so
// Sluice ships the binary and the Func's argument instead. Register Funcs
// at package level: in a var declaration or init; Func panics once main
// has started.
//
//	var wordCount = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, int64]] {
//		words := rdd.FlatMap(rdd.TextFile(paths...), func(line string, emit func(string)) {
//			for w := range strings.FieldsSeq(line) {
//				emit(w)
//			}
//		})
//		ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
//		return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
//	})
//
//	counts, err := rdd.Collect(ctx, session, wordCount.Invoke(paths))
//
// Narrow transformations (Map, FlatMap, Filter, ...) run in one task per
// partition; by-key operations (ReduceByKey, GroupByKey, Join, SortByKey,
// ...) cut the lineage at a shuffle. Actions take a Runner, which the
// driver package's Session implements, and act on the RDD that Invoke
// returned.
//
// User functions must be deterministic: a lost partition is recomputed
// from its lineage and must come out the same. Actions whose function runs
// per element (Reduce, ForEach) run it in the driver.
package rdd
