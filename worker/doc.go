// Package worker runs tasks. Its Executor rebuilds a job's lineage from the
// Func registry and runs map and result tasks against shuffle files on
// local disk; local mode runs one in the driver's process, and in a cluster
// each worker daemon runs one per application.
//
//	ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "local", Dir: dir, Codec: block.S2, Committer: c})
//	res := ex.Run(ctx, &worker.TaskSpec{Invocation: g.Invocation(), GraphDigest: g.Digest(), Task: task})
//
// A task that returns an error or panics has failed (TaskFailed, with the
// panic's stack); one stopped by its context is lost (TaskLost).
package worker
