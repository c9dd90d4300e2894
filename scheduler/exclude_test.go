package scheduler_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// TestMachineFailuresExcludeTheWorker: a worker whose disk is full fails
// every attempt placed on it with a machine failure. The failures do not
// count against the task's attempts, the worker is excluded after
// MaxWorkerFailures of them, the job finishes on the other worker, and the
// worker takes tasks again after ExcludeFor.
func TestMachineFailuresExcludeTheWorker(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	cfg := scheduler.DefaultConfig()
	s := scheduler.New(cfg)
	var queue []scheduler.LaunchTask
	ended := map[int]error{}
	step := func(ev scheduler.Event) {
		for _, a := range s.Step(ev) {
			switch a := a.(type) {
			case scheduler.LaunchTask:
				queue = append(queue, a)
			case scheduler.JobSucceeded:
				ended[a.Job] = nil
			case scheduler.JobFailed:
				ended[a.Job] = a.Err
			}
		}
	}
	step(scheduler.Tick{Now: time.Second})
	step(scheduler.WorkerAdded{Worker: "full", Slots: 4})
	step(scheduler.WorkerAdded{Worker: "ok", Slots: 1})
	step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
	onFull := 0
	for n := 0; len(queue) > 0; n++ {
		if n > 100 {
			t.Fatal("the job does not end")
		}
		l := queue[0]
		queue = queue[1:]
		if l.Worker == "full" {
			onFull++
			step(scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("write: no space left on device"), Lost: true, Machine: true})
			continue
		}
		step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte{1}})
	}
	if err, ok := ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v; want success on the other worker", ok, err)
	}
	// The four first attempts went to the roomier worker at once; once two
	// failed there, it took nothing more.
	if onFull > 4 || !s.Excluded("full") {
		t.Fatalf("%d attempts on the full worker, excluded %v; want at most the first wave, then exclusion", onFull, s.Excluded("full"))
	}
	step(scheduler.Tick{Now: time.Second + cfg.ExcludeFor + time.Second})
	if s.Excluded("full") {
		t.Fatal("still excluded after ExcludeFor")
	}
}

// TestExclusionNeverStrandsAJob: when every worker is excluded, tasks still
// go to them rather than waiting forever.
func TestExclusionNeverStrandsAJob(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 1, succeed)
	f.submit(1, nodes, final, 0)
	for range scheduler.DefaultConfig().MaxWorkerFailures {
		l := f.queue[0]
		f.queue = f.queue[1:]
		f.step(scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("input/output error"), Lost: true, Machine: true})
	}
	if !f.s.Excluded("w1") || len(f.queue) != 1 {
		t.Fatalf("excluded %v, queue %+v; want the only worker excluded and still given the retry", f.s.Excluded("w1"), f.queue)
	}
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
}

// TestLowDiskTakesNoMapTasks: a worker that reports little free disk gets
// no map tasks while another can take them; result tasks still go there.
func TestLowDiskTakesNoMapTasks(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	f := newFake(t, 4, succeed)
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 1})
	f.step(scheduler.WorkerDisk{Worker: "w1", Low: true})
	f.submit(1, nodes, final, 0, 1, 2)
	for _, l := range f.queue {
		if l.Task.Kind == scheduler.MapTask && l.Worker == "w1" {
			t.Fatalf("a map task went to the worker low on disk: %+v", l)
		}
	}
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
}

// TestFlappingWorkerGetsNoTasks: a worker reported flapping takes no new
// tasks for the time given, while another can take them, and takes them
// again afterwards.
func TestFlappingWorkerGetsNoTasks(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 4, succeed)
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 1})
	f.step(scheduler.Tick{Now: time.Second})
	f.step(scheduler.WorkerFlapping{Worker: "w1", For: time.Minute})
	f.submit(1, nodes, final, 0, 1, 2, 3)
	for _, l := range f.queue {
		if l.Worker == "w1" {
			t.Fatalf("a task went to the flapping worker: %+v", l)
		}
	}
	if !f.s.Excluded("w1") {
		t.Fatal("the flapping worker is not excluded")
	}
	f.step(scheduler.Tick{Now: time.Second + time.Minute + time.Millisecond})
	if f.s.Excluded("w1") {
		t.Fatal("still excluded after the time given")
	}
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
}
