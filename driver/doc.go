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
// The shared flags: --parallelism N, --memory SIZE (per-task buffers before
// spilling), --shuffle-codec s2|snappy|zstd|none, --local-dir DIR, and -v.
package driver
