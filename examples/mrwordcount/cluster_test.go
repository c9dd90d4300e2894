package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// sluiceBuild builds cmd/sluice once per test binary; TestMain removes it.
var sluiceBuild clustertest.Once

// asGated runs the test binary as a driver of gatedCount; its value is the
// gate directory.
const asGated = "SLUICE_MRWORDCOUNT_GATED"

// gatedCount is wordCount whose map task that reaches the line holding
// gateWord first writes started-* in the gate directory and waits (at
// most a minute, once per process) for its file "go": the test kills a
// worker that holds finished map outputs while the map stage cannot have
// finished, so the reducers have read none of them.
var gatedCount = mapreduce.Register(mapreduce.Job[string, string, int64, count]{
	Name: "GatedWordCount",
	// Small splits make many map tasks, so that every worker runs some.
	Input: func(paths []string) *rdd.RDD[string] {
		return rdd.TextFileWith(rdd.TextOptions{MaxSplitBytes: 256 << 10}, paths...)
	},
	Mapper: mapreduce.MapperFunc[string, string, int64](func(ctx context.Context, line string, emit func(string, int64)) error {
		if strings.Contains(line, gateWord) {
			if err := waitGate(os.Getenv(asGated)); err != nil {
				return err
			}
		}
		return wordCount.Job().Mapper.Map(ctx, line, emit)
	}),
	Combiner: wordCount.Job().Combiner,
	Reducer:  wordCount.Job().Reducer,
	Output:   mapreduce.TextOutput[count](),
})

const gateWord = "gate-here"

var gateOpen atomic.Bool

func waitGate(dir string) error {
	if dir == "" || gateOpen.Load() {
		return nil
	}
	if f, err := os.CreateTemp(dir, "started-"); err == nil {
		f.Close()
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			gateOpen.Store(true)
			return nil
		}
	}
	return errors.New("the test never opened the gate")
}

func runGated() {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		_, err := gatedCount.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: *output})
		return err
	})
}

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
		text := randomText(rng, 150000)
		if i == 5 {
			text += "\n" + gateWord + "\n"
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
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
	gate := t.TempDir()
	cmd.Env = append(os.Environ(), asGated+"="+gate)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log syncLog
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Once a map task waits at the gate, kill a task worker that holds
	// finished map outputs: no reducer can have read them.
	var victim *clustertest.Worker
	deadline := time.After(2 * time.Minute)
	for victim == nil {
		if m, _ := filepath.Glob(filepath.Join(gate, "started-*")); len(m) > 0 {
			for _, w := range c.Workers[1:] {
				sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
				st, err := w.Status(sctx)
				scancel()
				for _, a := range st.Apps {
					// Several, so that the driver has heard of some.
					if err == nil && a.MapOutputs >= 3 && victim == nil {
						victim = w
					}
				}
			}
			if victim != nil {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("driver ended (%v) before a map task reached the gate with map outputs on a task worker\n%s", err, log.String())
		case <-deadline:
			t.Fatal("no map task at the gate with map outputs on a task worker within 2 minutes")
		case <-time.After(5 * time.Millisecond):
		}
	}
	victim.Kill()
	if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
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
