package scheduler_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

// shuffleJob is the lineage of one shuffle: m map partitions read by r
// reduce partitions.
func shuffleJob(m, r int) []task.NodeInfo {
	return []task.NodeInfo{
		{ID: 1, Name: "Source", Partitions: m},
		{ID: 2, Name: "Reduce", Partitions: r, Deps: []task.DepInfo{{Parent: 1, Shuffle: 1}}},
	}
}

// runJob runs a job of m map and r reduce tasks on workers synthetic
// workers with slots slots each, completing tasks in launch order, and
// returns the number of events stepped.
func runJob(tb testing.TB, m, r, workers, slots int) int {
	s := scheduler.New(scheduler.DefaultConfig())
	var queue []scheduler.LaunchTask
	events := 0
	step := func(ev scheduler.Event) {
		events++
		for _, a := range s.Step(ev) {
			switch a := a.(type) {
			case scheduler.LaunchTask:
				queue = append(queue, a)
			case scheduler.JobFailed:
				tb.Fatalf("job failed: %v", a.Err)
			}
		}
	}
	for w := range workers {
		step(scheduler.WorkerAdded{Worker: fmt.Sprintf("w%04d", w), Slots: slots})
	}
	parts := make([]int, r)
	for i := range parts {
		parts[i] = i
	}
	step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: shuffleJob(m, r), Node: 2, Partitions: parts})
	sizes := make([]int64, r)
	for i := range sizes {
		sizes[i] = int64(100 + i%7)
	}
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		if l.Task.Kind == scheduler.MapTask {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Sizes: sizes}})
		} else {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte{1}})
		}
	}
	if s.ActiveJobs() != 0 {
		tb.Fatal("the job did not end")
	}
	return events
}

// BenchmarkJob runs whole jobs of M map × R reduce tasks through Step on
// synthetic workers with 4 slots each (see runJob), and reports the cost
// per event. The per-event cost must stay flat, or grow no more than
// logarithmically, with the job's size.
func BenchmarkJob(b *testing.B) {
	for _, c := range []struct{ m, r, workers int }{
		{500, 500, 100}, {1000, 1000, 100}, {2000, 2000, 100}, {4000, 4000, 100},
		{1000, 1000, 1000}, {10000, 1000, 1000}, {10000, 10000, 1000}, {100000, 1000, 1000}, {100000, 10000, 1000},
	} {
		b.Run(fmt.Sprintf("%dx%d/w%d", c.m, c.r, c.workers), func(b *testing.B) {
			if testing.Short() && c.m*c.r > 1e8 {
				b.Skip("a long job")
			}
			events := 0
			for b.Loop() {
				events += runJob(b, c.m, c.r, c.workers, 4)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}

// runJobs is runJob for jobs concurrent jobs of m × r tasks each, in
// pools p0, p1, ... of cfg's mode, submitted together.
func runJobs(tb testing.TB, cfg scheduler.Config, m, r, workers, slots, jobs int) int {
	s := scheduler.New(cfg)
	var queue []scheduler.LaunchTask
	events := 0
	step := func(ev scheduler.Event) {
		events++
		for _, a := range s.Step(ev) {
			switch a := a.(type) {
			case scheduler.LaunchTask:
				queue = append(queue, a)
			case scheduler.JobFailed:
				tb.Fatalf("job failed: %v", a.Err)
			}
		}
	}
	for w := range workers {
		step(scheduler.WorkerAdded{Worker: fmt.Sprintf("w%04d", w), Slots: slots})
	}
	parts := make([]int, r)
	for i := range parts {
		parts[i] = i
	}
	for j := range jobs {
		step(scheduler.JobSubmitted{Job: j + 1, Graph: j + 1, Nodes: shuffleJob(m, r), Node: 2, Partitions: parts, Pool: fmt.Sprintf("p%d", j)})
	}
	sizes := make([]int64, r)
	for i := range sizes {
		sizes[i] = int64(100 + i%7)
	}
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		if l.Task.Kind == scheduler.MapTask {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Sizes: sizes}})
		} else {
			step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte{1}})
		}
	}
	if s.ActiveJobs() != 0 {
		tb.Fatal("the jobs did not end")
	}
	return events
}

// BenchmarkConcurrentJobs compares FIFO and FAIR on 1 to 16 concurrent
// jobs of 1000 × 1000 tasks on 100 workers: FAIR's cost per event grows
// with the pools that have tasks queued (it orders them at each launch).
func BenchmarkConcurrentJobs(b *testing.B) {
	for _, mode := range []scheduler.Mode{scheduler.FIFO, scheduler.FAIR} {
		for _, jobs := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%v/jobs%d", mode, jobs), func(b *testing.B) {
				cfg := scheduler.DefaultConfig()
				cfg.Mode = mode
				events := 0
				for b.Loop() {
					events += runJobs(b, cfg, 1000, 1000, 100, 4, jobs)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
			})
		}
	}
}
