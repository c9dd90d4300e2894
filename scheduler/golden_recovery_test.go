package scheduler_test

import (
	"errors"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// More recovery scenarios for TestGoldenTraces (golden_test.go): losses at
// each point of a job, a loss that reaches back two stages, and exclusion.
func init() {
	for name, s := range map[string]struct {
		run func(tr *tracer)
		end string
	}{
		// A task worker is lost during the map phase, after one of its
		// maps wrote its output: that output and its running map are
		// redone elsewhere.
		"loss-map-phase": {func(tr *tracer) {
			nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
			tr.step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
			tr.step(scheduler.WorkerAdded{Worker: "task1", Slots: 2})
			tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
			for i, l := range tr.queue {
				if l.Worker == "task1" {
					tr.queue = append(tr.queue[:i:i], tr.queue[i+1:]...)
					tr.succeed(l, "")
					break
				}
			}
			tr.step(scheduler.WorkerRemoved{Worker: "task1", Reason: "killed"})
			tr.drainQueue(map[string]bool{"task1": true})
		}, "JobSucceeded job=1"},
		// A worker holding a map output is lost after one result was
		// delivered: the other reducer fails to fetch it, the output is
		// recomputed, and only the missing result runs again.
		"loss-during-reduce": {func(tr *tracer) {
			nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
			for _, w := range []string{"core", "task1", "task2"} {
				tr.step(scheduler.WorkerAdded{Worker: w, Slots: 1})
			}
			tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
			for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
				tr.succeed(tr.next(), "")
			}
			// The reducer of partition 1 reads nothing (the map outputs'
			// blocks of it are empty): it finishes, partition 0's does not.
			r0, r1 := tr.next(), tr.next()
			tr.succeed(r1, "")
			lost, ok := readFrom(r0, r0.Worker, true)
			if !ok {
				tr.t.Fatal("the reducer of partition 0 reads nothing from another worker")
			}
			tr.step(scheduler.WorkerRemoved{Worker: lost.Worker, Reason: "killed"})
			tr.step(scheduler.FetchFailed{TaskID: r0.Task.ID, Shuffle: r0.Task.Inputs[0].Shuffle, Map: lost.Map, Worker: lost.Worker, Gen: lost.Gen, Err: "connection refused"})
			tr.drainQueue(map[string]bool{lost.Worker: true})
		}, "JobSucceeded job=1"},
		// A worker holding outputs of both shuffles of a two-shuffle
		// lineage is lost while the final stage runs: the lost outputs of
		// the second shuffle were computed from lost outputs of the first,
		// so recomputation reaches back two stages.
		"cascading-loss": {func(tr *tracer) {
			nodes, final := nodesOf(tr.t, groupTwiceFunc.Invoke(0))
			tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 1})
			tr.step(scheduler.WorkerAdded{Worker: "w2", Slots: 1})
			tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0}})
			for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
				tr.succeed(tr.next(), "")
			}
			r := tr.next()
			tr.step(scheduler.WorkerRemoved{Worker: "w1", Reason: "killed"})
			if r.Worker != "w1" {
				b, ok := readFrom(r, "w1", false)
				if !ok {
					tr.t.Fatal("the result task reads nothing from w1")
				}
				tr.step(scheduler.FetchFailed{TaskID: r.Task.ID, Shuffle: r.Task.Inputs[0].Shuffle, Map: b.Map, Worker: b.Worker, Gen: b.Gen, Err: "connection refused"})
			}
			tr.drainQueue(map[string]bool{"w1": true})
		}, "JobSucceeded job=1"},
		// Two machine failures on w1 exclude it for ExcludeFor: retries
		// go to w2 alone, and once the exclusion has passed a new job's
		// tasks go to w1 again.
		"exclusion": {func(tr *tracer) {
			nodes, final := nodesOf(tr.t, narrowFunc.Invoke(4))
			tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 2})
			tr.step(scheduler.WorkerAdded{Worker: "w2", Slots: 1})
			tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
			for range 2 {
				l := tr.next()
				tr.step(scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("disk full"), Lost: true, Machine: true})
			}
			tr.drainQueue(nil)
			tr.step(scheduler.Tick{Now: scheduler.DefaultConfig().ExcludeFor + time.Second})
			tr.step(scheduler.JobSubmitted{Job: 2, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
			tr.drainQueue(nil)
		}, "JobSucceeded job=2"},
	} {
		goldenScenarios[name] = s.run
		endsWith[name] = s.end
	}
}

// readFrom returns the first block of l's first input that lives on
// worker (or, with not, anywhere but on worker).
func readFrom(l scheduler.LaunchTask, worker string, not bool) (scheduler.MapBlock, bool) {
	for _, b := range l.Task.Inputs[0].Blocks() {
		if (b.Worker == worker) != not {
			return b, true
		}
	}
	return scheduler.MapBlock{}, false
}
