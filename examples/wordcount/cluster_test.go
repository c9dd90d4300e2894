package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/rdd"
)

// sluiceBuild builds cmd/sluice once per test binary; TestMain removes it.
var sluiceBuild clustertest.Once

// sluice returns the sluice binary, building it on the first call.
func sluice(t *testing.T) string { return sluiceBuild.Path(t) }

func writeCorpus(t *testing.T, dir string, files, words int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 9))
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("in-%d.txt", i))
		if err := os.WriteFile(p, []byte(randomText(rng, words)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// jobSummary is where a test's driver writes --job-summary; readSummary
// reads it once the driver has exited.
func jobSummary(t *testing.T) string { return filepath.Join(t.TempDir(), "summary.json") }

func readSummary(t *testing.T, path string) driver.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the driver's --job-summary: %v", err)
	}
	var sum driver.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("the driver's --job-summary: %v\n%s", err, b)
	}
	return sum
}

func TestClusterWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 3, 40000, 1)
	out, summary := filepath.Join(dir, "out"), jobSummary(t)
	r := runWithin(t, 3*time.Minute, append([]string{"--job-summary", summary, "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))

	sum := readSummary(t, summary)
	if !sum.OK || len(sum.TasksByWorker) < 2 || sum.TasksByWorker["local"] != 0 || sum.Cluster == nil || sum.Cluster.WorkersReady != 3 {
		t.Fatalf("tasks ran on %v (summary %+v); want them spread over the 3 workers", sum.TasksByWorker, sum.Cluster)
	}
}

func TestClusterNothingListening(t *testing.T) {
	addr := clustertest.FreeAddr(t)
	start := time.Now()
	r := runWithin(t, time.Minute, "--join", addr, "--wait", "2s", "--output", filepath.Join(t.TempDir(), "o"), "main_test.go")
	if r.code == 0 || !strings.Contains(r.stderr, addr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q: want one line naming %s", r.code, r.stderr, addr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("took %v to give up with --wait 2s", d)
	}
}

// A job survives a task worker SIGKILLed mid-job, with the right output,
// and never hangs.
func TestClusterWorkerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 6, 150000, 2)
	out := filepath.Join(dir, "out")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log, exited := startDriver(t, ctx, asMain+"=1", append([]string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
	awaitMapOutputs(t, c, exited)
	c.Workers[1].Kill()
	select {
	case err := <-exited:
		if ctx.Err() != nil {
			t.Fatalf("the driver hung after a worker was killed:\n%s", log.String())
		}
		if err != nil {
			t.Fatalf("the job did not survive losing a task worker: %v\n%s", err, log.String())
		}
		equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
	case <-ctx.Done():
		t.Fatalf("the driver hung after a worker was killed:\n%s", log.String())
	}
}

// Task workers killed one after another, after their map outputs were
// written: the core worker recomputes what was lost and finishes the job.
func TestClusterEveryTaskWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	summary := jobSummary(t)
	gate, log, exited := startGated(t, "-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "3")
	awaitStarted(t, gate)
	for _, w := range c.Workers[1:] {
		w.Kill()
	}
	os.WriteFile(gate, nil, 0o644)
	if err := <-exited; err != nil {
		t.Fatalf("driver: %v\n%s", err, log.String())
	}
	if sum := readSummary(t, summary); sum.TasksByWorker[c.Workers[0].Addr] == 0 || sum.Cluster.WorkersLost != 2 {
		t.Fatalf("the core worker did not finish the job after losing 2: tasks %v, cluster %+v", sum.TasksByWorker, sum.Cluster)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// asGated runs a test driver whose tasks wait for a gate file: a job that
// stays running until the test lets it end.
const asGated = "SLUICE_WORDCOUNT_GATED"

type gateArgs struct {
	Gate  string
	Tasks int
}

// gatedF is registered in this test binary, which is also the executors'
// binary, so executors rebuild it like any lineage. Its map stage runs
// freely; its result tasks announce themselves (gate.started) and then wait
// for the gate, so a test can act once every map output is written.
var gatedF = rdd.Func(func(a gateArgs) *rdd.RDD[int] {
	data := make([]int, 10*a.Tasks)
	for i := range data {
		data[i] = i
	}
	pairs := rdd.Map(rdd.Parallelize(data, rdd.Partitions(a.Tasks)), func(x int) rdd.Pair[int, int] { return rdd.KV(x%a.Tasks, x) })
	sums := rdd.ReduceByKey(pairs, func(x, y int) int { return x + y }, rdd.Partitions(a.Tasks))
	return rdd.Map(sums, func(p rdd.Pair[int, int]) int {
		os.WriteFile(a.Gate+".started", nil, 0o644)
		// Which worker runs it: the executor's environment names it.
		os.WriteFile(a.Gate+".started."+os.Getenv("SLUICE_WORKER_NAME"), nil, 0o644)
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(a.Gate); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond) // a task's work: wait for the gate
		}
		return p.Value
	})
})

func runGated(gate string) {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		got, err := rdd.Collect(ctx, s, gatedF.Invoke(gateArgs{Gate: gate, Tasks: 8}))
		if err == nil {
			total := 0
			for _, v := range got {
				total += v
			}
			if want := 80 * 79 / 2; total != want {
				err = fmt.Errorf("gated job: sum %d, want %d", total, want)
			}
		}
		return err
	})
}

// startGated starts the gated test driver with args; the test's deadline
// bounds it. It returns the gate file to create to let the job finish.
func startGated(t *testing.T, args ...string) (string, *syncLog, chan error) {
	gate := filepath.Join(t.TempDir(), "gate")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	log, exited := startDriver(t, ctx, asGated+"="+gate, args...)
	return gate, log, exited
}

// startDriver starts this test binary as a driver with env and args.
func startDriver(t *testing.T, ctx context.Context, env string, args ...string) (*syncLog, chan error) {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr syncLog
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return &stderr, exited
}

// awaitMapOutputs polls the workers' Status routes until one holds a map
// output: the driver has all its workers and its job is running.
func awaitMapOutputs(t *testing.T, c *clustertest.Cluster, exited chan error) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		for _, w := range c.Workers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			st, err := w.Status(ctx)
			cancel()
			for _, a := range st.Apps {
				if err == nil && a.MapOutputs > 0 {
					return
				}
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("driver ended (%v) before a map output was written", err)
		case <-deadline:
			t.Fatal("no map output written within 2 minutes")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// awaitLog polls a log until it holds want.
func awaitLog(t *testing.T, log *syncLog, exited chan error, want string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(log.String(), want) {
		select {
		case err := <-exited:
			t.Fatalf("driver ended (%v) before logging %q:\n%s", err, want, log.String())
		case <-deadline:
			t.Fatalf("driver did not log %q:\n%s", want, log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestClusterWorkerJoinsMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1})
	summary := jobSummary(t)
	gate, log, exited := startGated(t, "-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "1")
	awaitStarted(t, gate) // the job runs, its tasks held at the gate
	late := c.Add(t, "task")
	// Tasks wait at the gate, so queued ones go to the late worker once
	// the driver has it: wait until one runs there.
	pollUntil(t, "a task on the worker that joined", func() bool {
		_, err := os.Stat(gate + ".started." + late.Addr)
		return err == nil
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("driver: %v\n%s", err, log.String())
	}
	if sum := readSummary(t, summary); sum.TasksByWorker[late.Addr] == 0 || sum.Cluster.WorkersReady != 2 {
		t.Fatalf("the worker that joined mid-job ran no task: %v, %+v", sum.TasksByWorker, sum.Cluster)
	}
}

// Executors die with their worker, and an application's files go when it
// ends.
func TestClusterExecutorsAndFilesLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 2, 20000, 3)
	r := runWithin(t, 3*time.Minute, append([]string{"--join", c.Join, "--min-workers", "2", "--output", filepath.Join(dir, "out")}, paths...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range c.Workers {
		pollUntil(t, "the application's files removed on "+w.Addr, func() bool {
			ents, err := os.ReadDir(filepath.Join(w.Dir, "apps"))
			return err == nil && len(ents) == 0
		})
	}

	// A job that stays running, then SIGKILL to a worker: its executor
	// must not outlive it.
	gate, log, exited := startGated(t, "-v", "--join", c.Join, "--min-workers", "2")
	awaitStarted(t, gate)
	victim := c.Workers[1]
	var pids []int
	pollUntil(t, "an executor on "+victim.Addr, func() bool { pids = victim.ExecutorPIDs(); return len(pids) == 1 })
	victim.Kill()
	pollUntil(t, "the executor to die with its worker", func() bool { return syscall.Kill(pids[0], 0) != nil })
	os.WriteFile(gate, nil, 0o644)
	if err := <-exited; err != nil {
		t.Fatalf("driver after losing a worker: %v\n%s", err, log.String())
	}
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// asStraggler runs a test driver with one straggling task: the first
// attempt to reach element 7 takes a lock file and waits; any other
// attempt of that partition finds the lock and finishes at once.
const asStraggler = "SLUICE_WORDCOUNT_STRAGGLER"

var stragglerF = rdd.Func(func(dir string) *rdd.RDD[int] {
	data := make([]int, 20)
	for i := range data {
		data[i] = i
	}
	return rdd.Map(rdd.Parallelize(data, rdd.Partitions(10)), func(x int) int {
		if x == 7 {
			if f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_EXCL, 0o644); err == nil {
				f.Close()
				deadline := time.Now().Add(2 * time.Minute)
				for time.Now().Before(deadline) {
					if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond) // the straggler's slow work
				}
			}
		}
		return x
	})
})

func runStraggler(dir string) {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		n, err := rdd.Count(ctx, s, stragglerF.Invoke(dir))
		if err == nil && n != 20 {
			err = fmt.Errorf("straggler job counted %d, want 20", n)
		}
		return err
	})
}

func TestClusterSpeculationOvertakesStraggler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1, Slots: 2})
	dir := t.TempDir()
	defer os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	summary := jobSummary(t)
	log, exited := startDriver(t, ctx, asStraggler+"="+dir, "-v", "--job-summary", summary, "--speculation", "--join", c.Join, "--min-workers", "2")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("driver: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("the job waited for its straggler:\n%s", log.String())
	}
	if sum := readSummary(t, summary); sum.Speculated != 1 {
		t.Fatalf("%d speculative copies, want 1:\n%s", sum.Speculated, log.String())
	}
}

func awaitStarted(t *testing.T, gate string) {
	t.Helper()
	pollUntil(t, "the result stage to start", func() bool {
		_, err := os.Stat(gate + ".started")
		return err == nil
	})
}

// SIGTERM to a task worker is a spot interruption notice: it drains, its
// map outputs move to the core worker, it exits 0, and nothing is
// recomputed.
func TestClusterSigtermDrainsWithoutRecomputation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	summary := jobSummary(t)
	gate, log, exited := startGated(t, "-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "2")
	awaitStarted(t, gate)
	victim := c.Workers[1]
	if err := victim.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, log, exited, `msg="worker draining"`)
	os.WriteFile(gate, nil, 0o644)
	if err := <-exited; err != nil {
		t.Fatalf("driver: %v\n%s", err, log.String())
	}
	select {
	case <-victim.Exited():
	case <-time.After(time.Minute):
		t.Fatalf("the draining worker did not exit:\n%s", victim.Log())
	}
	if code := victim.ExitCode(); code != 0 {
		t.Fatalf("the drained worker exited %d:\n%s", code, victim.Log())
	}
	if sum := readSummary(t, summary); sum.TasksRecomputed != 0 {
		t.Fatalf("after a graceful drain: %d tasks recomputed, cluster %+v\n%s", sum.TasksRecomputed, sum.Cluster, log.String())
	}
}

// With --shuffle-replicas 1, a task worker SIGKILLed after its map tasks
// finished costs no recomputation.
func TestClusterReplicasAvoidRecomputation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	summary := jobSummary(t)
	gate, log, exited := startGated(t, "-v", "--job-summary", summary, "--shuffle-replicas", "1", "--join", c.Join, "--min-workers", "2")
	awaitStarted(t, gate)
	c.Workers[1].Kill()
	os.WriteFile(gate, nil, 0o644)
	if err := <-exited; err != nil {
		t.Fatalf("driver: %v\n%s", err, log.String())
	}
	if sum := readSummary(t, summary); sum.TasksRecomputed != 0 || sum.Cluster.WorkersLost != 1 {
		t.Fatalf("after losing a task worker with replicas: %d map tasks recomputed, cluster %+v\n%s", sum.TasksRecomputed, sum.Cluster, log.String())
	}
}

// asCrasher runs a test driver whose executor crashes once: the first
// attempt to reach element 5 exits the executor process.
const asCrasher = "SLUICE_WORDCOUNT_CRASHER"

var crasherF = rdd.Func(func(dir string) *rdd.RDD[int] {
	data := make([]int, 40)
	for i := range data {
		data[i] = i
	}
	pairs := rdd.Map(rdd.Parallelize(data, rdd.Partitions(10)), func(x int) rdd.Pair[int, int] {
		if x == 5 {
			if f, err := os.OpenFile(filepath.Join(dir, "crashed"), os.O_CREATE|os.O_EXCL, 0o644); err == nil {
				f.Close()
				os.Exit(3) // the executor dies mid-task
			}
		}
		return rdd.KV(x%4, x)
	})
	return rdd.Values(rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(4)))
})

func runCrasher(dir string) {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		got, err := rdd.Collect(ctx, s, crasherF.Invoke(dir))
		total := 0
		for _, v := range got {
			total += v
		}
		if err == nil && total != 40*39/2 {
			err = fmt.Errorf("crasher job: sum %d, want %d", total, 40*39/2)
		}
		return err
	})
}

// An executor crash loses no worker: its task is retried, the executor is
// started again, and the job finishes with the right result.
func TestClusterExecutorCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	summary := jobSummary(t)
	log, exited := startDriver(t, ctx, asCrasher+"="+dir, "-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "2")
	if err := <-exited; err != nil {
		t.Fatalf("driver after an executor crash: %v\n%s", err, log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "crashed")); err != nil {
		t.Fatal("no executor crashed")
	}
	if sum := readSummary(t, summary); sum.Cluster.WorkersLost != 0 || sum.Cluster.ExecutorsRestarted == 0 {
		t.Fatalf("an executor crash: cluster %+v, want its executor restarted and no worker lost\n%s", sum.Cluster, log.String())
	}
}

// TestClusterFrozenExecutor: an executor stopped with SIGSTOP mid-job while
// its worker still gossips is found by its missed heartbeats; its tasks run
// elsewhere, its worker replaces it, and the job ends with the right
// counts within a bound far below --task-timeout.
func TestClusterFrozenExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 6, 150000, 4)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	summary := jobSummary(t)
	log, exited := startDriver(t, ctx, asMain+"=1", append([]string{"-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "3", "--heartbeat-timeout", "3s", "--output", out}, paths...)...)
	awaitMapOutputs(t, c, exited)
	var pids []int
	pollUntil(t, "the task worker's executor to start", func() bool {
		pids = c.Workers[1].ExecutorPIDs()
		return len(pids) > 0
	})
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGKILL) })
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the job failed with a frozen executor: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("the driver hung on a frozen executor:\n%s", log.String())
	}
	t.Logf("finished in %v with an executor frozen", time.Since(start))
	if sum := readSummary(t, summary); sum.Cluster.WorkersLost != 0 {
		t.Errorf("a frozen executor cost a worker: %+v", sum.Cluster)
	} else if sum.Cluster.ExecutorsReplaced == 0 {
		t.Logf("the job ended before the frozen executor was found: %+v", sum.Cluster)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
}
