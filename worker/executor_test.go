package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// extraStep makes unstableF build a different lineage once set: a Func that
// depends on state outside its argument.
var extraStep atomic.Bool

var unstableF = rdd.Func(func(n int) *rdd.RDD[int] {
	r := rdd.Parallelize([]int{1, 2, 3}, rdd.Partitions(n))
	if extraStep.Load() {
		r = rdd.Map(r, func(x int) int { return x })
	}
	return r
})

var panicky = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1, 2, 3}, rdd.Partitions(n)), func(x int) int {
		if x == 2 {
			panic("two is right out")
		}
		return x
	})
})

func newExecutor(t *testing.T) *worker.Executor {
	t.Helper()
	ex, err := worker.NewExecutor(worker.ExecutorConfig{Name: "w", Dir: t.TempDir(), Codec: block.S2, Committer: allowAll{}})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func resultSpec(t *testing.T, r *rdd.RDD[int], part int) *worker.TaskSpec {
	t.Helper()
	g, err := task.GraphOf(r)
	if err != nil {
		t.Fatal(err)
	}
	nodes := g.Nodes()
	return &worker.TaskSpec{
		Invocation: g.Invocation(), GraphDigest: g.Digest(),
		Task:   scheduler.Task{ID: 7, Kind: scheduler.ResultTask, Node: nodes[len(nodes)-1].ID, Partition: part},
		Action: task.Action{Kind: task.ActCollect},
	}
}

func TestExecutorRefusesADifferentLineage(t *testing.T) {
	extraStep.Store(false)
	spec := resultSpec(t, unstableF.Invoke(1), 0)
	extraStep.Store(true)
	defer extraStep.Store(false)
	res := newExecutor(t).Run(context.Background(), spec)
	if res.Status != worker.TaskFailed || !strings.Contains(res.Err, "different lineage") {
		t.Fatalf("status %d, err %q; want a failure naming the lineage mismatch", res.Status, res.Err)
	}
}

func TestExecutorUnknownFunc(t *testing.T) {
	spec := resultSpec(t, unstableF.Invoke(1), 0)
	spec.Invocation.Key = "main.init:999"
	res := newExecutor(t).Run(context.Background(), spec)
	if res.Status != worker.TaskFailed || !strings.Contains(res.Err, "main.init:999") {
		t.Fatalf("status %d, err %q", res.Status, res.Err)
	}
}

func TestExecutorPanicIsAFailureWithStack(t *testing.T) {
	ex := newExecutor(t)
	res := ex.Run(context.Background(), resultSpec(t, panicky.Invoke(3), 1))
	if res.Status != worker.TaskFailed || !strings.Contains(res.Err, "two is right out") || !strings.Contains(res.Stack, "worker_test") {
		t.Fatalf("status %d, err %q, stack %q", res.Status, res.Err, res.Stack)
	}
	if res := ex.Run(context.Background(), resultSpec(t, panicky.Invoke(3), 0)); res.Status != worker.TaskSucceeded {
		t.Fatalf("a good partition after a panic: %+v", res)
	}
}

func TestExecutorCancelledTaskIsLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := newExecutor(t).Run(ctx, resultSpec(t, textF.Invoke("executor_test.go"), 0))
	if res.Status != worker.TaskLost {
		t.Fatalf("a task whose context was cancelled ended %d (%s), want lost", res.Status, res.Err)
	}
}

var textF = rdd.Func(func(path string) *rdd.RDD[int] {
	return rdd.Map(rdd.TextFile(path), func(s string) int { return len(s) })
})

var (
	errRegistered   = rdd.RegisterError(errors.New("registered in worker_test"))
	errUnregistered = errors.New("not registered")
)

var wireF = rdd.Func(func(n int) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{n}, rdd.Partitions(1)), func(x int) int {
		panic(rdd.Permanent(fmt.Errorf("record %d: %w and %w", x, errRegistered, errUnregistered)))
	})
})

// A failure crosses the network as data: the driver's TaskError has the
// executor's message, frame, stack and classification, and matches the
// registered errors the original matched (by the driver's own values),
// while the in-process one wraps the original itself.
func TestTaskErrorCrossesTheWire(t *testing.T) {
	spec := resultSpec(t, wireF.Invoke(5), 0)
	spec.Task.Stage, spec.Task.Attempt = 3, 2
	res, local := newExecutor(t).RunInProcess(context.Background(), spec)
	if res.Status != worker.TaskFailed || local == nil {
		t.Fatalf("status %d, failure %v", res.Status, local)
	}
	if !errors.Is(local, errRegistered) || !errors.Is(local, errUnregistered) || !errors.Is(local, rdd.ErrPermanent) {
		t.Fatalf("the in-process TaskError %v does not wrap the original error", local)
	}
	if !strings.Contains(local.Frame, "executor_test.go:") || local.Stage != 3 || local.Partition != 0 || local.Attempt != 2 || local.Worker != "w" {
		t.Fatalf("in-process TaskError %+v", *local)
	}
	if !strings.HasPrefix(local.Stack, "goroutine ") || !strings.Contains(local.Stack, "\npanic(") || strings.Contains(local.Stack, "worker.(*Executor).panicked") {
		t.Fatalf("the stack should start at the panic:\n%s", local.Stack)
	}

	c := codec.For[worker.TaskResult]()
	wire, err := c.Decode(c.Append(nil, res))
	if err != nil {
		t.Fatal(err)
	}
	remote := wire.TaskError()
	if remote.Error() != local.Error() || remote.Stack != local.Stack || remote.Frame != local.Frame ||
		remote.Stage != 3 || remote.Partition != 0 || remote.Attempt != 2 || remote.Worker != "w" || !remote.Permanent {
		t.Fatalf("over the wire:\n%+v\nin process:\n%+v", *remote, *local)
	}
	if !errors.Is(remote, errRegistered) || !errors.Is(remote, rdd.ErrPermanent) {
		t.Fatalf("over the wire, %v does not match the registered error and ErrPermanent", remote)
	}
	if errors.Is(remote, errUnregistered) {
		t.Fatal("over the wire, an unregistered error matched")
	}
}

// buildPanics makes panicsInBuild's Func panic while it builds, that many
// times: as one that reads a Broadcast the executor cannot fetch yet.
var buildPanics atomic.Int32

var panicsInBuild = rdd.Func(func(n int) *rdd.RDD[int] {
	if buildPanics.Add(-1) >= 0 {
		panic(errors.New("no value yet"))
	}
	return rdd.Parallelize([]int{1, 2, 3}, rdd.Partitions(n))
})

// A Func that panics on the executor fails that task with the panic, and
// the next task of the lineage rebuilds it.
func TestExecutorFuncPanicsWhileRebuilding(t *testing.T) {
	buildPanics.Store(0)
	spec := resultSpec(t, panicsInBuild.Invoke(1), 0)
	ex := newExecutor(t)
	buildPanics.Store(1)
	if res := ex.Run(context.Background(), spec); res.Status != worker.TaskFailed || !strings.Contains(res.Err, "no value yet") {
		t.Fatalf("status %d, err %q; want the Func's panic", res.Status, res.Err)
	}
	if res := ex.Run(context.Background(), spec); res.Status != worker.TaskSucceeded {
		t.Fatalf("the next task: status %d, err %q; want the lineage rebuilt", res.Status, res.Err)
	}
}
