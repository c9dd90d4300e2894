package scheduler_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// Golden traces of recovery scenarios, as etcd/raft's interaction tests
// keep them: every event stepped ("> ") and every action it gave, one line
// each, in testdata/<scenario>.trace. go test ./scheduler -update rewrites
// them; a diff in review shows what a change does to the scheduler's
// decisions. Each scenario runs twice: the same events must give the same
// bytes.

// tracer steps a scheduler and records the trace.
type tracer struct {
	t     *testing.T
	s     *scheduler.Scheduler
	b     strings.Builder
	queue []scheduler.LaunchTask
	ask   int64
}

func newTracer(t *testing.T, cfg scheduler.Config) *tracer {
	return &tracer{t: t, s: scheduler.New(cfg)}
}

func (tr *tracer) step(ev interface {
	scheduler.Event
	String() string
}) []scheduler.Action {
	tr.b.WriteString("> " + scheduler.Format(ev) + "\n")
	acts := tr.s.Step(ev)
	for _, a := range acts {
		tr.b.WriteString("  " + scheduler.Format(a.(interface{ String() string })) + "\n")
		if l, ok := a.(scheduler.LaunchTask); ok {
			tr.queue = append(tr.queue, l)
		}
	}
	return acts
}

// next takes the oldest launched task off the queue.
func (tr *tracer) next() scheduler.LaunchTask {
	if len(tr.queue) == 0 {
		tr.t.Fatal("no task to complete")
	}
	l := tr.queue[0]
	tr.queue = tr.queue[1:]
	return l
}

// succeed completes l, a map task with an output on its worker (and a
// replica, if given).
func (tr *tracer) succeed(l scheduler.LaunchTask, replica string) {
	if l.Task.Kind == scheduler.MapTask {
		tr.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Replica: replica, Sizes: []int64{3, 0, 5, 7}}})
		return
	}
	tr.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte{byte('a' + l.Task.Partition)}})
}

// drainQueue completes every queued task, skipping those on dead workers.
func (tr *tracer) drainQueue(dead map[string]bool) {
	for n := 0; len(tr.queue) > 0; n++ {
		if n > 1000 {
			tr.t.Fatal("the scenario does not end")
		}
		l := tr.next()
		if dead[l.Worker] {
			continue
		}
		tr.succeed(l, "")
	}
}

var goldenScenarios = map[string]func(tr *tracer){
	// A task worker dies after the maps, before the reducers fetch: its
	// outputs are recomputed, and only those.
	"loss-before-fetch": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
		tr.step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
		tr.step(scheduler.WorkerAdded{Worker: "task1", Slots: 2})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			tr.succeed(tr.next(), "")
		}
		dead := map[string]bool{"task1": true}
		tr.step(scheduler.WorkerRemoved{Worker: "task1", Reason: "killed"})
		tr.drainQueue(dead)
	},
	// A reducer reports a fetch failure; a second reducer's report, about
	// the same registration, arrives after the recomputation and is stale.
	"stale-fetch-failure": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
		tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 3})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			tr.succeed(tr.next(), "")
		}
		r0, r1 := tr.next(), tr.next()
		old, _ := r0.Task.Inputs[0].Block(0)
		tr.step(scheduler.FetchFailed{TaskID: r0.Task.ID, Shuffle: r0.Task.Inputs[0].Shuffle, Map: 0, Worker: old.Worker, Gen: old.Gen, Err: "checksum"})
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			tr.succeed(tr.next(), "")
		}
		tr.step(scheduler.FetchFailed{TaskID: r1.Task.ID, Shuffle: r1.Task.Inputs[0].Shuffle, Map: 0, Worker: old.Worker, Gen: old.Gen, Err: "late"})
		tr.drainQueue(nil)
	},
	// Map outputs with replicas on a core worker: losing the task worker
	// moves them, with new generations, and recomputes nothing.
	"replicas": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, joinFunc.Invoke(0))
		tr.step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
		tr.step(scheduler.WorkerAdded{Worker: "task", Slots: 8})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			tr.succeed(tr.next(), "core")
		}
		tr.step(scheduler.WorkerRemoved{Worker: "task", Reason: "spot reclaimed"})
		tr.drainQueue(map[string]bool{"task": true})
	},
	// A decommissioning worker: no new tasks, its outputs move once its
	// last attempt ends, then it leaves and nothing is recomputed.
	"drain": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
		tr.step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
		tr.step(scheduler.WorkerAdded{Worker: "task", Slots: 2})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		tr.succeed(tr.next(), "")
		tr.step(scheduler.WorkerDraining{Worker: "task", Move: true})
		var moves []scheduler.DrainWorker
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			l := tr.next()
			for _, a := range tr.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Sizes: []int64{1, 1}}}) {
				if d, ok := a.(scheduler.DrainWorker); ok {
					moves = append(moves, d)
				}
			}
		}
		if len(moves) != 1 {
			tr.t.Fatalf("DrainWorker %d times, want once", len(moves))
		}
		for _, ref := range moves[0].Outputs {
			tr.step(scheduler.MapOutputMoved{Output: ref, From: "task", To: "core"})
		}
		tr.step(scheduler.WorkerRemoved{Worker: "task", Reason: "drained"})
		tr.drainQueue(nil)
	},
	// Commit fencing: an attempt recorded lost asks to commit after its
	// retry runs; it is denied, the retry is granted, and a grant that
	// goes silent is released after CommitTimeout.
	"commit": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, narrowFunc.Invoke(4))
		tr.step(scheduler.Tick{Now: time.Second})
		tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 1})
		tr.step(scheduler.WorkerAdded{Worker: "w2", Slots: 2})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		other, zombie := tr.next(), tr.next()
		tr.step(scheduler.WorkerRemoved{Worker: zombie.Worker, Reason: "partitioned"})
		retry := tr.next()
		tr.step(scheduler.CommitRequested{Ask: 1, Stage: zombie.Task.Stage, Part: zombie.Task.Partition, Attempt: zombie.Task.Attempt})
		tr.step(scheduler.CommitRequested{Ask: 2, Stage: retry.Task.Stage, Part: retry.Task.Partition, Attempt: retry.Task.Attempt})
		tr.step(scheduler.CommitRequested{Ask: 3, Stage: other.Task.Stage, Part: other.Task.Partition, Attempt: other.Task.Attempt})
		tr.succeed(retry, "")
		tr.step(scheduler.Tick{Now: 2*time.Second + scheduler.DefaultConfig().CommitTimeout})
		tr.step(scheduler.WorkerAdded{Worker: "w3", Slots: 1})
		tr.step(scheduler.TaskFailed{TaskID: other.Task.ID, Err: errors.New("cut off"), Lost: true})
		tr.drainQueue(nil)
	},
	// Losing an output of an indeterminate stage reruns it whole, with
	// everything downstream.
	"indeterminate": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, repartitionFunc.Invoke(0))
		tr.step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
		tr.step(scheduler.WorkerAdded{Worker: "task1", Slots: 1})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		for len(tr.queue) > 0 && tr.queue[0].Task.Kind == scheduler.MapTask {
			tr.succeed(tr.next(), "")
		}
		tr.step(scheduler.WorkerRemoved{Worker: "task1", Reason: "killed"})
		tr.drainQueue(map[string]bool{"task1": true})
	},
	// No worker can take tasks for StrandedAfter: the job fails.
	"stranded": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, narrowFunc.Invoke(4))
		tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 1})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		tr.step(scheduler.WorkerRemoved{Worker: "w1", Reason: "killed"})
		for sec := 1; sec <= 4; sec++ {
			tr.step(scheduler.Tick{Now: time.Duration(sec) * time.Second})
		}
	},
	// A graph forgotten while an attempt of it runs is released when the
	// attempt ends.
	"forget": func(tr *tracer) {
		nodes, final := nodesOf(tr.t, wordCountFunc.Invoke([]string{"a"}))
		tr.step(scheduler.WorkerAdded{Worker: "w1", Slots: 2})
		tr.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
		tr.step(scheduler.JobCancelled{Job: 1})
		tr.step(scheduler.GraphForgotten{Graph: 1})
		tr.succeed(tr.next(), "")
		tr.step(scheduler.TaskFailed{TaskID: tr.next().Task.ID, Err: errors.New("killed"), Lost: true})
	},
}

// endsWith is what each scenario must come to.
var endsWith = map[string]string{
	"loss-before-fetch":   "JobSucceeded job=1",
	"stale-fetch-failure": "JobSucceeded job=1",
	"replicas":            "JobSucceeded job=1",
	"drain":               "JobSucceeded job=1",
	"commit":              "JobSucceeded job=1",
	"indeterminate":       "JobSucceeded job=1",
	"stranded":            "JobFailed job=1",
	"forget":              "GraphReleased graph=1",
}

func goldenConfig(name string) scheduler.Config {
	cfg := scheduler.DefaultConfig()
	if name == "stranded" {
		cfg.StrandedAfter = 2 * time.Second
	}
	return cfg
}

func TestGoldenTraces(t *testing.T) {
	for name, run := range goldenScenarios {
		t.Run(name, func(t *testing.T) {
			var traces [2]string
			for i := range traces {
				tr := newTracer(t, goldenConfig(name))
				run(tr)
				traces[i] = tr.b.String()
			}
			if end := endsWith[name]; end != "" && !strings.Contains(traces[0], end) {
				t.Fatalf("the scenario does not end with %s:\n%s", end, traces[0])
			}
			if traces[0] != traces[1] {
				t.Fatalf("the same events gave other actions:\n%s\nthen:\n%s", traces[0], traces[1])
			}
			path := filepath.Join("testdata", name+".trace")
			if *update {
				if err := os.WriteFile(path, []byte(traces[0]), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./scheduler -update to create it)", err)
			}
			if traces[0] != string(want) {
				t.Errorf("trace changed (go test ./scheduler -update rewrites it):\n--- got\n%s--- want\n%s", traces[0], want)
			}
		})
	}
}
