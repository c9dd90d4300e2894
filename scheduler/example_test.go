package scheduler_test

import (
	"fmt"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"

	"github.com/sluicehq/sluice/internal/task"
)

var exampleCounts = rdd.Func(func(words []string) *rdd.RDD[rdd.Pair[string, int]] {
	ones := rdd.Map(rdd.Parallelize(words, rdd.Partitions(2)), func(w string) rdd.Pair[string, int] { return rdd.KV(w, 1) })
	return rdd.ReduceByKey(ones, func(a, b int) int { return a + b }, rdd.Partitions(2))
})

// The scheduler is driven by events; here every task succeeds at once.
func Example() {
	g, _ := task.GraphOf(exampleCounts.Invoke([]string{"a", "b", "a"}))
	nodes := g.Nodes()
	fmt.Print(scheduler.Explain(nodes, nodes[len(nodes)-1].ID))

	s := scheduler.New(scheduler.DefaultConfig())
	s.Step(scheduler.WorkerAdded{Worker: "w1", Slots: 4})
	queue := s.Step(scheduler.JobSubmitted{Job: 1, Graph: 1, Nodes: nodes, Node: nodes[len(nodes)-1].ID, Partitions: []int{0, 1}})
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		switch a := a.(type) {
		case scheduler.LaunchTask:
			fmt.Println("launch", a.Task.Kind, "partition", a.Task.Partition)
			ev := scheduler.TaskSucceeded{TaskID: a.Task.ID, Result: []byte("ok")}
			if a.Task.Kind == scheduler.MapTask {
				ev.MapStatus = &scheduler.MapStatus{Worker: a.Worker, Sizes: []int64{1, 1}}
			}
			queue = append(queue, s.Step(ev)...)
		case scheduler.JobSucceeded:
			fmt.Println("job", a.Job, "succeeded")
		}
	}
	// Output:
	// result partitions=2: ReduceByKey#4(shuffle=3)
	//   map shuffle=3 partitions=2: Map#2 <- Parallelize#1
	// launch map partition 0
	// launch map partition 1
	// launch result partition 0
	// launch result partition 1
	// job 1 succeeded
}
