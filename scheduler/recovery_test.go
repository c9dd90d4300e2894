package scheduler_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/scheduler"
)

// cluster simulates workers for recovery tests: a task reads its inputs
// from the workers its MapStatus names, and fails to fetch from a dead one;
// a map task's output lives on the worker that ran it.
type cluster struct {
	t        *testing.T
	s        *scheduler.Scheduler
	dead     map[string]bool
	queue    []scheduler.LaunchTask
	launched []scheduler.LaunchTask
	results  map[int]map[int]string
	ended    map[int]error
	steps    int
	// before runs before each queued task completes; it may kill workers.
	before func(c *cluster, l scheduler.LaunchTask)
	// fail, when set, decides to fail a task's fetch regardless of workers.
	fail func(l scheduler.LaunchTask) bool
	// lose, when set, decides to lose a task (an executor crash).
	lose func(l scheduler.LaunchTask) bool

	// What the scenario did, to explain a failed job: the losses of each
	// task, and the fetch failures of each stage since a task of it last
	// succeeded (a result stage) or ever (a map stage, which the scheduler
	// resets only when the whole stage completes): bounds of what the
	// scheduler counts against MaxTaskLosses and MaxStageFailures.
	losses        map[[2]int]int
	fetchFailures map[int]int
}

// explains reports whether the scenario pushed a task or a stage to a
// limit of cfg, so that err is the right end of the job.
func (c *cluster) explains(err error, cfg scheduler.Config) bool {
	switch {
	case errors.Is(err, scheduler.ErrTaskLost):
		for _, n := range c.losses {
			if n >= cfg.MaxTaskLosses {
				return true
			}
		}
	case errors.Is(err, scheduler.ErrStageFailed):
		for _, n := range c.fetchFailures {
			if n >= cfg.MaxStageFailures {
				return true
			}
		}
	}
	return false
}

func (c *cluster) lost(l scheduler.LaunchTask) {
	if c.losses == nil {
		c.losses = map[[2]int]int{}
	}
	c.losses[[2]int{l.Task.Stage, l.Task.Partition}]++
}

func newCluster(t *testing.T, workers map[string]int) *cluster {
	c := &cluster{t: t, s: scheduler.New(scheduler.DefaultConfig()), dead: map[string]bool{}, results: map[int]map[int]string{}, ended: map[int]error{}}
	names := make([]string, 0, len(workers))
	for w := range workers {
		names = append(names, w)
	}
	slices.Sort(names)
	for _, w := range names {
		c.step(scheduler.WorkerAdded{Worker: w, Slots: workers[w]})
	}
	return c
}

func (c *cluster) step(ev scheduler.Event) {
	for _, a := range c.s.Step(ev) {
		switch a := a.(type) {
		case scheduler.LaunchTask:
			if c.dead[a.Worker] {
				c.t.Fatalf("task %+v launched on dead worker %s", a.Task, a.Worker)
			}
			c.queue = append(c.queue, a)
			c.launched = append(c.launched, a)
		case scheduler.DeliverResult:
			if c.results[a.Job] == nil {
				c.results[a.Job] = map[int]string{}
			}
			if _, dup := c.results[a.Job][a.Partition]; dup {
				c.t.Fatalf("partition %d of job %d delivered twice", a.Partition, a.Job)
			}
			c.results[a.Job][a.Partition] = string(a.Data)
		case scheduler.JobSucceeded:
			c.ended[a.Job] = nil
		case scheduler.JobFailed:
			c.ended[a.Job] = a.Err
		}
	}
}

func (c *cluster) kill(w string) {
	c.dead[w] = true
	for _, l := range c.queue {
		if l.Worker == w {
			c.lost(l) // running there: lost with it
		}
	}
	c.step(scheduler.WorkerRemoved{Worker: w, Reason: "killed"})
}

// complete ends one launched task as the simulated cluster would.
func (c *cluster) complete(l scheduler.LaunchTask) {
	if c.dead[l.Worker] {
		return // its worker died: WorkerRemoved already lost it
	}
	if c.lose != nil && c.lose(l) {
		c.lost(l)
		c.step(scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("executor crashed"), Lost: true})
		return
	}
	for _, in := range l.Task.Inputs {
		for _, m := range in.Blocks() {
			if c.dead[m.Worker] || (c.fail != nil && c.fail(l)) {
				if c.fetchFailures == nil {
					c.fetchFailures = map[int]int{}
				}
				c.fetchFailures[l.Task.Stage]++
				c.step(scheduler.FetchFailed{TaskID: l.Task.ID, Shuffle: in.Shuffle, Map: m.Map, Worker: m.Worker, Gen: m.Gen, Err: "connection refused"})
				return
			}
		}
	}
	if l.Task.Kind == scheduler.MapTask {
		c.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Sizes: []int64{1, 1, 1, 1}}})
		return
	}
	delete(c.fetchFailures, l.Task.Stage)
	c.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte(fmt.Sprintf("p%d", l.Task.Partition))})
}

func (c *cluster) run() {
	for len(c.queue) > 0 {
		if c.steps++; c.steps > 10000 {
			c.t.Fatal("the scheduler keeps launching tasks")
		}
		l := c.queue[0]
		c.queue = c.queue[1:]
		if c.before != nil {
			c.before(c, l)
		}
		c.complete(l)
	}
}

func (c *cluster) succeeded(job int, parts int) {
	c.t.Helper()
	if err, ok := c.ended[job]; !ok || err != nil {
		c.t.Fatalf("job %d ended %v, %v", job, ok, err)
	}
	if len(c.results[job]) != parts {
		c.t.Fatalf("job %d delivered %d partitions, want %d", job, len(c.results[job]), parts)
	}
}

// mapsOn counts the map tasks that ran on w.
func (c *cluster) count(pred func(scheduler.LaunchTask) bool) int {
	n := 0
	for _, l := range c.launched {
		if pred(l) {
			n++
		}
	}
	return n
}

var three = map[string]int{"core": 1, "task1": 1, "task2": 1}

func TestLossDuringMapPhase(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	done := 0
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if done++; done == 2 {
			c.kill("task1")
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	c.succeeded(1, 2)
}

func TestLossAfterMapsBeforeReducersFetch(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	killed := false
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask && !killed {
			killed = true
			c.kill("task2")
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	c.succeeded(1, 2)
	onTask2 := c.count(func(l scheduler.LaunchTask) bool {
		return l.Task.Kind == scheduler.MapTask && l.Worker == "task2"
	})
	if got := c.s.Recomputed(); got != onTask2 || got == 0 {
		t.Fatalf("%d map tasks recomputed, want exactly the %d that ran on the lost worker", got, onTask2)
	}
	for p := range 3 {
		if n := c.count(func(l scheduler.LaunchTask) bool { return l.Task.Kind == scheduler.MapTask && l.Task.Partition == p }); n > 2 {
			t.Fatalf("map partition %d ran %d times", p, n)
		}
	}
}

func TestLossDuringReducePhase(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	results := 0
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask {
			if results++; results == 2 {
				c.kill("core")
			}
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	c.succeeded(1, 2)
}

func TestSameWorkerLostTwice(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask && !c.dead["task1"] {
			c.kill("task1")
			c.kill("task1")
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	c.succeeded(1, 2)
}

// Losing outputs of two stages at once recomputes through the lineage.
func TestCascadingLoss(t *testing.T) {
	nodes, final := nodesOf(t, groupTwiceFunc.Invoke(0))
	c := newCluster(t, map[string]int{"core": 1, "task1": 2})
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask && !c.dead["task1"] {
			c.kill("task1")
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0}})
	c.run()
	c.succeeded(1, 1)
}

func TestEveryTaskNodeLostOneCoreLeft(t *testing.T) {
	nodes, final := nodesOf(t, groupTwiceFunc.Invoke(0))
	c := newCluster(t, map[string]int{"core": 1, "task1": 1, "task2": 1, "task3": 1})
	n := 0
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		n++
		for i, at := range []int{2, 4, 6} {
			if n == at {
				c.kill(fmt.Sprint("task", i+1))
			}
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0}})
	c.run()
	c.succeeded(1, 1)
}

// A fetch failure naming an older registration than the current one is
// stale: it must not unregister the recomputed output.
func TestStaleFetchFailureAfterResubmission(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, map[string]int{"w1": 3})
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	for len(c.queue) > 0 && c.queue[0].Task.Kind == scheduler.MapTask {
		l := c.queue[0]
		c.queue = c.queue[1:]
		c.complete(l)
	}
	r0, r1 := c.queue[0], c.queue[1]
	c.queue = c.queue[2:]
	old, _ := r0.Task.Inputs[0].Block(0)
	// r0 reports map 0 unreadable: it is unregistered and recomputed.
	c.step(scheduler.FetchFailed{TaskID: r0.Task.ID, Shuffle: r0.Task.Inputs[0].Shuffle, Map: 0, Worker: old.Worker, Gen: old.Gen, Err: "checksum"})
	// r1 was launched with the same, old registration; its failure arrives
	// after the recomputation and must be ignored.
	for len(c.queue) > 0 && c.queue[0].Task.Kind == scheduler.MapTask {
		l := c.queue[0]
		c.queue = c.queue[1:]
		c.complete(l)
	}
	before := len(c.launched)
	c.step(scheduler.FetchFailed{TaskID: r1.Task.ID, Shuffle: r1.Task.Inputs[0].Shuffle, Map: 0, Worker: old.Worker, Gen: old.Gen, Err: "late"})
	for _, l := range c.launched[before:] {
		if l.Task.Kind == scheduler.MapTask {
			t.Fatalf("a stale fetch failure recomputed map partition %d", l.Task.Partition)
		}
	}
	c.run()
	c.succeeded(1, 2)
}

func TestStageFailsAfterFourFetchFailuresInARow(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	c.kill("task2") // a lost worker the message must name
	c.fail = func(l scheduler.LaunchTask) bool { return l.Task.Kind == scheduler.ResultTask }
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	err := c.ended[1]
	if !errors.Is(err, scheduler.ErrStageFailed) {
		t.Fatalf("job error %v, want ErrStageFailed", err)
	}
	for _, want := range []string{"stage", "4 times", "task2", "ReduceByKey"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

// A driver that has lost thousands of workers keeps a short list: the
// last few by name and a count of the rest, in state and in messages.
func TestLostWorkersAreBounded(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, three)
	for i := range 5000 {
		w := fmt.Sprintf("spot-%04d", i)
		c.step(scheduler.WorkerAdded{Worker: w, Slots: 1})
		c.kill(w)
	}
	c.kill("task2")
	c.kill("spot-0000") // gone already: not counted again
	lost := c.s.Lost()
	if len(lost) > 8 || lost[len(lost)-1] != "task2" || lost[len(lost)-2] != "spot-4999" {
		t.Fatalf("lost workers %v: want at most 8, the last ones, in order", lost)
	}
	if got, want := c.s.LostSummary(), "and 4993 earlier"; !strings.HasSuffix(got, want) {
		t.Fatalf("summary %q does not end %q", got, want)
	}
	c.fail = func(l scheduler.LaunchTask) bool { return l.Task.Kind == scheduler.ResultTask }
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	err := c.ended[1]
	if !errors.Is(err, scheduler.ErrStageFailed) {
		t.Fatalf("job error %v, want ErrStageFailed", err)
	}
	if msg := err.Error(); len(msg) > 600 || !strings.Contains(msg, "task2") || !strings.Contains(msg, "4993 earlier") {
		t.Fatalf("stage-failure message of %d bytes: %q", len(msg), msg)
	}
}

// A seeded stress test: workers die and join at random moments, tasks are
// lost and fetches fail at random; every job ends, successes deliver each
// partition exactly once, and a job fails only where the scenario pushed a
// task or a stage to its limit.
func TestRandomLossesStress(t *testing.T) {
	explained := 0
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 77))
		nodes, final := nodesOf(t, groupTwiceFunc.Invoke(0))
		if seed%2 == 0 {
			nodes, final = nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
		}
		c := newCluster(t, map[string]int{"core": 1 + rng.IntN(2), "t1": 1 + rng.IntN(2), "t2": 1 + rng.IntN(2)})
		next := 3
		c.before = func(c *cluster, l scheduler.LaunchTask) {
			switch r := rng.IntN(20); {
			case r == 0:
				var alive []string
				for _, w := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
					if !c.dead[w] && c.s.Workers() > 1 && slices.Contains(c.s.WorkerNames(), w) {
						alive = append(alive, w)
					}
				}
				if len(alive) > 0 {
					c.kill(alive[rng.IntN(len(alive))])
				}
			case r == 1 && next < 7:
				c.step(scheduler.WorkerAdded{Worker: fmt.Sprint("t", next), Slots: 1})
				next++
			}
		}
		c.fail = func(scheduler.LaunchTask) bool { return rng.IntN(30) == 0 }
		c.lose = func(scheduler.LaunchTask) bool { return rng.IntN(15) == 0 }
		parts := []int{0}
		if seed%2 == 0 {
			parts = []int{0, 1}
		}
		c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: parts})
		c.run()
		err, ok := c.ended[1]
		if !ok {
			t.Fatalf("seed %d: the job never ended\n%s", seed, c.s.DebugState())
		}
		if err == nil && len(c.results[1]) != len(parts) {
			t.Fatalf("seed %d: %d partitions delivered", seed, len(c.results[1]))
		}
		// A failed job passes only when the scenario itself pushed a task
		// or a stage to its limit; any other failure is a recovery bug.
		if err != nil && !c.explains(err, scheduler.DefaultConfig()) {
			t.Fatalf("seed %d: the job failed, and the faults injected stayed below every limit: %v\n%s", seed, err, c.s.DebugState())
		}
		if err != nil {
			explained++
		}
	}
	// The faults are rare enough that nearly every scenario must succeed:
	// a test that passes on failures alone proves nothing.
	if explained > 3 {
		t.Fatalf("%d of 300 scenarios failed, each at a limit: the faults are too dense to test recovery", explained)
	}
}

// A straggler gets a copy on another worker once most of its stage has
// finished; the first to finish wins, the other is killed, and the result
// is delivered once.
func TestSpeculativeCopyOfStraggler(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	cfg := scheduler.DefaultConfig()
	cfg.Speculation = true
	s := scheduler.New(cfg)
	s.Step(scheduler.WorkerAdded{Worker: "a", Slots: 4})
	s.Step(scheduler.WorkerAdded{Worker: "b", Slots: 4})
	acts := s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
	var tasks []scheduler.LaunchTask
	for _, a := range acts {
		tasks = append(tasks, a.(scheduler.LaunchTask))
	}
	if len(tasks) != 4 {
		t.Fatalf("%d launched, want 4", len(tasks))
	}
	// Three finish at 1s; the fourth straggles.
	s.Step(scheduler.Tick{Now: time.Second})
	for _, l := range tasks[:3] {
		s.Step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte("x")})
	}
	if acts := s.Step(scheduler.Tick{Now: 2 * time.Second}); len(acts) != 0 {
		t.Fatalf("speculated before 3x the median: %+v", acts)
	}
	acts = s.Step(scheduler.Tick{Now: 4 * time.Second})
	if len(acts) != 1 {
		t.Fatalf("after 3x the median: %+v, want one speculative launch", acts)
	}
	cp := acts[0].(scheduler.LaunchTask)
	straggler := tasks[3]
	if cp.Task.Partition != straggler.Task.Partition || cp.Worker == straggler.Worker || cp.Task.Attempt != 1 {
		t.Fatalf("copy %+v on %s; straggler %+v on %s", cp.Task, cp.Worker, straggler.Task, straggler.Worker)
	}
	if s.Speculated() != 1 {
		t.Fatalf("Speculated() = %d", s.Speculated())
	}
	acts = s.Step(scheduler.TaskSucceeded{TaskID: cp.Task.ID, Result: []byte("copy")})
	var delivered, killed, done int
	for _, a := range acts {
		switch a := a.(type) {
		case scheduler.DeliverResult:
			delivered++
		case scheduler.KillTask:
			killed++
			if a.TaskID != straggler.Task.ID {
				t.Fatalf("killed %d, want the straggler %d", a.TaskID, straggler.Task.ID)
			}
		case scheduler.JobSucceeded:
			done++
		}
	}
	if delivered != 1 || killed != 1 || done != 1 {
		t.Fatalf("actions %+v", acts)
	}
	// The killed straggler reports late: nothing happens.
	if acts := s.Step(scheduler.TaskFailed{TaskID: straggler.Task.ID, Err: errors.New("killed"), Lost: true}); len(acts) != 0 {
		t.Fatalf("the killed straggler's report gave %+v", acts)
	}
	if s.Running() != 0 {
		t.Fatalf("%d still running", s.Running())
	}
}

// With a replica on a core worker, losing the task worker that wrote an
// output recomputes nothing.
func TestReplicaTakesOverLostOutput(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, map[string]int{"core": 1, "task1": 2})
	s := c.s
	acts := s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	// Complete the map tasks, each with a replica on core.
	queue := acts
	var results []scheduler.LaunchTask
	for len(queue) > 0 {
		l := queue[0].(scheduler.LaunchTask)
		queue = queue[1:]
		if l.Task.Kind == scheduler.ResultTask {
			results = append(results, l)
			continue
		}
		ms := &scheduler.MapStatus{Worker: l.Worker, Sizes: []int64{1, 1}}
		if l.Worker == "task1" {
			ms.Replica = "core"
		}
		for _, a := range s.Step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: ms}) {
			queue = append(queue, a)
		}
	}
	acts = s.Step(scheduler.WorkerRemoved{Worker: "task1", Reason: "killed"})
	for _, a := range acts {
		if l, ok := a.(scheduler.LaunchTask); ok && l.Task.Kind == scheduler.MapTask {
			t.Fatalf("map partition %d recomputed despite its replica", l.Task.Partition)
		}
	}
	if s.Recomputed() != 0 || len(s.OutputsOn("task1")) != 0 || len(s.OutputsOn("core")) != 3 {
		t.Fatalf("recomputed %d; outputs on task1 %v, on core %v", s.Recomputed(), s.OutputsOn("task1"), s.OutputsOn("core"))
	}
}

// A draining worker gets no new tasks; its outputs, once moved, are read
// from their new home.
func TestDrainingWorkerGetsNoTasksAndOutputsMove(t *testing.T) {
	nodes, final := nodesOf(t, narrowFunc.Invoke(4))
	s := scheduler.New(scheduler.DefaultConfig())
	s.Step(scheduler.WorkerAdded{Worker: "a", Slots: 2})
	s.Step(scheduler.WorkerAdded{Worker: "b", Slots: 2})
	s.Step(scheduler.WorkerDraining{Worker: "b"})
	acts := s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1, 2, 3}})
	for _, a := range acts {
		if l := a.(scheduler.LaunchTask); l.Worker == "b" {
			t.Fatalf("task launched on the draining worker: %+v", l)
		}
	}
	if len(acts) != 2 {
		t.Fatalf("%d launched, want 2 (a's slots)", len(acts))
	}

	wc, wfinal := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	s2 := scheduler.New(scheduler.DefaultConfig())
	s2.Step(scheduler.WorkerAdded{Worker: "core", Slots: 1})
	s2.Step(scheduler.WorkerAdded{Worker: "task", Slots: 3})
	queue := s2.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: wc, Node: wfinal, Partitions: []int{0, 1}})
	for len(queue) > 0 {
		l := queue[0].(scheduler.LaunchTask)
		queue = queue[1:]
		if l.Task.Kind == scheduler.ResultTask {
			break
		}
		for _, a := range s2.Step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Sizes: []int64{1, 1}}}) {
			queue = append(queue, a)
		}
	}
	moved := s2.OutputsOn("task")
	if len(moved) == 0 {
		t.Fatal("no outputs on the task worker to move")
	}
	s2.Step(scheduler.WorkerDraining{Worker: "task"})
	for _, ref := range moved {
		s2.Step(scheduler.MapOutputMoved{Output: ref, From: "task", To: "core"})
	}
	s2.Step(scheduler.WorkerRemoved{Worker: "task", Reason: "left"})
	if s2.Recomputed() != 0 || s2.StagesRecomputed() != 0 || len(s2.OutputsOn("core")) != 3 {
		t.Fatalf("after the move: recomputed %d, outputs on core %v", s2.Recomputed(), s2.OutputsOn("core"))
	}
}

// Losing an output of an indeterminate stage (round-robin Repartition)
// reruns that whole stage and every map stage downstream of it.
func TestIndeterminateStageRerunsWholeWithDownstream(t *testing.T) {
	nodes, final := nodesOf(t, repartitionFunc.Invoke(0))
	c := newCluster(t, map[string]int{"core": 1, "task1": 1})
	killed := false
	var before int
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask && !killed {
			killed = true
			before = len(c.launched)
			c.kill("task1")
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	c.succeeded(1, 2)
	rerun := map[int]int{} // shuffle -> map tasks rerun
	for _, l := range c.launched[before:] {
		if l.Task.Kind == scheduler.MapTask {
			rerun[l.Task.Shuffle]++
		}
	}
	// Shuffle ids: the Repartition's is the smaller one.
	var shuffles []int
	for sh := range rerun {
		shuffles = append(shuffles, sh)
	}
	slices.Sort(shuffles)
	if len(shuffles) != 2 || rerun[shuffles[0]] != 3 || rerun[shuffles[1]] != 2 {
		t.Fatalf("map tasks rerun by shuffle %v; want all 3 of the repartition and all 2 downstream", rerun)
	}
}

// If results computed from an indeterminate stage were already delivered,
// the job fails with a clear message instead of mixing two versions.
func TestIndeterminateLossAfterResultsFailsJob(t *testing.T) {
	nodes, final := nodesOf(t, repartitionFunc.Invoke(0))
	c := newCluster(t, map[string]int{"core": 1, "task1": 1})
	results := 0
	c.before = func(c *cluster, l scheduler.LaunchTask) {
		if l.Task.Kind == scheduler.ResultTask {
			if results++; results == 2 {
				c.kill("task1")
			}
		}
	}
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	c.run()
	err := c.ended[1]
	if err == nil || !strings.Contains(err.Error(), "indeterminate") {
		t.Fatalf("job ended with %v; want a failure naming the indeterminate stage", err)
	}
}

// Many reducers reading from one lost worker report fetch failures one
// after another; that is one failure of the stage, not many.
func TestManyFetchFailuresFromOneLossCountOnce(t *testing.T) {
	nodes, final := nodesOf(t, wordCountFunc.Invoke([]string{"a"}))
	c := newCluster(t, map[string]int{"x": 3})
	c.step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: final, Partitions: []int{0, 1}})
	for len(c.queue) > 0 && c.queue[0].Task.Kind == scheduler.MapTask {
		l := c.queue[0]
		c.queue = c.queue[1:]
		c.complete(l)
	}
	// The reducers run on y; then x dies and each reducer fails to fetch.
	c.step(scheduler.WorkerAdded{Worker: "y", Slots: 8})
	reducers := c.queue
	c.queue = nil
	c.kill("x")
	for _, r := range reducers {
		m0, _ := r.Task.Inputs[0].Block(0)
		c.step(scheduler.FetchFailed{TaskID: r.Task.ID, Shuffle: r.Task.Inputs[0].Shuffle, Map: 0, Worker: "x", Gen: m0.Gen, Err: "refused"})
	}
	c.run()
	c.succeeded(1, 2)
}
