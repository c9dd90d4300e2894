package scheduler_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

// fakeCluster runs a Scheduler against scripted task outcomes: every
// launched task ends, in launch order, as outcome says.
type fakeCluster struct {
	t        *testing.T
	s        *scheduler.Scheduler
	queue    []scheduler.LaunchTask
	launched []scheduler.Task
	results  map[int]map[int]string // job -> partition -> data
	ended    map[int]error          // job -> nil on success
	outcome  func(task scheduler.Task) scheduler.Event
	ask      int64
}

func newFake(t *testing.T, slots int, outcome func(scheduler.Task) scheduler.Event) *fakeCluster {
	f := &fakeCluster{t: t, s: scheduler.New(scheduler.DefaultConfig()), results: map[int]map[int]string{}, ended: map[int]error{}, outcome: outcome}
	f.step(scheduler.WorkerAdded{Worker: "w1", Slots: slots})
	return f
}

func succeed(task scheduler.Task) scheduler.Event {
	if task.Kind == scheduler.MapTask {
		return scheduler.TaskSucceeded{TaskID: task.ID, MapStatus: &scheduler.MapStatus{Worker: "w1", Sizes: []int64{1, 1, 1, 1}}}
	}
	return scheduler.TaskSucceeded{TaskID: task.ID, Result: []byte(fmt.Sprintf("p%d", task.Partition))}
}

func (f *fakeCluster) step(ev scheduler.Event) { f.apply(f.s.Step(ev)) }

// canCommit asks whether an attempt may commit, through Step as the
// driver asks.
func (f *fakeCluster) canCommit(stage, part, attempt int) bool {
	f.ask++
	acts := f.s.Step(scheduler.CommitRequested{Ask: f.ask, Stage: stage, Part: part, Attempt: attempt})
	ok, n := false, 0
	for _, a := range acts {
		if c, is := a.(scheduler.CommitAnswered); is {
			if c.Ask != f.ask || c.Stage != stage || c.Part != part || c.Attempt != attempt {
				f.t.Fatalf("answer %+v to ask %d (stage %d part %d attempt %d)", c, f.ask, stage, part, attempt)
			}
			ok = c.OK
			n++
		}
	}
	if n != 1 {
		f.t.Fatalf("%d answers to a commit request: %v", n, acts)
	}
	f.apply(acts)
	return ok
}

func (f *fakeCluster) apply(acts []scheduler.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case scheduler.LaunchTask:
			f.queue = append(f.queue, a)
			f.launched = append(f.launched, a.Task)
		case scheduler.DeliverResult:
			if f.results[a.Job] == nil {
				f.results[a.Job] = map[int]string{}
			}
			if _, dup := f.results[a.Job][a.Partition]; dup {
				f.t.Fatalf("partition %d of job %d delivered twice", a.Partition, a.Job)
			}
			f.results[a.Job][a.Partition] = string(a.Data)
		case scheduler.JobSucceeded:
			f.ended[a.Job] = nil
		case scheduler.JobFailed:
			f.ended[a.Job] = a.Err
		}
	}
}

// run completes queued tasks until nothing is left (bounded).
func (f *fakeCluster) run() {
	for i := 0; len(f.queue) > 0; i++ {
		if i > 10000 {
			f.t.Fatal("the scheduler keeps launching tasks")
		}
		l := f.queue[0]
		f.queue = f.queue[1:]
		f.step(f.outcome(l.Task))
	}
}

func (f *fakeCluster) submit(job int, nodes []task.NodeInfo, final int, parts ...int) {
	f.step(scheduler.JobSubmitted{Job: job, Graph: 1, Nodes: nodes, Node: final, Partitions: parts})
}

func (f *fakeCluster) count(kind scheduler.TaskKind, part int) int {
	n := 0
	for _, t := range f.launched {
		if t.Kind == kind && t.Partition == part {
			n++
		}
	}
	return n
}

func TestWordCountRunsMapsThenResults(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 2, succeed)
	f.submit(1, nodes, final, 0, 1)
	if len(f.queue) != 2 || f.queue[0].Task.Kind != scheduler.MapTask {
		t.Fatalf("want two map tasks launched on two slots, got %+v", f.queue)
	}
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
	if got := f.results[1]; got[0] != "p0" || got[1] != "p1" {
		t.Fatalf("results %v", got)
	}
	var maps, results int
	for _, task := range f.launched {
		switch task.Kind {
		case scheduler.MapTask:
			maps++
		case scheduler.ResultTask:
			results++
			if len(task.Inputs) != 1 || task.Inputs[0].Maps() != 3 || len(task.Inputs[0].Blocks()) != 3 {
				t.Fatalf("result task inputs %+v, want one shuffle of 3 map outputs", task.Inputs)
			}
		}
	}
	if maps != 3 || results != 2 {
		t.Fatalf("%d map and %d result tasks, want 3 and 2", maps, results)
	}
}

func TestTaskFailures(t *testing.T) {
	for _, c := range []struct {
		name      string
		fails     int  // failures of map partition 1 before it succeeds
		lost      bool // losses instead of failures
		permanent bool // failures marked as unable to change on retry
		wantErr   error
		attempts  int
	}{
		{"fails three times then succeeds", 3, false, false, nil, 4},
		{"fails four times", 100, false, false, scheduler.ErrTaskFailed, 4},
		{"lost five times then succeeds", 5, true, false, nil, 6},
		{"lost forever", 1000, true, false, scheduler.ErrTaskLost, 16},
		{"permanent: not retried", 100, false, true, scheduler.ErrTaskFailed, 1},
		{"permanent on a lost attempt: ignored", 5, true, true, nil, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
			tries := 0
			errBoom := errors.New("boom")
			f := newFake(t, 2, func(task scheduler.Task) scheduler.Event {
				if task.Kind == scheduler.MapTask && task.Partition == 1 && tries < c.fails {
					tries++
					return scheduler.TaskFailed{TaskID: task.ID, Err: fmt.Errorf("user code: %w", errBoom), Lost: c.lost, Permanent: c.permanent}
				}
				return succeed(task)
			})
			f.submit(1, nodes, final, 0, 1)
			f.run()
			err, ok := f.ended[1]
			if !ok {
				t.Fatal("job did not end")
			}
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("job error %v, want %v", err, c.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "boom") {
				t.Fatalf("job error %q does not carry the task's message", err)
			}
			if c.wantErr == scheduler.ErrTaskFailed && !errors.Is(err, errBoom) {
				t.Fatalf("job error %q does not wrap the task's error", err)
			}
			if got := f.count(scheduler.MapTask, 1); got != c.attempts {
				t.Fatalf("map partition 1 ran %d times, want %d", got, c.attempts)
			}
		})
	}
}

// A permanent failure in a map stage that two jobs share fails both at
// once, and kills the attempts that were still running for them.
func TestPermanentFailureInSharedStage(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	s := scheduler.New(scheduler.DefaultConfig())
	s.Step(scheduler.WorkerAdded{Worker: "w", Slots: 3})
	var running []scheduler.Task
	for _, a := range s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0}}) {
		if l, ok := a.(scheduler.LaunchTask); ok {
			running = append(running, l.Task)
		}
	}
	if acts := s.Step(scheduler.JobSubmitted{Job: 2, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{1}}); len(acts) != 0 {
		t.Fatalf("job 2 launched %+v; want it to share job 1's running map stage", acts)
	}
	if len(running) != 3 || running[0].Kind != scheduler.MapTask {
		t.Fatalf("launched %+v, want the 3 map tasks", running)
	}
	errBad := errors.New("bad input")
	acts := s.Step(scheduler.TaskFailed{TaskID: running[1].ID, Err: errBad, Permanent: true})
	failed := map[int]error{}
	var killed []int64
	for _, a := range acts {
		switch a := a.(type) {
		case scheduler.JobFailed:
			failed[a.Job] = a.Err
		case scheduler.KillTask:
			killed = append(killed, a.TaskID)
		case scheduler.LaunchTask:
			t.Fatalf("a permanent failure launched %+v", a.Task)
		}
	}
	for j := 1; j <= 2; j++ {
		if err := failed[j]; !errors.Is(err, errBad) || !errors.Is(err, scheduler.ErrTaskFailed) {
			t.Fatalf("job %d failed with %v; want it to wrap the task's error and ErrTaskFailed", j, err)
		}
	}
	if fmt.Sprint(killed) != fmt.Sprint([]int64{running[0].ID, running[2].ID}) {
		t.Fatalf("killed %v, want the other map attempts %d and %d", killed, running[0].ID, running[2].ID)
	}
	if s.ActiveJobs() != 0 {
		t.Fatalf("%d jobs still active", s.ActiveJobs())
	}
}

func TestAttemptNumbers(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	failed := false
	f := newFake(t, 1, func(task scheduler.Task) scheduler.Event {
		if task.Partition == 2 && !failed {
			failed = true
			return scheduler.TaskFailed{TaskID: task.ID, Err: errors.New("x")}
		}
		return succeed(task)
	})
	f.submit(1, nodes, final, 0, 1, 2, 3)
	f.run()
	var attempts []int
	for _, task := range f.launched {
		if task.Partition == 2 {
			attempts = append(attempts, task.Attempt)
		}
	}
	if fmt.Sprint(attempts) != "[0 1]" {
		t.Fatalf("attempts of partition 2: %v, want [0 1]", attempts)
	}
}

func TestSecondJobSkipsAvailableMapStage(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 4, succeed)
	f.submit(1, nodes, final, 0, 1)
	f.run()
	before := len(f.launched)
	f.submit(2, nodes, final, 1)
	f.run()
	if err, ok := f.ended[2]; !ok || err != nil {
		t.Fatalf("job 2 ended %v, %v", ok, err)
	}
	extra := f.launched[before:]
	if len(extra) != 1 || extra[0].Kind != scheduler.ResultTask || extra[0].Partition != 1 {
		t.Fatalf("job 2 launched %+v, want only result partition 1", extra)
	}
}

func TestSharedStageRunsOnce(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 1, succeed)
	f.submit(1, nodes, final, 0)
	f.submit(2, nodes, final, 1) // submitted while job 1's maps run
	f.run()
	for j := 1; j <= 2; j++ {
		if err, ok := f.ended[j]; !ok || err != nil {
			t.Fatalf("job %d ended %v, %v", j, ok, err)
		}
	}
	for p := range 3 {
		if n := f.count(scheduler.MapTask, p); n != 1 {
			t.Fatalf("map partition %d ran %d times, want once", p, n)
		}
	}
}

func TestStaleReportsIgnored(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 4, succeed)
	f.submit(1, nodes, final, 0, 1, 2, 3)
	f.run()
	for _, ev := range []scheduler.Event{
		scheduler.TaskSucceeded{TaskID: f.launched[0].ID, Result: []byte("late")},
		scheduler.TaskFailed{TaskID: f.launched[1].ID, Err: errors.New("late")},
		scheduler.TaskSucceeded{TaskID: 999},
	} {
		if acts := f.s.Step(ev); len(acts) != 0 {
			t.Fatalf("%T for a finished task gave actions %+v", ev, acts)
		}
	}
}

func TestJobCancelledStopsLaunching(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 1, succeed)
	f.submit(1, nodes, final, 0, 1, 2, 3)
	f.step(scheduler.JobCancelled{Job: 1})
	f.run()
	if len(f.launched) != 1 || len(f.results[1]) != 0 || f.s.ActiveJobs() != 0 {
		t.Fatalf("after cancel: %d launched, results %v, %d active jobs", len(f.launched), f.results[1], f.s.ActiveJobs())
	}
}

func TestCanCommit(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 4, succeed)
	f.submit(1, nodes, final, 0, 1, 2, 3)
	stage := f.queue[0].Task.Stage
	if !f.canCommit(stage, 0, 0) {
		t.Fatal("first attempt denied")
	}
	if f.canCommit(stage, 0, 1) {
		t.Fatal("second attempt allowed while the first holds the commit")
	}
	if !f.canCommit(stage, 0, 0) {
		t.Fatal("the authorised attempt asking again was denied")
	}
	// The authorised attempt of partition 0 is the first task launched: it
	// fails, so a later attempt may commit.
	f.step(scheduler.TaskFailed{TaskID: f.queue[0].Task.ID, Err: errors.New("died")})
	f.queue = f.queue[1:]
	if !f.canCommit(stage, 0, 1) {
		t.Fatal("attempt 1 denied after the authorised attempt failed")
	}
	if f.canCommit(stage+100, 0, 0) {
		t.Fatal("an unknown stage may commit")
	}
}

// A task queued for a shared stage is launched for a job that is still
// active, even when the job that queued it has ended.
func TestQueuedTaskOutlivesItsFirstJob(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 1, succeed)
	f.submit(1, nodes, final, 0)
	f.submit(2, nodes, final, 1)
	f.step(scheduler.JobCancelled{Job: 1})
	f.run()
	if err, ok := f.ended[2]; !ok || err != nil {
		t.Fatalf("job 2 ended %v, %v", ok, err)
	}
	for _, task := range f.launched[1:] {
		if task.Job != 2 {
			t.Fatalf("task %+v launched for job %d after job 1 ended", task, task.Job)
		}
	}
}

func TestWorkerRemovedLosesItsTasks(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 2, succeed)
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 2})
	f.submit(1, nodes, final, 0, 1, 2, 3)
	var onW2 []scheduler.LaunchTask
	for _, l := range f.queue {
		if l.Worker == "w2" {
			onW2 = append(onW2, l)
		}
	}
	if len(onW2) != 2 {
		t.Fatalf("%d tasks on w2, want 2", len(onW2))
	}
	f.step(scheduler.WorkerRemoved{Worker: "w2", Reason: "killed"})
	// The attempts that ran on w2 report late; they are stale.
	var kept []scheduler.LaunchTask
	for _, l := range f.queue {
		if l.Worker != "w2" {
			kept = append(kept, l)
		}
	}
	f.queue = kept
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
	for _, task := range f.launched[4:] {
		if task.Attempt != 1 {
			t.Fatalf("relaunch %+v: want attempt 1", task)
		}
	}
	if len(f.launched) != 6 {
		t.Fatalf("%d launches, want 6 (4 + 2 relaunched)", len(f.launched))
	}
}

// A map partition that failed while no job needed its stage runs again
// when a later job needs the stage.
func TestRetriedJobResubmitsFailedPartition(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 2, succeed)
	f.submit(1, nodes, final, 0, 1)
	// Map tasks 0 and 1 are running; job 1 ends, then task 0 fails.
	first, second := f.queue[0], f.queue[1]
	f.queue = nil
	f.step(scheduler.JobCancelled{Job: 1})
	f.step(scheduler.TaskFailed{TaskID: first.Task.ID, Err: errors.New("boom")})
	f.submit(2, nodes, final, 0, 1)
	f.step(succeed(second.Task))
	f.run()
	if err, ok := f.ended[2]; !ok || err != nil {
		t.Fatalf("the retried job ended %v, %v; want success", ok, err)
	}
}

// A map task that ends after its graph was forgotten is ignored.
func TestLateTaskOfForgottenGraph(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 2, succeed)
	f.submit(1, nodes, final, 0, 1)
	running := f.queue
	f.queue = nil
	f.step(scheduler.JobCancelled{Job: 1})
	if !f.s.GraphBusy(1) {
		t.Fatal("graph 1 has running tasks but is not busy")
	}
	f.step(scheduler.GraphForgotten{Graph: 1})
	f.step(succeed(running[0].Task))
	f.step(scheduler.TaskFailed{TaskID: running[1].Task.ID, Err: errors.New("x")})
	if f.s.GraphBusy(1) {
		t.Fatal("graph 1 still busy")
	}
}

// Ending a job kills the attempts that no other job needs.
func TestCancelledJobKillsItsAttempts(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	s := scheduler.New(scheduler.DefaultConfig())
	s.Step(scheduler.WorkerAdded{Worker: "w", Slots: 2})
	launched := s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
	var killed []int64
	for _, a := range s.Step(scheduler.JobCancelled{Job: 1}) {
		if k, ok := a.(scheduler.KillTask); ok {
			killed = append(killed, k.TaskID)
		}
	}
	if len(launched) != 2 || len(killed) != 2 {
		t.Fatalf("launched %d, killed %v; want both running attempts killed", len(launched), killed)
	}
}
