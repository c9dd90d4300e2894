// Package mapreduce is Hadoop's MapReduce model in Go, compiled onto rdd.
//
// A Job names an Input, a Mapper that turns each input record into
// key-value pairs, an optional Combiner, a Partitioner, a Reducer that
// reads each group's values as a stream (iter.Seq[V]) and an Output.
// Keys are sorted by the bytes of an order-preserving encoding (KeyOrder,
// Hadoop's RawComparator) and grouped by equal keys or by a grouping
// comparator, for secondary sort. Both sides sort within the task's memory
// budget (--memory), spilling sorted runs to disk and merging them: a key
// with ten million values holds no list of them anywhere.
//
// Register compiles a Job into a two-stage lineage (rdd.GroupSorted)
// inside an rdd.Func, so it must be called at package level, like
// rdd.Func; Run runs it, from the function given to driver.Main. Map
// outputs, lost workers and retries are handled as for any shuffle.
//
// Counters are Hadoop's: the built-in ones of the group TaskCounters
// (MAP_INPUT_RECORDS, SPILLED_RECORDS, REDUCE_SHUFFLE_BYTES, ...) and the
// user's, counted with Count from the ctx a Mapper, Combiner or Reducer
// gets. A task's counters travel with the output the job used (a map
// task's inside its map output, read by the last reduce partition; a
// reduce task's with its result), so each task is counted exactly once,
// from the attempt that won, whatever failed, was lost or was recomputed.
// Run returns them, and driver.Session puts them in the job summary
// (--job-summary).
//
//	var wordCount = mapreduce.Register(mapreduce.Job[string, string, int64, rdd.Pair[string, int64]]{
//		Input: mapreduce.TextInput,
//		Mapper: mapreduce.MapperFunc[string, string, int64](func(ctx context.Context, line string, emit func(string, int64)) error {
//			for w := range strings.FieldsSeq(line) {
//				emit(w, 1)
//			}
//			return nil
//		}),
//		Combiner: mapreduce.CombinerFunc[string, int64](sum),
//		Reducer:  mapreduce.ReducerFunc[string, int64, rdd.Pair[string, int64]](...),
//		Output:   mapreduce.TextOutput[rdd.Pair[string, int64]](),
//	})
//
//	driver.Main(func(ctx context.Context, s *driver.Session) error {
//		_, err := wordCount.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: *output})
//		return err
//	})
//
// Inputs are any rdd source (Input: rdd.TextFile's lines, rdd.JSONLines,
// rdd.Parquet, ...); outputs implement Output: TextOutput and
// ParquetOutput, or your own.
package mapreduce
