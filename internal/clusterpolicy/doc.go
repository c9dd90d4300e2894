// Package clusterpolicy holds the rules by which the driver judges and
// uses the workers of a cluster, as pure functions and small state
// machines: no clock, no goroutines, no I/O. The caller passes the time
// and what it heard; the package says what follows. The driver
// (driver/heartbeat.go, drain.go, cluster.go) runs these rules on the
// wall clock against real executors, and internal/simcluster runs the same
// rules on its virtual clock, so a simulated cluster is judged exactly as
// a real one is.
//
// The rules:
//
//   - Frozen executors: an executor whose last answered heartbeat is more
//     than the heartbeat timeout old is frozen (Frozen): its running tasks
//     are lost and its worker is asked to replace it. Heartbeats go every
//     HeartbeatInterval.
//   - Flapping: a FlapDetector follows one executor's heartbeats; one that
//     misses FlapMissed beats in a row and answers again has flapped, and
//     one that flaps FlapCount times within FlapWindow is flapping: the
//     driver excludes it from new tasks for FlapExclude
//     (scheduler.WorkerFlapping).
//   - Where copies go: CopyTarget picks the core worker that receives a
//     copy of a map output, a replica (--shuffle-replicas 1) or an output
//     moved off a draining worker: among ready core workers that are not
//     draining and not the source, in name order, number map % count.
//
// The order of a drain is not decided here: the scheduler's DrainWorker
// action lists the outputs to move, and the caller moves them in that
// order, each to CopyTarget's choice at the time it is moved, stopping when
// no core worker can take one (what is left is recomputed if the worker
// goes).
//
// A use, in a heartbeat loop:
//
//	if clusterpolicy.Frozen(lastAnswered, now, timeout) {
//		// replace the executor; its tasks are lost
//	}
//	if det.Beat(answered, now) {
//		// step scheduler.WorkerFlapping{Worker: name, For: clusterpolicy.FlapExclude}
//	}
package clusterpolicy
