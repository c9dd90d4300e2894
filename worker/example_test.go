package worker_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

var doubled = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1, 2, 3, 4}, rdd.Partitions(n)), func(x int) int { return 2 * x })
})

type allowAll struct{}

func (allowAll) CanCommit(context.Context, int, int, int) (bool, error) { return true, nil }

// An Executor runs one task from its invocation: it rebuilds the lineage
// through the Func registry, as a cluster executor does.
func ExampleExecutor() {
	dir, _ := os.MkdirTemp("", "executor")
	defer os.RemoveAll(dir)
	ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "w1", Dir: dir, Codec: block.S2, Committer: allowAll{}})
	if err != nil {
		log.Fatal(err)
	}
	g, _ := task.GraphOf(doubled.Invoke(2))
	nodes := g.Nodes()
	res := ex.Run(context.Background(), &worker.TaskSpec{
		Invocation: g.Invocation(), GraphDigest: g.Digest(),
		Task:   scheduler.Task{ID: 1, Kind: scheduler.ResultTask, Node: nodes[len(nodes)-1].ID, Partition: 1},
		Action: task.Action{Kind: task.ActCount},
	})
	fmt.Println(res.Status == worker.TaskSucceeded, res.Result)
	// Output: true [2]
}
