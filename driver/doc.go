// Package driver runs a Sluice program: Main parses the shared flags,
// opens a Session and hands it to the program, which passes it to rdd's
// actions as their Runner.
//
//	func main() {
//		driver.Main(func(ctx context.Context, s *driver.Session) error {
//			return rdd.SaveAsTextFile(ctx, s, wordCount.Invoke(pflag.Args()), *output)
//		})
//	}
//
// Local mode is the default: tasks run in the driver's process on an
// executor with --parallelism slots (one per core), through the same
// scheduler, task runner and shuffle files that a cluster uses.
//
// --local-cluster N (Config.LocalCluster) runs local mode's tasks in N
// executor processes of the program instead, started by worker daemons in
// the driver's process exactly as a cluster's workers start them: an
// executor gets the binary, the driver's arguments and environment, and
// the Func's argument, and nothing the driver computes at run time, so a
// program that reads, in a task, state that does not reach executors
// shows it on one machine.
//
// Actions run from several goroutines at once run their jobs at once,
// sharing the slots: --scheduler-mode fifo (the default: the job submitted
// first gets the slots first) or fair, where jobs in different pools share
// slots as Spark's fair scheduler shares them, by each pool's weight and
// minimum share (--scheduler-pool NAME:weight=W,minshare=M). A job runs in
// the pool its context names (WithPool); jobs in one pool run first come,
// first served:
//
//	g, gctx := errgroup.WithContext(ctx)
//	g.Go(func() error { return rdd.SaveAsTextFile(driver.WithPool(gctx, "etl"), s, big, out) })
//	g.Go(func() error { _, err := rdd.Count(driver.WithPool(gctx, "adhoc"), s, small); return err })
//	err := g.Wait()
//
// --memory SIZE bounds each running task's buffers: map-side combining
// tables and sort buffers (by their allocated capacity) spill sorted runs
// to disk before passing it. A process that runs tasks (local mode's
// driver, an executor) also holds the Go heap to --memory × its slots plus
// 24 MiB less what the sorter maps outside the heap for its arenas, as a
// soft limit (debug.SetMemoryLimit) that rises only with a
// live heap above it (cached partitions, collected results), unless
// GOMEMLIMIT is set or the program set a limit itself. The process's peak
// resident memory then stays within --memory × slots + 64 MiB: the 24 MiB
// of heap room, the binary's own resident pages (about 21 MiB) and a
// margin. Measured on two slots: sortlines and sort with --memory 64MiB
// on 256 MiB of input peak at 165 to 181 MiB. The sorter's arrays, the
// open runs' read buffers while merging included, are in --memory; stream
// buffers (block readers and writers, 1 MiB input reads, a reducer's
// fetches ahead, at most 8 MiB) are in the 64 MiB.
//
// Reliable checkpoints (rdd.RDD.Checkpoint) go under --checkpoint-dir or
// the directory Session.SetCheckpointDir sets.
//
// The shared flags are registered on pflag.CommandLine when this package
// initializes, so a program may call pflag.Parse() itself before Main:
// --parallelism N, --local-cluster N, --memory SIZE (per-task buffers
// before spilling), --cache-memory SIZE (persisted partitions in memory
// per executor, least recently used evicted), --cache-disk SIZE (persisted
// partitions on disk per executor), --checkpoint-dir DIR,
// --scheduler-mode fifo|fair, --scheduler-pool NAME:weight=W,minshare=M,
// --shuffle-codec s2|snappy|zstd|none, --local-dir DIR,
// -v, and the cluster flags (--join and the rest). Usage describes the
// program's positional arguments in its --help.
package driver
