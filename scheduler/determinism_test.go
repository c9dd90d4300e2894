package scheduler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/scheduler"
)

// trace runs a recovery scenario and returns every action, formatted: two
// map stages whose outputs have replicas on a core worker, then the loss of
// the task worker that wrote them, mid-way through the reduce stage.
func trace(t *testing.T) string {
	nodes, final := nodesOf(t, joinFunc.Invoke(0))
	s := scheduler.New(scheduler.DefaultConfig())
	var b strings.Builder
	var queue []scheduler.LaunchTask
	step := func(ev scheduler.Event) {
		for _, a := range s.Step(ev) {
			fmt.Fprintf(&b, "%T %+v\n", a, a)
			if l, ok := a.(scheduler.LaunchTask); ok {
				queue = append(queue, l)
			}
		}
	}
	step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
	step(scheduler.WorkerAdded{Worker: "task", Slots: 8})
	step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
	lost := false
	for n := 0; len(queue) > 0; n++ {
		if n > 1000 {
			t.Fatal("the scenario does not end")
		}
		l := queue[0]
		queue = queue[1:]
		if l.Task.Kind == scheduler.ResultTask && !lost {
			lost = true
			step(scheduler.WorkerRemoved{Worker: "task", Reason: "killed"})
			continue
		}
		if l.Worker == "task" && lost {
			continue // lost with its worker
		}
		if l.Task.Kind == scheduler.MapTask {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Replica: "core", Sizes: []int64{1, 2, 3, 4}}})
		} else {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte{byte(l.Task.Partition)}})
		}
	}
	return b.String()
}

// TestSameEventsSameActions: the scheduler is a deterministic state
// machine, so a scenario replayed gives the same actions, byte for byte,
// including the generations of re-registered map outputs.
func TestSameEventsSameActions(t *testing.T) {
	want := trace(t)
	if !strings.Contains(want, "JobSucceeded") {
		t.Fatalf("the scenario did not end in success:\n%s", want)
	}
	for i := range 50 {
		if got := trace(t); got != want {
			t.Fatalf("run %d gave other actions:\n%s\nwant:\n%s", i+1, got, want)
		}
	}
}
