package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
)

var (
	sluiceOnce sync.Once
	sluiceBin  string
	sluiceDir  string // removed by TestMain
)

// sluice builds cmd/sluice once per test binary.
func sluice(t *testing.T) string {
	sluiceOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			t.Fatal(err)
		}
		sluiceDir = dir
		sluiceBin = clustertest.BuildSluiceInto(t, dir)
	})
	if sluiceBin == "" {
		t.Fatal("building sluice failed")
	}
	return sluiceBin
}

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

// tasksByWorker reads the session's closing log line (-v).
var tasksByWorker = regexp.MustCompile(`tasks_by_worker="?map\[([^\]]*)\]`)

func TestClusterWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 3, 40000, 1)
	out := filepath.Join(dir, "out")
	// Small splits so that every worker gets map tasks.
	r := runWithin(t, 3*time.Minute, append([]string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out, "--parallelism", "1"}, paths...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))

	m := tasksByWorker.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no task counts in the driver's log:\n%s", r.stderr)
	}
	workers := strings.Fields(m[1])
	if len(workers) < 2 || strings.Contains(m[1], "local:") {
		t.Fatalf("tasks ran on %v; want them spread over the workers", workers)
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

// A worker killed mid-job ends the job, with the right output or a clear
// error, never a hang.
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
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr syncLog
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for !strings.Contains(stderr.String(), "job submitted") {
		select {
		case err := <-exited:
			t.Fatalf("driver ended before its job started: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.Workers[1].Kill()
	select {
	case err := <-exited:
		if err == nil {
			t.Log("the job recovered and finished")
			equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
			return
		}
		t.Logf("the job failed: %v", err)
		last := strings.TrimSpace(stderr.String())
		last = last[strings.LastIndexByte(last, '\n')+1:]
		t.Logf("its message: %s", last)
		if !strings.Contains(last, ": ") || strings.Contains(last, "level=") {
			t.Fatalf("the failed job's last line is not an error message: %q", last)
		}
		if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); err == nil {
			t.Fatal("a failed job wrote _SUCCESS")
		}
	case <-ctx.Done():
		t.Fatalf("the driver hung after a worker was killed:\n%s", stderr.String())
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
