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
// Every element type, every key type of a by-key operation and every
// Func argument must survive encoding exactly; the first action checks
// them before running anything, and a type that would not (an unexported
// field, an interface, a func) is an error naming the operation, the
// user's line, the type and the field. Keys are grouped by their
// encoding, in which -0 and +0 are one key and all NaNs are one key. The
// README's "Element types" has the rules.
//
// User functions must be deterministic: a lost partition is recomputed
// from its lineage and must come out the same. Actions whose function runs
// per element (Reduce, ForEach) run it in the driver.
//
// A task that fails (its user function panicked, or a MapErr or
// FlatMapErr function returned an error) is retried up to four attempts;
// then the action returns an error wrapping a *TaskError, which names the
// place of a panic in the user's code and wraps the user's error for
// errors.Is and errors.As. An error marked Permanent is not
// retried. On a cluster, errors.Is recognises the errors registered with
// RegisterError.
//
// Sources read files (local paths; a small seam, rdd/files.go, leaves room
// for object stores): TextFile, TextFileLines (each line with its file and
// byte offset), WholeTextFiles, JSONLines, CSV and Parquet; compressed
// inputs (.gz, .zst, .bz2, .sz, .snappy) are decompressed, one split per
// file. SaveAsTextFile, SaveAsJSONLines, SaveAsCSV and SaveAsParquet write
// part files through the output commit protocol, compressed as the
// session's --output-codec or WithCodec says. A record a reader cannot
// decode is a *RecordError naming its file and line (or Parquet row
// group), wrapping ErrBadRecord; with the session's --skip-bad-records N
// up to N of them per job are skipped and counted instead.
//
//	var events = rdd.Func(func(paths []string) *rdd.RDD[Event] { return rdd.JSONLines[Event](paths...) })
//
//	err := rdd.SaveAsParquet(ctx, session, events.Invoke(paths), "out/")
package rdd
