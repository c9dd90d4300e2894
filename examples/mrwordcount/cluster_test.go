package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/sluicehq/sluice/mapreduce"
)

// sluiceBuild builds cmd/sluice once per test binary; TestMain removes it.
var sluiceBuild clustertest.Once

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// A task worker holding map outputs is SIGKILLed mid-job: its outputs
// are recomputed, and the counters in the job summary still count every
// map and reduce task once, exactly as a naive count says.
func TestClusterCountersAfterLostWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluiceBuild.Path(t), clustertest.Options{Core: 1, Task: 2})
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(13, 13))
	var paths []string
	for i := range 6 {
		p := filepath.Join(dir, "in-"+string(rune('a'+i))+".txt")
		if err := os.WriteFile(p, []byte(randomText(rng, 150000)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	lines, words := 0, 0
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		s := string(b)
		lines += strings.Count(s, "\n")
		if !strings.HasSuffix(s, "\n") && s != "" {
			lines++
		}
		words += len(strings.Fields(s))
	}
	want := naiveCount(t, paths...)
	out := filepath.Join(dir, "out")
	summary := filepath.Join(t.TempDir(), "summary.json")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-v", "--job-summary", summary, "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log syncLog
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Kill the first task worker as soon as it holds a map output.
	victim := c.Workers[1]
	deadline := time.After(2 * time.Minute)
	for held := false; !held; {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := victim.Status(sctx)
		scancel()
		for _, a := range st.Apps {
			held = held || err == nil && a.MapOutputs > 0
		}
		select {
		case err := <-exited:
			t.Fatalf("driver ended (%v) before the task worker held a map output\n%s", err, log.String())
		case <-deadline:
			t.Fatal("no map output on the task worker within 2 minutes")
		case <-time.After(5 * time.Millisecond):
		}
	}
	victim.Kill()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the job did not survive losing a task worker: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("the driver hung after a worker was killed:\n%s", log.String())
	}
	equalCounts(t, readOutput(t, out), want)

	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum driver.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.TasksRecomputed == 0 || sum.Cluster == nil || sum.Cluster.WorkersLost != 1 {
		t.Fatalf("summary %s: want a worker lost and its map outputs recomputed", b)
	}
	mr := sum.Counters[mapreduce.TaskCounters]
	for name, n := range map[string]int{
		mapreduce.MapInputRecords:     lines,
		mapreduce.MapOutputRecords:    words,
		mapreduce.CombineInputRecords: words,
		mapreduce.ReduceInputGroups:   len(want),
		mapreduce.ReduceOutputRecords: len(want),
	} {
		if mr[name] != int64(n) {
			t.Errorf("counter %s = %d, want %d", name, mr[name], n)
		}
	}
	if mr[mapreduce.ReduceInputRecords] != mr[mapreduce.CombineOutputRecords] {
		t.Errorf("REDUCE_INPUT_RECORDS %d, want COMBINE_OUTPUT_RECORDS %d", mr[mapreduce.ReduceInputRecords], mr[mapreduce.CombineOutputRecords])
	}
	t.Logf("tasks recomputed %d; counters %v", sum.TasksRecomputed, mr)
}
