package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
)

// TestClusterFrozenNode: a whole task node frozen (SIGSTOP of its worker
// daemon and its executors, by PID) at the start of the reduce stage, while
// reducers are about to fetch the map outputs it holds, costs about what
// SIGKILL at the same point costs: gossip declares it lost within seconds,
// the executors' fetches from it are cancelled (WorkerLost) or time out,
// and its outputs are recomputed. Issue 9 measured 76 s against 13 s, the
// reducers waiting out a 60 s fetch timeout.
func TestClusterFrozenNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	dir := t.TempDir()
	paths := manyKeysCorpus(t, dir, 4, 40000, 20000, 61)
	want := naiveCount(t, paths...)
	took := map[syscall.Signal]time.Duration{}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
		out := filepath.Join(t.TempDir(), "out")
		gate := filepath.Join(t.TempDir(), "gate")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
		cmd.Env = append(os.Environ(), asShuffle+"=8,8", asShuffleGate+"="+gate)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var log syncLog
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		pollUntil(t, "the reduce stage to start", func() bool {
			_, err := os.Stat(gate + ".started")
			return err == nil
		})
		victim := c.Workers[2]
		pids := append([]int{victim.PID()}, victim.ExecutorPIDs()...)
		t.Cleanup(func() {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL) // a stopped process dies of it too
				syscall.Kill(pid, syscall.SIGCONT)
			}
		})
		for _, pid := range pids {
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatalf("%v to %d: %v", sig, pid, err)
			}
		}
		start := time.Now()
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%v: the driver did not finish within 2 minutes:\n%s", sig, log.String())
			}
			t.Fatalf("%v: driver: %v\n%s", sig, err, log.String())
		}
		took[sig] = time.Since(start)
		if sig == syscall.SIGSTOP && took[sig] > took[syscall.SIGKILL]+frozenSlack {
			t.Logf("driver log:\n%s", log.String())
		}
		equalCounts(t, readOutput(t, out), want)
		t.Logf("%v of a task node (%d processes) at the start of the reduce stage: the job ended %v later", sig, len(pids), took[sig])
	}
	if stop, kill := took[syscall.SIGSTOP], took[syscall.SIGKILL]; stop > kill+frozenSlack {
		t.Errorf("a frozen node cost %v, a killed one %v: want at most %v more", stop, kill, frozenSlack)
	}
}

// frozenSlack is how much longer a frozen node may cost than a killed
// one: a killed worker's peers see refused connections at once, a frozen
// one's wait for gossip to declare it failed (2-3.5 s), when WorkerLost
// ends their fetches. Measured on a 2-core VM under -race: 2.3-3.4 s more
// in most runs; in about one run in eight the driver's own shutdown took
// 6-11 s longer after the job had ended (stopping with a frozen member).
// Issue 9 measured 63 s more, the 60 s fetch timeout; 20 s keeps the test
// well clear of both.
const frozenSlack = 20 * time.Second
