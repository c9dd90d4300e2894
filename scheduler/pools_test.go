package scheduler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

var wideFunc = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize(make([]int, n), rdd.Partitions(n)), func(x int) int { return x + 1 })
})

// launchOrder runs jobs on slots slots: the jobs are submitted in order,
// each once the one before has had `after` tasks launched, and every
// launched task succeeds, oldest first. It returns the job of each launch,
// in order.
func launchOrder(t *testing.T, cfg scheduler.Config, slots int, after int, jobs []scheduler.JobSubmitted) string {
	t.Helper()
	s := scheduler.New(cfg)
	var queue []scheduler.Task
	var order []string
	ended := map[int]bool{}
	apply := func(acts []scheduler.Action) {
		for _, a := range acts {
			switch a := a.(type) {
			case scheduler.LaunchTask:
				queue = append(queue, a.Task)
				order = append(order, fmt.Sprint(a.Task.Job))
			case scheduler.JobSucceeded:
				ended[a.Job] = true
			case scheduler.JobFailed:
				t.Fatalf("job %d failed: %v", a.Job, a.Err)
			}
		}
	}
	apply(s.Step(scheduler.WorkerAdded{Worker: "w1", Slots: slots}))
	next := 0
	for i := 0; next < len(jobs) || len(queue) > 0; i++ {
		if i > 1000 {
			t.Fatal("no end")
		}
		if next < len(jobs) && (next == 0 || len(order) >= after*next) {
			apply(s.Step(jobs[next]))
			next++
			continue
		}
		if len(queue) == 0 {
			t.Fatal("nothing runs and jobs wait")
		}
		tk := queue[0]
		queue = queue[1:]
		apply(s.Step(scheduler.TaskSucceeded{TaskID: tk.ID, Result: []byte("x")}))
	}
	for _, j := range jobs {
		if !ended[j.Job] {
			t.Fatalf("job %d did not end", j.Job)
		}
	}
	return strings.Join(order, " ")
}

func wideJob(t *testing.T, id, parts int, pool string) scheduler.JobSubmitted {
	t.Helper()
	g, err := task.GraphOf(wideFunc.Invoke(parts))
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	ps := make([]int, parts)
	for i := range ps {
		ps[i] = i
	}
	return scheduler.JobSubmitted{Job: id, Graph: id, Nodes: nodes, Node: nodes[len(nodes)-1].ID, Partitions: ps, Pool: pool}
}

// Two concurrent jobs on two slots, the second submitted once the first
// (8 tasks) has two running: FIFO runs the first job's tasks first; FAIR
// gives the second job's pool the next free slot, so both progress; a
// pool of weight 2 gets two slots to the other's one; a minimum share is
// served first; jobs in one pool are FIFO, as in Spark.
func TestConcurrentJobsShareSlots(t *testing.T) {
	fair := func(pools map[string]scheduler.Pool) scheduler.Config {
		cfg := scheduler.DefaultConfig()
		cfg.Mode, cfg.Pools = scheduler.FAIR, pools
		return cfg
	}
	for _, tc := range []struct {
		name  string
		cfg   scheduler.Config
		slots int
		jobs  func() []scheduler.JobSubmitted
		want  string
	}{
		{"fifo", scheduler.DefaultConfig(), 2,
			func() []scheduler.JobSubmitted {
				return []scheduler.JobSubmitted{wideJob(t, 1, 8, "a"), wideJob(t, 2, 4, "b")}
			},
			"1 1 1 1 1 1 1 1 2 2 2 2"},
		{"fair, two pools", fair(nil), 2,
			func() []scheduler.JobSubmitted {
				return []scheduler.JobSubmitted{wideJob(t, 1, 8, "a"), wideJob(t, 2, 4, "b")}
			},
			"1 1 2 1 2 1 2 1 2 1 1 1"},
		{"fair, one pool is FIFO", fair(nil), 2,
			func() []scheduler.JobSubmitted {
				return []scheduler.JobSubmitted{wideJob(t, 1, 8, ""), wideJob(t, 2, 4, "")}
			},
			"1 1 1 1 1 1 1 1 2 2 2 2"},
		{"fair, weight 2 to 1", fair(map[string]scheduler.Pool{"a": {Weight: 1}, "b": {Weight: 2}}), 3,
			func() []scheduler.JobSubmitted {
				return []scheduler.JobSubmitted{wideJob(t, 1, 9, "a"), wideJob(t, 2, 9, "b")}
			},
			"1 1 1 2 2 1 2 2 1 2 2 1 2 2 1 2 1 1"},
		{"fair, minimum share first", fair(map[string]scheduler.Pool{"a": {Weight: 1}, "b": {Weight: 1, MinShare: 3}}), 4,
			func() []scheduler.JobSubmitted {
				return []scheduler.JobSubmitted{wideJob(t, 1, 8, "a"), wideJob(t, 2, 6, "b")}
			},
			"1 1 1 1 2 2 2 1 2 2 2 1 1 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := launchOrder(t, tc.cfg, tc.slots, tc.slots, tc.jobs()); got != tc.want {
				t.Fatalf("jobs launched in the order\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
