package scheduler_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// TestZombieAttemptCannotCommit replays the zombie sequence: a result
// attempt is recorded lost (its worker was cut off), its retry runs
// elsewhere, then the partition heals and the lost attempt asks to commit.
// Granting it would block every other attempt of the partition while its
// result never arrives; it must be denied, and the retry commits.
func TestZombieAttemptCannotCommit(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 4, succeed)
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 4})
	f.submit(1, nodes, final, 0)
	if len(f.queue) != 1 {
		t.Fatalf("launched %d tasks, want 1", len(f.queue))
	}
	zombie := f.queue[0]
	f.queue = nil
	f.step(scheduler.WorkerRemoved{Worker: zombie.Worker, Reason: "partitioned"})
	if len(f.queue) != 1 || f.queue[0].Worker == zombie.Worker {
		t.Fatalf("after the loss: queue %+v, want one retry elsewhere", f.queue)
	}
	retry := f.queue[0]
	stage := zombie.Task.Stage
	if f.canCommit(stage, 0, zombie.Task.Attempt) {
		t.Fatal("an attempt recorded as lost was allowed to commit")
	}
	if !f.canCommit(stage, 0, retry.Task.Attempt) {
		t.Fatal("the live retry was denied")
	}
	// The zombie's late result is ignored; the retry's ends the job.
	f.step(scheduler.TaskSucceeded{TaskID: zombie.Task.ID, Result: []byte("zombie")})
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil || f.results[1][0] != "p0" {
		t.Fatalf("job ended %v, %v with %v", ok, err, f.results[1])
	}
}

// TestUnknownAttemptCannotCommit: an attempt number the scheduler never
// launched, or one that already finished, is denied.
func TestUnknownAttemptCannotCommit(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	f := newFake(t, 4, succeed)
	f.submit(1, nodes, final, 0, 1)
	stage := f.queue[0].Task.Stage
	if f.canCommit(stage, 0, 7) {
		t.Fatal("an attempt never launched may commit")
	}
	f.run()
	if f.canCommit(stage, 1, 0) {
		t.Fatal("a finished attempt may commit again")
	}
}

// TestSilentCommitReleased: a granted commit whose result never arrives is
// released after CommitTimeout, and a copy of the task launched, so the
// partition is not blocked forever.
func TestSilentCommitReleased(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	cfg := scheduler.DefaultConfig()
	f := newFake(t, 4, succeed)
	f.s = scheduler.New(cfg)
	f.step(scheduler.WorkerAdded{Worker: "w1", Slots: 4})
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 4})
	f.step(scheduler.Tick{Now: time.Second})
	f.submit(1, nodes, final, 0)
	silent := f.queue[0]
	f.queue = nil
	stage := silent.Task.Stage
	if !f.canCommit(stage, 0, silent.Task.Attempt) {
		t.Fatal("the only attempt was denied")
	}
	f.step(scheduler.Tick{Now: time.Second + cfg.CommitTimeout/2})
	if len(f.queue) != 0 {
		t.Fatalf("a copy launched before CommitTimeout: %+v", f.queue)
	}
	f.step(scheduler.Tick{Now: 2*time.Second + cfg.CommitTimeout})
	if len(f.queue) != 1 || f.queue[0].Task.Partition != 0 || f.queue[0].Worker == silent.Worker {
		t.Fatalf("after CommitTimeout: launched %+v, want a copy of partition 0 on another worker", f.queue)
	}
	if !f.canCommit(stage, 0, f.queue[0].Task.Attempt) {
		t.Fatal("the copy was denied after the silent grant was released")
	}
	f.run()
	if err, ok := f.ended[1]; !ok || err != nil {
		t.Fatalf("job ended %v, %v", ok, err)
	}
}

// TestSpeculateOnSlowProgress: with speculation on, a task reading at a
// tenth of its peers' rate gets a copy on another worker long before 90%
// of its stage has finished.
func TestSpeculateOnSlowProgress(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	cfg := scheduler.DefaultConfig()
	cfg.Speculation = true
	f := newFake(t, 4, succeed)
	f.s = scheduler.New(cfg)
	f.step(scheduler.WorkerAdded{Worker: "w1", Slots: 4})
	f.step(scheduler.WorkerAdded{Worker: "w2", Slots: 4})
	f.submit(1, nodes, final, 0, 1, 2, 3)
	tasks := f.queue
	f.queue = nil
	if len(tasks) != 4 {
		t.Fatalf("launched %d, want 4", len(tasks))
	}
	for sec := 1; sec <= 10; sec++ {
		for i, l := range tasks {
			rate := int64(1000)
			if i == 2 {
				rate = 100
			}
			f.step(scheduler.TaskProgress{TaskID: l.Task.ID, Records: rate * int64(sec)})
		}
		f.step(scheduler.Tick{Now: time.Duration(sec) * time.Second})
		if len(f.queue) > 0 {
			break
		}
	}
	if len(f.queue) != 1 || f.queue[0].Task.Partition != tasks[2].Task.Partition || f.queue[0].Worker == tasks[2].Worker {
		t.Fatalf("copies %+v; want one of the slow task's partition on another worker", f.queue)
	}
	if f.s.Speculated() != 1 {
		t.Errorf("Speculated() = %d, want 1", f.s.Speculated())
	}
}
