// Package task is the contract between the rdd package and the runtimes
// that run its lineages: the executor (worker), the driver's session and
// the scheduler. A user program never names it; rdd keeps only what users
// write programs with.
//
// The rdd package builds a lineage into a Graph with stable ids; a runtime
// reads its shape (Nodes) to plan stages, and runs its tasks (RunMap,
// RunResult) with a Context that supplies shuffle storage, a cache and an
// output committer:
//
//	g, err := task.Rebuild(spec.Invocation) // on an executor
//	out, err := g.RunResult(ctx, tc, node, part, task.Action{Kind: task.ActCount})
//
// Shared variables cross here too (shared.go): a driver serves broadcast
// values (BroadcastData) and applies accumulator updates
// (ApplyAccumulators); an executor process fetches values through the
// fetcher it installs (SetBroadcastFetcher) and collects each task's
// updates in the Accumulators its context carries.
//
// Graphs are built by rdd's unexported code, which it installs here at
// init (Install) as part of the Func registry: every process that imports
// rdd has it.
package task
