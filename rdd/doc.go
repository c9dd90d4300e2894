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
// Narrow transformations (Map, FlatMap, Filter, Coalesce, Zip, Sample,
// Pipe, ...) run in one task per partition; by-key operations
// (ReduceByKey, GroupByKey, Join, CoGroup, SortByKey, ...) cut the lineage
// at a shuffle. Actions take a Runner, which the driver package's Session
// implements, and act on the RDD that Invoke returned.
//
// A by-key operation lays out its output by a Partitioner: a
// HashPartitioner by default, a RangePartitioner after a sort, or one
// given with WithPartitioner or PartitionWith. Nodes remember it
// (PartitionerOf), operations that keep keys in place (MapValues, Filter,
// ...) keep it, and a by-key operation whose input is already laid out by
// an equal partitioner reads it without a shuffle, so joins of
// co-partitioned inputs are narrow:
//
//	users := rdd.PartitionBy(rdd.KeyBy(rows, userID), 64)
//	totals := rdd.ReduceByKey(rdd.MapValues(users, amount), add) // no shuffle
//	joined := rdd.Join(users, totals)                             // narrow
//
// Seeded operations (Sample, RandomSplit) draw from the seed and the
// partition's index, and ZipWithIndex counts partitions with a job before
// the first action's, so a recomputed partition is the same as the lost
// one.
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
// from its lineage and must come out the same.
//
// Actions compute on the executors and send the driver little: Reduce,
// Fold and Aggregate one value per partition, TreeReduce and
// TreeAggregate one per group of partitions, Top and TakeOrdered k per
// partition, Stats, Histogram and CountApproxDistinct a summary. The
// functions given to an action are made in the driver's main, outside any
// Func, so executors find them another way: in local mode any function is
// called directly (and may run concurrently for different partitions); on
// a cluster and with --local-cluster a function that captures no
// variables (a top-level function, or a literal that uses only its
// parameters, package-level names and constants) is sent by reference to
// its place in the binary, which every executor runs too, and checked
// there. A closure that captures variables cannot cross: Reduce, Fold,
// Aggregate, the tree actions and the ...Func orderings then apply it in
// the driver, to every element, with the same answer; ForEachPartition
// returns an error naming the call before any task runs. ForEach always
// calls its function in the driver.
//
//	top, err := rdd.TopFunc(ctx, session, counts, 10, func(a, b rdd.Pair[string, int64]) int {
//		return cmp.Compare(a.Value, b.Value)
//	})
//
// Persist keeps an RDD's computed partitions on the executors for later
// jobs, at a StorageLevel: MemoryOnly (Cache), DiskOnly or MemoryAndDisk.
// Every level is serialized (see StorageLevel for why); a partition that
// was not kept is recomputed from lineage. Unpersist drops the kept
// partitions on every executor. Checkpoint writes an RDD's partitions to
// the driver's checkpoint directory (a file system the driver and every
// worker share) before the next action that needs it, and truncates the
// lineage there: later jobs and recovery read the files, so the data
// outlive every worker that computed them. The level and the checkpoint
// are the driver's decision, sent with every task, so both may be set in
// main on the RDD that Invoke returned:
//
//	counts := wordCount.Invoke(paths).Persist(rdd.MemoryAndDisk)
//	n, err := rdd.Count(ctx, session, counts)        // computes and keeps
//	top, err := rdd.Take(ctx, session, counts, 10)   // reads what was kept
//	err = counts.Unpersist(ctx, session)
//
// LocalCheckpoint(r), inside the Func, keeps r on the executors' storage
// instead: its partitions are written once, whole and in order, as the map
// outputs of a shuffle that any worker's tasks can read, and later jobs
// skip the lineage below it. Unlike Spark's, a local checkpoint lost with
// its worker is recomputed from the lineage behind it, not a failed job.
//
// Shared variables carry what the Func's argument and the binary cannot.
// A Broadcast is a value the driver computes at run time (a lookup table,
// a model): NewBroadcast(session, v) makes a small handle that goes in a
// Func's argument, and Value returns v in the driver and on every
// executor, which fetches it from the driver once and keeps it. An
// Accumulator, registered at package level like a Func
// (NewInt64Accumulator, NewFloat64Accumulator, NewAccumulator with an add
// function), counts what tasks see: user functions that take the task's
// context (MapErr, FlatMapErr) call Add(ctx, v), and the driver reads
// Value. A task's updates reach the driver with its success and are
// applied once per partition of a job in the stage the action reads,
// however often the task ran; in earlier stages (before a shuffle), on
// every success, as Spark does for transformations.
//
//	type args struct {
//		Paths []string
//		Stop  rdd.Broadcast[map[string]bool]
//	}
//	var dropped = rdd.NewInt64Accumulator("stop words dropped")
//	var count = rdd.Func(func(a args) *rdd.RDD[string] {
//		return rdd.FlatMapErr(rdd.TextFile(a.Paths...), func(ctx context.Context, w string, emit func(string) bool) error {
//			if a.Stop.Value()[w] {
//				dropped.Add(ctx, 1)
//			} else {
//				emit(w)
//			}
//			return nil
//		})
//	})
//
//	stop, err := rdd.NewBroadcast(session, stopWords)
//	n, err := rdd.Count(ctx, session, count.Invoke(args{paths, stop}))
//	fmt.Println(n, "words,", dropped.Value(), "stop words")
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
// A line of TextFile is not copied for the function it is handed to: it
// is a substring of one string per read chunk (about 1 MiB), a buffer that
// is never written again. So a function may keep a line, as it may keep
// any Go string, but a kept line keeps its whole chunk in memory: to keep
// a small part of many lines, keep strings.Clone(part). The by-key
// operations copy the string keys they hold, so a ReduceByKey over words
// pins no chunk.
//
//	var events = rdd.Func(func(paths []string) *rdd.RDD[Event] { return rdd.JSONLines[Event](paths...) })
//
//	err := rdd.SaveAsParquet(ctx, session, events.Invoke(paths), "out/")
package rdd
