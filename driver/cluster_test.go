package driver

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/worker"
)

// The driver's cluster side, in this process: worker daemons on 127.0.0.1
// (startLocalCluster, as --local-cluster runs them, but with task workers
// and workers that come and go), real gossip and mutual-TLS RPC, and
// executors that are this test binary, started by the daemons (TestMain
// in program_test.go serves as one). Each test takes a second or two, so
// they run under -short.

// sumsF sums 8n numbers by their remainder mod 5 through a shuffle of n
// map tasks, so that a job leaves map outputs on the workers.
var sumsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
	data := make([]int, 8*n)
	for i := range data {
		data[i] = i
	}
	pairs := rdd.Map(rdd.Parallelize(data, rdd.Partitions(n)), func(x int) rdd.Pair[int, int] { return rdd.KV(x%5, x) })
	return rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(3))
})

func wantSums(n int) map[int]int {
	want := map[int]int{}
	for i := range 8 * n {
		want[i%5] += i
	}
	return want
}

// collectSums runs a job on r and checks its answer.
func collectSums(t *testing.T, s *Session, r *rdd.RDD[rdd.Pair[int, int]], n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := rdd.Collect(ctx, s, r)
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	sums := map[int]int{}
	for _, p := range got {
		sums[p.Key] = p.Value
	}
	if want := wantSums(n); !maps.Equal(sums, want) {
		t.Fatalf("sums %v, want %v", sums, want)
	}
}

// clusterSession opens a session on daemons of the given roles, two
// slots each, once minWorkers of them are ready.
func clusterSession(t *testing.T, cfg Config, roles []string, minWorkers int) (*Session, *localCluster) {
	t.Helper()
	var lc *localCluster
	s, err := newSession(cfg, func(s *Session) (backend, error) {
		var err error
		if lc, err = startLocalCluster(s, roles, 2, minWorkers); err != nil {
			return nil, err
		}
		return lc, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lc
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Parallelism, cfg.Wait = 4, 30*time.Second
	return cfg
}

// appStatus is the session's application on a daemon; ok false when the
// daemon runs none.
func appStatus(d *runningDaemon) (worker.AppStatus, bool) {
	apps := d.d.Status().Apps
	if len(apps) != 1 {
		return worker.AppStatus{}, false
	}
	return apps[0], true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// stopDaemon stops one daemon: it leaves the cluster, as a worker does on
// SIGINT, and its executor goes with it.
func stopDaemon(t *testing.T, d *runningDaemon) {
	t.Helper()
	d.stop()
	select {
	case err := <-d.ran:
		d.ran <- err
	case <-time.After(time.Minute):
		t.Fatal("a daemon did not stop within a minute")
	}
}

// The driver joins, uploads its binary once to each worker, starts one
// executor on each, runs jobs there, commits output through the CanCommit
// route; on Close every worker stops the application and removes its
// files.
func TestClusterRegistersAndCleansUp(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleCore, worker.RoleTask}, 2)
	if n := lc.ready(); n != 2 {
		t.Fatalf("%d workers ready, want 2", n)
	}
	var pids []int
	for _, d := range lc.daemons {
		a, ok := appStatus(d)
		if !ok || a.ID != lc.app || a.PID == 0 {
			t.Fatalf("%s: application %+v (running: %v), want an executor for %s", d.d.Status().Name, a, ok, lc.app)
		}
		pids = append(pids, a.PID)
		bins, _ := os.ReadDir(filepath.Join(d.d.Status().Disk.Dir, "bin"))
		if len(bins) != 1 || bins[0].Name() != lc.sha {
			t.Fatalf("cached binaries %v, want the driver's %s", bins, lc.sha)
		}
	}
	collectSums(t, s, sumsF.Invoke(6), 6)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rdd.SaveAsTextFile(ctx, s, sumsF.Invoke(4), out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); err != nil {
		t.Fatal(err)
	}

	dirs := []string{}
	for _, d := range lc.daemons {
		dirs = append(dirs, filepath.Join(d.d.Status().Disk.Dir, "apps", lc.app))
	}
	lc.cluster.close() // the daemons stay up
	for i, d := range lc.daemons {
		if apps := d.d.Status().Apps; len(apps) != 0 {
			t.Errorf("applications left after the driver closed: %+v", apps)
		}
		if alive(pids[i]) {
			t.Errorf("executor %d alive after the driver closed", pids[i])
		}
		if _, err := os.Stat(dirs[i]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the application's files are still on the worker: %v", err)
		}
	}
}

// A worker that joins mid-session gets the binary and an executor and
// takes tasks; a worker that leaves is withdrawn, the map outputs it held
// are recomputed, exactly those, and the next job still answers right.
func TestClusterWorkerJoinedAndLost(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleTask}, 1)
	r := sumsF.Invoke(6)
	collectSums(t, s, r, 6) // every map output is on the task worker
	task := lc.daemons[0]
	if a, _ := appStatus(task); a.MapOutputs != 6 {
		t.Fatalf("the task worker holds %d map outputs, want 6", a.MapOutputs)
	}

	core, err := lc.startDaemon(worker.RoleCore, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an executor on the worker that joined", func() bool { _, ok := appStatus(core); return ok && lc.ready() == 2 })
	collectSums(t, s, sumsF.Invoke(16), 16)
	if s.Metrics().TasksByWorker[core.d.Status().Name] == 0 {
		t.Fatalf("the worker that joined ran no task: %v", s.Metrics().TasksByWorker)
	}

	stopDaemon(t, task)
	waitFor(t, "the driver to withdraw the task worker", func() bool { return lc.ready() == 1 })
	collectSums(t, s, r, 6)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Metrics(); m.TasksRecomputed != 6 {
		t.Fatalf("%d map tasks recomputed after losing the worker that held all 6 outputs", m.TasksRecomputed)
	}
	if c := s.summary(nil).Cluster; c.WorkersReady != 2 || c.WorkersLost != 1 || c.ExecutorsRestarted != 0 {
		t.Fatalf("cluster summary %+v, want 2 workers ready and 1 lost", c)
	}
}

// An executor that crashed (its worker still gossips) refuses the next
// task's connection: the worker is suspect, not lost; its tasks go
// elsewhere, its executor is started again, and the job answers right.
func TestClusterExecutorCrashIsSuspect(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleCore, worker.RoleCore}, 2)
	victim := lc.daemons[1]
	before, _ := appStatus(victim)
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker to see its executor exit", func() bool { _, ok := appStatus(victim); return !ok })
	collectSums(t, s, sumsF.Invoke(16), 16)
	waitFor(t, "a new executor on the worker", func() bool {
		a, ok := appStatus(victim)
		return ok && a.PID != before.PID && a.Executor != ""
	})
	lc.mu.Lock()
	r := lc.workers[victim.d.Status().Name]
	lc.mu.Unlock()
	if r == nil {
		t.Fatal("an executor crash cost the driver its worker")
	}
	if c := s.summary(nil).Cluster; c.WorkersLost != 0 || c.ExecutorsRestarted < 1 {
		t.Fatalf("cluster summary %+v, want an executor restarted and no worker lost", c)
	}
}

// An executor that stops answering heartbeats (SIGSTOP: its worker still
// gossips, its connections still open) is frozen: its tasks are lost and
// run elsewhere, and its worker replaces it.
func TestClusterFrozenExecutorIsReplaced(t *testing.T) {
	cfg := testConfig()
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	s, lc := clusterSession(t, cfg, []string{worker.RoleCore, worker.RoleCore}, 2)
	victim := lc.daemons[1]
	before, _ := appStatus(victim)
	if err := syscall.Kill(before.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(before.PID, syscall.SIGKILL) })
	collectSums(t, s, sumsF.Invoke(16), 16)
	waitFor(t, "the worker to replace the frozen executor", func() bool {
		a, ok := appStatus(victim)
		return ok && a.PID != before.PID && a.Executor != ""
	})
	waitFor(t, "the frozen executor to be killed", func() bool { return !alive(before.PID) })
	if c := s.summary(nil).Cluster; c.ExecutorsReplaced < 1 || c.WorkersLost != 0 {
		t.Fatalf("cluster summary %+v, want a frozen executor replaced and no worker lost", c)
	}
}

// A draining task worker: the driver moves its map outputs to a core
// worker, tells it Drained, and it leaves; the next job on the same
// lineage recomputes nothing.
func TestClusterDrainMovesOutputs(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleTask}, 1)
	r := sumsF.Invoke(6)
	collectSums(t, s, r, 6) // every map output is on the task worker
	task := lc.daemons[0]
	if a, _ := appStatus(task); a.MapOutputs != 6 {
		t.Fatalf("the task worker holds %d map outputs, want 6", a.MapOutputs)
	}
	core, err := lc.startDaemon(worker.RoleCore, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the core worker to be ready", func() bool { return lc.ready() == 2 })
	task.d.Drain()
	select {
	case err := <-task.ran:
		task.ran <- err
		if err != nil {
			t.Fatalf("the drained worker's Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the draining worker did not leave")
	}
	if a, _ := appStatus(core); a.MapOutputs != 6 {
		t.Fatalf("the core worker holds %d map outputs after the drain, want 6", a.MapOutputs)
	}
	collectSums(t, s, r, 6)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Metrics(); m.TasksRecomputed != 0 {
		t.Fatalf("%d map tasks recomputed after a drain", m.TasksRecomputed)
	}
	if c := s.summary(nil).Cluster; c.OutputsMoved != 6 || c.WorkersDrained != 1 {
		t.Fatalf("cluster summary %+v, want 6 outputs moved off 1 drained worker", c)
	}
}

// With ShuffleReplicas 1, every map output written on a task worker is
// copied to a core worker before its task counts as done: losing the task
// worker costs no recomputation.
func TestClusterReplicasOnCoreWorkers(t *testing.T) {
	cfg := testConfig()
	cfg.ShuffleReplicas = 1
	s, lc := clusterSession(t, cfg, []string{worker.RoleCore, worker.RoleTask}, 2)
	r := sumsF.Invoke(8)
	collectSums(t, s, r, 8)
	core, _ := appStatus(lc.daemons[0])
	task, _ := appStatus(lc.daemons[1])
	if task.MapOutputs == 0 {
		t.Skip("the task worker ran no map task: nothing to replicate")
	}
	if core.MapOutputs != 8 {
		t.Fatalf("the core worker holds %d map outputs (the task worker %d), want all 8", core.MapOutputs, task.MapOutputs)
	}
	if c := s.summary(nil).Cluster; c.OutputsReplicated != task.MapOutputs {
		t.Fatalf("cluster summary %+v, want the task worker's %d outputs replicated", c, task.MapOutputs)
	}
	stopDaemon(t, lc.daemons[1])
	waitFor(t, "the driver to withdraw the task worker", func() bool { return lc.ready() == 1 })
	collectSums(t, s, r, 8)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.Metrics(); m.TasksRecomputed != 0 {
		t.Fatalf("%d map tasks recomputed despite replicas", m.TasksRecomputed)
	}
}

// The core worker that a copy goes to is chosen among live core workers
// other than the source, spread by map number, and never a draining one.
func TestCoreChoice(t *testing.T) {
	c := &cluster{workers: map[string]*remote{
		"c2": {name: "c2", role: worker.RoleCore, exec: "x"},
		"c1": {name: "c1", role: worker.RoleCore, exec: "x"},
		"c3": {name: "c3", role: worker.RoleCore, exec: "x", draining: true},
		"c4": {name: "c4", role: worker.RoleCore}, // no executor yet
		"t1": {name: "t1", role: worker.RoleTask, exec: "x"},
	}}
	var got []string
	for i := range 4 {
		got = append(got, c.core(i, "t1").name)
	}
	if want := []string{"c1", "c2", "c1", "c2"}; !slices.Equal(got, want) {
		t.Fatalf("copies go to %v, want %v", got, want)
	}
	if r := c.core(0, "c1"); r == nil || r.name != "c2" {
		t.Fatalf("a copy from c1 goes to %v, want c2", r)
	}
	delete(c.workers, "c2")
	if r := c.core(0, "c1"); r != nil {
		t.Fatalf("with no other live core worker a copy goes to %s", r.name)
	}
}

// --job-summary's file is the session's outcome and counts as JSON, written
// whole; a failed program says why.
func TestWriteSummary(t *testing.T) {
	s, _ := clusterSession(t, testConfig(), []string{worker.RoleCore}, 1)
	collectSums(t, s, sumsF.Invoke(4), 4)
	s.Close()
	path := filepath.Join(t.TempDir(), "summary.json")
	if err := writeSummary(path, s.summary(errors.New("boom"))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Summary
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK || got.Error != "boom" || got.App == "" || got.Tasks < 5 || got.TasksByWorker["local-1"] < 5 || got.Cluster == nil || got.Cluster.WorkersReady != 1 {
		t.Fatalf("summary %s", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("writing the summary left %d files", len(ents))
	}
}
