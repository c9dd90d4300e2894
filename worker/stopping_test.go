package worker_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/worker"
)

// A worker that is stopping starts no executor: one started after it
// stopped the others would outlive them and hold its shutdown forever
// (a driver restarts the executor of a task cut off by the stop).
func TestStoppingWorkerStartsNoExecutor(t *testing.T) {
	d := startDaemon(t, "w1", newCreds(t), nil)
	held := startApp(t, d, "app-1")
	// Stopped, app-1's executor holds the shutdown in its SIGTERM grace.
	if err := syscall.Kill(held.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(held.PID, syscall.SIGKILL) })
	d.cancel()
	waitFor(t, "the worker to stop app-1", func() bool { return len(d.status(t).Apps) == 0 })
	req := startRequest(uploadSelf(t, d.client, d.Addr()), nil, nil)
	req.App = "app-2"
	_, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor, req)
	if err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("StartExecutor on a stopping worker: %v", err)
	}
	select {
	case err := <-d.ran:
		d.ran <- err
	case <-time.After(time.Minute):
		t.Fatal("the worker did not stop within a minute")
	}
}
