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
// WorkerDraining, MapOutputMoved, WorkerRemoved, Tick), its actions carried
// out (LaunchTask, KillTask, DrainWorker, DeliverResult, the job's end; an
// action the simulator does not know ends the run with an error rather
// than skew its figures). What is simulated, each after the behaviour of
// the code it stands for:
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
//   - Membership: a task node reclaimed without notice vanishes; the
//     driver hears of it DetectAfter later (memberlist's suspicion time)
//     and steps WorkerRemoved. With Notice, the node drains as on SIGTERM:
//     after GossipDelay the driver steps WorkerDraining (Move), and on the
//     scheduler's DrainWorker (once none of its attempts runs) copies its
//     outputs one by one to core nodes (the driver's choice: core number
//     map % cores) stepping MapOutputMoved for each, and the node leaves; it leaves anyway after DrainTimeout (the
//     worker daemon's), and if the notice runs out first it is a sudden
//     loss from there. A replacement joins ReplaceAfter later.
//   - Replicas (--shuffle-replicas 1): a map task on a task node counts as
//     done only after its output is copied to a core node, as the driver's
//     replicate does.
//
// The driver's cluster code itself (driver/cluster.go, members.go,
// drain.go, heartbeat.go) is not run: it is goroutines around RPC clients
// and a memberlist node on the wall clock, so it cannot run on a virtual
// clock without processes or its own fakes (those tests live with the
// driver, against internal/simnet). Nor is internal/membership over
// internal/simnet: memberlist draws its own randomness and runs timers, so
// a run would not be a function of its seed, and 1,000 gossiping nodes for
// an hour of virtual time cost far more than the scheduler under test. The
// driver's flap detector only matters for links that come and go, which
// the simulator does not model. The rules above are copied from that code
// and must follow it when it changes.
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
