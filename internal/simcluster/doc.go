// Package simcluster runs the real scheduler against a simulated cluster
// on a virtual clock, to test recovery and measure the scheduler at sizes
// no test cluster reaches: 100,000 tasks on 1,000 workers, on one core.
//
// A run is a queue of events ordered by virtual time (ties in the order
// they were scheduled), drawn from one seed with math/rand/v2; nothing
// reads the wall clock except the measurement of time spent in
// Scheduler.Step. Each draw comes from its own stream, keyed by what it
// decides (a task's partition and attempt, a worker's index), so two
// configurations with the same seed meet the same task durations and the
// same reclamation times: comparing them compares the policy, not the luck.
//
// What is real: scheduler.Scheduler, fed the events the driver's loop feeds
// it (WorkerAdded, JobSubmitted, TaskSucceeded, TaskFailed, FetchFailed,
// WorkerDraining, WorkerFlapping, MapOutputMoved, WorkerRemoved, Tick),
// its actions carried out (LaunchTask, KillTask, DrainWorker,
// DeliverResult, the job's end; an action the simulator does not know ends
// the run with an error rather than skew its figures). Also real: the
// driver's cluster rules, from internal/clusterpolicy, the package the
// driver itself calls (driver/heartbeat.go, drain.go, cluster.go):
//
//   - Frozen executors: clusterpolicy.Frozen on the last answered
//     heartbeat, beats every clusterpolicy.HeartbeatInterval of
//     HeartbeatTimeout. A frozen executor's attempts are lost as the
//     driver's loop loses them (WorkerDraining without Move to pause the
//     worker, then TaskFailed Lost), tasks launched on the worker before a
//     new executor is up come back lost at once, and ExecutorStart later
//     the worker is offered again (WorkerAdded). Its map outputs stay.
//   - Flapping: one clusterpolicy.FlapDetector per watched executor, fed
//     each beat's answer; flapping steps WorkerFlapping for
//     clusterpolicy.FlapExclude.
//   - Where copies go: clusterpolicy.CopyTarget over the core nodes in
//     name order, as the driver sees them (not withdrawn, executor up, not
//     draining, not the source), for replicas and for drained outputs.
//
// Heartbeats are simulated only for the executors named in Config.Freezes
// and Config.Flaps: a healthy executor answers every beat, and neither rule
// can fire on it, so beating the others would cost events and change
// nothing.
//
// What is simulated, each after the behaviour of the code it stands for:
//
//   - Workers: core and task nodes with slots. A task computes for a
//     log-normal time with stragglers, then reads its shuffle inputs in map
//     order (as worker's chainReader does) at Bandwidth, paying
//     FetchLatency per other worker; a holder that is gone makes it report
//     FetchFailed naming that output, unless the output's replica lives
//     (the executor falls back to it). FetchFailureRate adds failures from
//     live holders. Without reclamation, fetch failures or a trace
//     nothing can fail, and a task's reads are taken from where the
//     simulator knows each output lives rather than from the inputs the
//     scheduler gave it: reading those materialises every block of every
//     running task, which at 10k × 10k costs more than the scheduler.
//   - Executor faults: a Freeze stops an executor (no beat answered, no
//     task finished); a Flap loses its heartbeat answers for part of each
//     period, and only those: the calls of its tasks are not cut.
//   - Membership: a task node reclaimed without notice vanishes; the
//     driver hears of it DetectAfter later (memberlist's suspicion time)
//     and steps WorkerRemoved. With Notice, the node drains as on SIGTERM:
//     after GossipDelay the driver steps WorkerDraining (Move), and on the
//     scheduler's DrainWorker (once none of its attempts runs) copies its
//     outputs one by one, in the action's order, each to CopyTarget's
//     choice, stepping MapOutputMoved for each, and stops when no core
//     node can take one, as driver/drain.go does; then the node leaves. It
//     leaves anyway after DrainTimeout (the worker daemon's), and if the
//     notice runs out first it is a sudden loss from there. A replacement
//     joins ReplaceAfter later.
//   - Replicas (--shuffle-replicas 1): a map task on a task node counts as
//     done only after its output is copied to a core node, as the driver's
//     replicate does.
//   - RPC: calls take no time but transfers (Bandwidth, FetchLatency) and
//     KillDelay; a heartbeat is answered at once or missed.
//
// Still not run: the driver's goroutines, RPC clients and memberlist node
// (driver/cluster.go, members.go), which live on the wall clock (those
// tests live with the driver, against internal/simnet), and
// internal/membership over internal/simnet: memberlist draws its own
// randomness and runs timers, so a run would not be a function of its
// seed, and 1,000 gossiping nodes for an hour of virtual time cost far
// more than the scheduler under test. Membership's failure-detection delay
// (DetectAfter) and gossip delay (GossipDelay) are modelled as fixed
// delays; the wiring above (which event follows which) is copied from the
// driver and must follow it when it changes.
//
// Run reports virtual job time, tasks launched and recomputed, stages
// recomputed, bytes moved, and the real time spent in the scheduler:
//
//	cfg := simcluster.DefaultConfig()
//	cfg.Maps, cfg.Reduces, cfg.TaskWorkers = 10_000, 1_000, 96
//	cfg.ReclaimRate, cfg.Notice = 0.2, 2*time.Minute // 20% of task nodes an hour, drained
//	r, err := simcluster.Run(cfg)
//	fmt.Print(r) // job time, recomputations, bytes, scheduler CPU per event
//
// The same Config gives the same Report, but for the measured figures
// (Report.Deterministic), and the same trace of events and actions
// (Config.Trace, Report.TraceHash).
package simcluster
