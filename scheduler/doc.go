// Package scheduler turns jobs into stages and tasks and follows them to
// the end. Stages are cut at shuffle dependencies and narrow dependencies
// are pipelined in one task; a map stage whose outputs all exist is skipped,
// and stages shared by several jobs run once.
//
// The Scheduler is a state machine in the manner of etcd's raft: events in
// (a job submitted, a task finished or failed, a worker offered slots),
// actions out (launch a task, deliver a result, end a job). It runs no
// goroutines, reads no clock and does no I/O; the driver owns those and
// feeds the events in.
//
//	s := scheduler.New(scheduler.DefaultConfig())
//	acts := s.Step(scheduler.WorkerAdded{Worker: "local", Slots: 2})
//	acts = s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: g.Nodes(), Node: final, Partitions: parts})
//	for _, a := range acts {
//		switch a := a.(type) {
//		case scheduler.LaunchTask:
//			// run a.Task on a.Worker, then Step its TaskSucceeded or TaskFailed
//		}
//	}
//
// Every decision is a Step, so the same events always give the same
// actions (golden traces in testdata/*.trace, rendered by each event's and
// action's String): a commit request (CommitRequested, answered by
// CommitAnswered), a drain (WorkerDraining with Move, then DrainWorker), a
// forgotten lineage (GraphForgotten, then GraphReleased) and jobs stranded
// without workers (Config.StrandedAfter, by Tick time).
//
// Each event costs amortised O(log n) whatever the job's size: stages are
// task sets with counters of missing outputs, launchable attempts wait in
// FIFO queues, free slots are indexed by worker, and a reducer gets a
// snapshot of the map-output table (ShuffleInput), which lists only the
// non-empty blocks of the partition it reads. Map output sizes are kept
// compactly, exact while small (see compressSizes).
//
// A task that fails (the user's error or panic) is retried until it has
// failed Config.MaxTaskFailures times, then its jobs fail with an error
// wrapping the last attempt's (errors.Is and errors.As reach it). A failure
// marked Permanent (an error that cannot change on retry) fails its jobs
// on the first attempt; the caller classifies, the scheduler only counts.
// A task that is lost (infrastructure) is retried without counting against
// that limit, up to Config.MaxTaskLosses.
package scheduler
