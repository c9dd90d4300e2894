package simcluster

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
)

// step is one Step of a trace: the event, when, and the actions it gave.
type step struct {
	at      time.Duration
	event   string
	actions []string
}

func parseTrace(t *testing.T, trace string) []step {
	t.Helper()
	var steps []step
	for line := range strings.Lines(trace) {
		line = strings.TrimSuffix(line, "\n")
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			at, ev, _ := strings.Cut(rest, " ")
			d, err := time.ParseDuration(at)
			if err != nil {
				t.Fatalf("trace line %q: %v", line, err)
			}
			steps = append(steps, step{at: d, event: ev})
			continue
		}
		if len(steps) == 0 || !strings.HasPrefix(line, "  ") {
			t.Fatalf("trace line %q: not an event or an action", line)
		}
		steps[len(steps)-1].actions = append(steps[len(steps)-1].actions, strings.TrimPrefix(line, "  "))
	}
	return steps
}

// launch is a LaunchTask action read back from a trace.
type launch struct {
	at        time.Duration
	task      int64
	kind, on  string
	part, try int
}

func launches(t *testing.T, steps []step) []launch {
	t.Helper()
	var ls []launch
	for _, s := range steps {
		for _, a := range s.actions {
			if !strings.HasPrefix(a, "LaunchTask ") {
				continue
			}
			var l launch
			var job, stage int
			if _, err := fmt.Sscanf(a, "LaunchTask task=%d job=%d stage=%d kind=%s part=%d attempt=%d on=%s", &l.task, &job, &stage, &l.kind, &l.part, &l.try, &l.on); err != nil {
				t.Fatalf("launch %q: %v", a, err)
			}
			l.at = s.at
			ls = append(ls, l)
		}
	}
	return ls
}

// TestFrozenExecutor: an executor that stops answering at 61 s is found
// frozen by the driver's rule at the first heartbeat more than
// HeartbeatTimeout after its last answer (beats every 2 s: answered at
// 60 s, frozen at 72 s); its running tasks are lost then and run again
// elsewhere, its worker gets a new executor ExecutorStart later and is
// used again, and no map output is recomputed (the worker still serves
// them).
func TestFrozenExecutor(t *testing.T) {
	t.Parallel()
	const victim = "task-0003"
	cfg := DefaultConfig()
	cfg.Freezes = []Freeze{{Worker: victim, At: 61 * time.Second}}
	var b bytes.Buffer
	cfg.Trace = &b
	r := run(t, cfg)
	if r.ExecutorsReplaced != 1 || r.FrozenLost == 0 || r.Flapping != 0 {
		t.Fatalf("want one executor replaced with its attempts lost, no flapping\n%s", r)
	}
	if r.Recomputed != 0 || r.OutputsLost != 0 {
		t.Fatalf("a frozen executor's worker still serves its outputs: nothing to recompute\n%s", r)
	}
	steps := parseTrace(t, b.String())
	const frozenAt = 72 * time.Second
	if frozenAt-60*time.Second <= cfg.HeartbeatTimeout || frozenAt-clusterpolicy.HeartbeatInterval(cfg.HeartbeatTimeout)-60*time.Second > cfg.HeartbeatTimeout {
		t.Fatal("the expected detection time does not follow the rule")
	}
	lost := map[int64]bool{}
	for _, s := range steps {
		if s.event == "WorkerDraining worker="+victim {
			if s.at != frozenAt {
				t.Fatalf("%s paused at %v; frozen at %v", victim, s.at, frozenAt)
			}
		}
		if strings.HasPrefix(s.event, "TaskFailed ") && strings.Contains(s.event, errFrozen.Error()) {
			if s.at != frozenAt {
				t.Fatalf("%s at %v; frozen at %v", s.event, s.at, frozenAt)
			}
			var id int64
			fmt.Sscanf(s.event, "TaskFailed task=%d", &id)
			lost[id] = true
		}
	}
	if len(lost) != r.FrozenLost {
		t.Fatalf("%d attempts failed as frozen in the trace, report says %d", len(lost), r.FrozenLost)
	}
	ls := launches(t, steps)
	// Each lost attempt's partition runs again, first on another worker.
	type key struct {
		kind string
		part int
	}
	lostParts := map[key]bool{}
	for _, l := range ls {
		if lost[l.task] {
			if l.on != victim {
				t.Fatalf("lost attempt %d was not on %s", l.task, victim)
			}
			lostParts[key{l.kind, l.part}] = true
		}
	}
	if len(lostParts) != len(lost) {
		t.Fatalf("%d lost attempts in the trace's launches, %d lost", len(lostParts), len(lost))
	}
	again, after := map[key]string{}, 0
	for _, l := range ls {
		if l.at < frozenAt {
			continue
		}
		k := key{l.kind, l.part}
		if _, seen := again[k]; lostParts[k] && !seen {
			again[k] = l.on
		}
		if l.on == victim {
			if l.at < frozenAt+cfg.ExecutorStart {
				t.Fatalf("task %d launched on %s at %v, before its new executor", l.task, victim, l.at)
			}
			after++
		}
	}
	for k := range lostParts {
		if on, ok := again[k]; !ok || on == victim {
			t.Fatalf("lost %s partition %d: ran again on %q, want another worker", k.kind, k.part, on)
		}
	}
	if after == 0 {
		t.Fatalf("%s was not used after its executor was replaced", victim)
	}
	if !strings.Contains(b.String(), fmt.Sprintf("@%v WorkerAdded worker=%s", frozenAt+cfg.ExecutorStart, victim)) {
		t.Fatalf("no WorkerAdded for %s at %v", victim, frozenAt+cfg.ExecutorStart)
	}
}

// TestFlappingExecutor: an executor that misses its heartbeats for 5 s of
// every 20 s from 30 s to 150 s flaps at 36, 56, 76, 96, 116 and 136 s
// (three misses, then an answer); by the driver's rule it is flapping
// from the third flap on, each time excluded for FlapExclude, so until
// 256 s (less up to a tick: the scheduler's clock). It gets tasks before and after, none while excluded, is never
// taken for frozen, and the job finishes.
func TestFlappingExecutor(t *testing.T) {
	t.Parallel()
	const victim = "task-0005"
	cfg := DefaultConfig()
	cfg.Maps = 600 // about 300 s of maps: the exclusion ends before the job
	cfg.Flaps = []Flap{{Worker: victim, From: 30 * time.Second, Until: 150 * time.Second, Period: 20 * time.Second, Down: 5 * time.Second}}
	var b bytes.Buffer
	cfg.Trace = &b
	r := run(t, cfg)
	if r.Flapping != 4 || r.ExecutorsReplaced != 0 || r.ExcludedLaunches != 0 {
		t.Fatalf("want 4 WorkerFlapping, no executor replaced, no launch while excluded\n%s", r)
	}
	steps := parseTrace(t, b.String())
	var flapped []time.Duration
	for _, s := range steps {
		if s.event == fmt.Sprintf("WorkerFlapping worker=%s for=%v", victim, clusterpolicy.FlapExclude) {
			flapped = append(flapped, s.at)
		}
	}
	want := []time.Duration{76 * time.Second, 96 * time.Second, 116 * time.Second, 136 * time.Second}
	if fmt.Sprint(flapped) != fmt.Sprint(want) {
		t.Fatalf("WorkerFlapping at %v, want %v", flapped, want)
	}
	// The scheduler's clock is the last Tick's, up to TickEvery behind.
	end := want[len(want)-1] + clusterpolicy.FlapExclude - cfg.TickEvery
	before, during, after := 0, 0, 0
	for _, l := range launches(t, steps) {
		if l.on != victim {
			continue
		}
		switch {
		case l.at < want[0]:
			before++
		case l.at < end:
			during++
		default:
			after++
		}
	}
	if before == 0 || during != 0 || after == 0 {
		t.Fatalf("launches on %s: %d before its exclusion, %d during (want 0), %d after (%v to %v)", victim, before, during, after, want[0], end)
	}
	if r.JobTime <= end {
		t.Fatalf("the job ended at %v, before the exclusion (%v): the scenario proves less", r.JobTime, end)
	}
}

// TestExecutorFaultsSameTrace: runs with frozen and flapping executors
// are functions of their Config too.
func TestExecutorFaultsSameTrace(t *testing.T) {
	t.Parallel()
	cfg := lossy(3)
	cfg.Notice, cfg.ShuffleReplicas, cfg.Hash = 2*time.Minute, 1, true
	cfg.Freezes = []Freeze{{Worker: "core-0001", At: 40 * time.Second}, {Worker: "task-0002", At: 90 * time.Second}}
	cfg.Flaps = []Flap{{Worker: "task-0007", From: 10 * time.Second, Until: 5 * time.Minute, Period: 15 * time.Second, Down: 4 * time.Second}}
	r1, r2 := run(t, cfg), run(t, cfg)
	if r1.Deterministic() != r2.Deterministic() {
		t.Fatalf("the same Config gave two reports:\n%s\n%s", r1, r2)
	}
	if r1.ExecutorsReplaced < 1 || r1.Flapping == 0 || r1.ExcludedLaunches != 0 {
		t.Fatalf("want executors replaced and flapping, no launch while excluded\n%s", r1)
	}
}

func TestExecutorFaultsInvalid(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Freezes = []Freeze{{Worker: "task-9999", At: time.Second}}
	if _, err := Run(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "task-9999") {
		t.Fatalf("got %v; want ErrInvalidConfig naming task-9999", err)
	}
	cfg = DefaultConfig()
	cfg.Flaps = []Flap{{Worker: "task-0001", Period: time.Second, Down: time.Second}}
	if _, err := Run(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Flap of task-0001") {
		t.Fatalf("got %v; want ErrInvalidConfig for a Flap down all its period", err)
	}
}
