package scheduler_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/scheduler"
)

// Golden action traces, as etcd/raft's interaction tests: each file in
// testdata/*.trace is a script of commands, one a line, each followed by
// the trace it produced, indented: the event stepped (two spaces) and the
// actions Step returned (four). The test runs the script twice, requires
// the two traces to be byte-identical, and compares them with the file;
// `go test ./scheduler -run Trace -update` rewrites the indented lines
// from the scheduler as it is. A new scenario is a file of commands alone,
// filled in by -update and then read by a person.
//
// Commands (attempts are named by what they compute, not by task id, so a
// change in numbering changes the traces, never the scripts):
//
//	# comment
//	worker NAME SLOTS                    WorkerAdded
//	submit JOB GRAPH LINEAGE PART...     JobSubmitted; LINEAGE is a key of lineages
//	succeed SEL [replica=NAME]           TaskSucceeded; a map output of size 1 per reduce partition
//	fail SEL [lost] [machine] [permanent] TaskFailed
//	fetchfail SEL SHUFFLE MAP            FetchFailed, with the worker and generation SEL was given
//	remove NAME [REASON]                 WorkerRemoved
//	drain NAME                           WorkerDraining
//	move GRAPH SHUFFLE MAP FROM TO       MapOutputMoved
//	tick DURATION                        Tick (the time since the start)
//	flapping NAME DURATION               WorkerFlapping
//	cancel JOB / forget GRAPH            JobCancelled / GraphForgotten
//	commit SEL                           Scheduler.CanCommit for SEL's attempt
//	run                                  succeed every running attempt, oldest first, until none runs
//	state                                the scheduler's queries
//
// SEL is KIND:PART for the oldest running attempt of that partition, or
// KIND:PART/ATTEMPT for the latest launch with that attempt number, running
// or not; KIND is result, or mapN for the map stage writing shuffle N.

// lineages are the graphs scripts submit, built by hand so that their
// numbering never moves.
var lineages = map[string][]task.NodeInfo{
	// narrow: one stage of two partitions, no shuffle.
	"narrow": {{ID: 1, Name: "src", Partitions: 2}},
	// one: three maps write shuffle 1, read by the result.
	"one": {
		{ID: 1, Name: "src", Partitions: 3},
		{ID: 2, Name: "reduce", Partitions: 2, Deps: []task.DepInfo{{Parent: 1, Shuffle: 1}}},
	},
	// two: two maps write shuffle 1, read by two maps that write shuffle
	// 2, read by the result.
	"two": {
		{ID: 1, Name: "src", Partitions: 2},
		{ID: 2, Name: "mid", Partitions: 2, Deps: []task.DepInfo{{Parent: 1, Shuffle: 1}}},
		{ID: 3, Name: "final", Partitions: 2, Deps: []task.DepInfo{{Parent: 2, Shuffle: 2}}},
	},
}

// script runs one scenario and renders its trace.
type script struct {
	s        *scheduler.Scheduler
	out      strings.Builder
	launched []scheduler.LaunchTask // every launch, in order
	running  []int64                // ids of attempts the script has not ended, in launch order
	killed   map[int64]bool
}

func newScript() *script {
	return &script{s: scheduler.New(scheduler.DefaultConfig()), killed: map[int64]bool{}}
}

func (sc *script) step(ev scheduler.Event) {
	fmt.Fprintf(&sc.out, "  %s\n", traceEvent(ev))
	for _, a := range sc.s.Step(ev) {
		fmt.Fprintf(&sc.out, "    %s\n", traceAction(a))
		switch a := a.(type) {
		case scheduler.LaunchTask:
			sc.launched = append(sc.launched, a)
			sc.running = append(sc.running, a.Task.ID)
		case scheduler.KillTask:
			sc.killed[a.TaskID] = true
		}
	}
}

func (sc *script) launch(id int64) scheduler.LaunchTask {
	for _, l := range sc.launched {
		if l.Task.ID == id {
			return l
		}
	}
	panic("unknown task")
}

func (sc *script) ended(id int64) {
	sc.running = slices.DeleteFunc(sc.running, func(r int64) bool { return r == id })
}

// find resolves a selector to a launch.
func (sc *script) find(sel string) (scheduler.LaunchTask, error) {
	kind, rest, ok := strings.Cut(sel, ":")
	if !ok {
		return scheduler.LaunchTask{}, fmt.Errorf("selector %q: want KIND:PART[/ATTEMPT]", sel)
	}
	partS, attS, byAttempt := strings.Cut(rest, "/")
	part, err := strconv.Atoi(partS)
	if err != nil {
		return scheduler.LaunchTask{}, fmt.Errorf("selector %q: %v", sel, err)
	}
	attempt := -1
	if byAttempt {
		if attempt, err = strconv.Atoi(attS); err != nil {
			return scheduler.LaunchTask{}, fmt.Errorf("selector %q: %v", sel, err)
		}
	}
	match := func(l scheduler.LaunchTask) bool {
		t := l.Task
		if kind == "result" {
			if t.Kind != scheduler.ResultTask {
				return false
			}
		} else if t.Kind != scheduler.MapTask || "map"+strconv.Itoa(t.Shuffle) != kind {
			return false
		}
		return t.Partition == part && (attempt < 0 || t.Attempt == attempt)
	}
	if byAttempt {
		for i := len(sc.launched) - 1; i >= 0; i-- {
			if match(sc.launched[i]) {
				return sc.launched[i], nil
			}
		}
	} else {
		for _, id := range sc.running {
			if l := sc.launch(id); match(l) {
				return l, nil
			}
		}
	}
	return scheduler.LaunchTask{}, fmt.Errorf("selector %q: no such attempt", sel)
}

// succeed reports l finished; a killed attempt reports lost, as the
// driver reports one whose context was cancelled.
func (sc *script) succeed(l scheduler.LaunchTask, replica string) {
	sc.ended(l.Task.ID)
	if sc.killed[l.Task.ID] {
		sc.step(scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("killed"), Lost: true})
		return
	}
	if l.Task.Kind == scheduler.MapTask {
		sizes := make([]int64, 2) // every reading lineage above has two partitions
		for i := range sizes {
			sizes[i] = 1
		}
		sc.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, MapStatus: &scheduler.MapStatus{Worker: l.Worker, Replica: replica, Sizes: sizes}})
		return
	}
	sc.step(scheduler.TaskSucceeded{TaskID: l.Task.ID, Result: []byte(fmt.Sprintf("p%d", l.Task.Partition))})
}

func (sc *script) exec(line string) error {
	f := strings.Fields(line)
	need := func(n int) error {
		if len(f) < n {
			return fmt.Errorf("%q: want at least %d words", line, n)
		}
		return nil
	}
	var bad error // the first word that did not parse
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil && bad == nil {
			bad = fmt.Errorf("%q: %v", line, err)
		}
		return n
	}
	dur := func(s string) time.Duration {
		d, err := time.ParseDuration(s)
		if err != nil && bad == nil {
			bad = fmt.Errorf("%q: %v", line, err)
		}
		return d
	}
	step := func(ev scheduler.Event) {
		if bad == nil {
			sc.step(ev)
		}
	}
	switch f[0] {
	case "worker":
		if err := need(3); err != nil {
			return err
		}
		step(scheduler.WorkerAdded{Worker: f[1], Slots: num(f[2])})
	case "submit":
		if err := need(5); err != nil {
			return err
		}
		nodes, ok := lineages[f[3]]
		if !ok {
			return fmt.Errorf("%q: no lineage %s", line, f[3])
		}
		var parts []int
		for _, p := range f[4:] {
			parts = append(parts, num(p))
		}
		step(scheduler.JobSubmitted{Job: num(f[1]), Graph: num(f[2]), Nodes: nodes, Node: nodes[len(nodes)-1].ID, Partitions: parts})
	case "succeed":
		if err := need(2); err != nil {
			return err
		}
		l, err := sc.find(f[1])
		if err != nil {
			return err
		}
		replica := ""
		for _, opt := range f[2:] {
			if r, ok := strings.CutPrefix(opt, "replica="); ok {
				replica = r
			}
		}
		sc.succeed(l, replica)
	case "fail":
		if err := need(2); err != nil {
			return err
		}
		l, err := sc.find(f[1])
		if err != nil {
			return err
		}
		ev := scheduler.TaskFailed{TaskID: l.Task.ID, Err: errors.New("boom")}
		for _, opt := range f[2:] {
			switch opt {
			case "lost":
				ev.Lost = true
			case "machine":
				ev.Machine = true
			case "permanent":
				ev.Permanent = true
			default:
				return fmt.Errorf("%q: unknown option %s", line, opt)
			}
		}
		sc.ended(l.Task.ID)
		sc.step(ev)
	case "fetchfail":
		if err := need(4); err != nil {
			return err
		}
		l, err := sc.find(f[1])
		if err != nil {
			return err
		}
		shuffle, mapPart := num(f[2]), num(f[3])
		ev := scheduler.FetchFailed{TaskID: l.Task.ID, Shuffle: shuffle, Map: mapPart, Err: "connection refused"}
		for _, in := range l.Task.Inputs {
			if in.Shuffle == shuffle && mapPart < len(in.Maps) {
				ev.Worker, ev.Gen = in.Maps[mapPart].Worker, in.Maps[mapPart].Gen
			}
		}
		sc.ended(l.Task.ID)
		step(ev)
	case "remove":
		if err := need(2); err != nil {
			return err
		}
		for _, id := range slices.Clone(sc.running) {
			if sc.launch(id).Worker == f[1] {
				sc.ended(id) // lost with the worker
			}
		}
		reason := "killed"
		if len(f) > 2 {
			reason = strings.Join(f[2:], " ")
		}
		step(scheduler.WorkerRemoved{Worker: f[1], Reason: reason})
	case "drain":
		if err := need(2); err != nil {
			return err
		}
		step(scheduler.WorkerDraining{Worker: f[1]})
	case "move":
		if err := need(6); err != nil {
			return err
		}
		step(scheduler.MapOutputMoved{Output: scheduler.OutputRef{Graph: num(f[1]), Shuffle: num(f[2]), Map: num(f[3])}, From: f[4], To: f[5]})
	case "tick":
		if err := need(2); err != nil {
			return err
		}
		step(scheduler.Tick{Now: dur(f[1])})
	case "flapping":
		if err := need(3); err != nil {
			return err
		}
		step(scheduler.WorkerFlapping{Worker: f[1], For: dur(f[2])})
	case "cancel":
		if err := need(2); err != nil {
			return err
		}
		step(scheduler.JobCancelled{Job: num(f[1])})
	case "forget":
		if err := need(2); err != nil {
			return err
		}
		step(scheduler.GraphForgotten{Graph: num(f[1])})
	case "commit":
		if err := need(2); err != nil {
			return err
		}
		l, err := sc.find(f[1])
		if err != nil {
			return err
		}
		ok := sc.s.CanCommit(l.Task.Stage, l.Task.Partition, l.Task.Attempt)
		fmt.Fprintf(&sc.out, "  CanCommit stage=%d part=%d attempt=%d: %t\n", l.Task.Stage, l.Task.Partition, l.Task.Attempt, ok)
	case "run":
		for n := 0; len(sc.running) > 0; n++ {
			if n > 1000 {
				return fmt.Errorf("%q: attempts keep coming after 1000", line)
			}
			sc.succeed(sc.launch(sc.running[0]), "")
		}
	case "state":
		s := sc.s
		fmt.Fprintf(&sc.out, "  workers=%v schedulable=%d running=%d jobs=%d lost=%v recomputed=%d stages-recomputed=%d\n",
			s.WorkerNames(), s.Schedulable(), s.Running(), s.ActiveJobs(), s.Lost(), s.Recomputed(), s.StagesRecomputed())
		for _, w := range s.WorkerNames() {
			if refs := s.OutputsOn(w); len(refs) > 0 || s.RunningOn(w) > 0 || s.Excluded(w) {
				fmt.Fprintf(&sc.out, "  %s: running=%d excluded=%t outputs=%v\n", w, s.RunningOn(w), s.Excluded(w), refs)
			}
		}
	default:
		return fmt.Errorf("%q: unknown command", line)
	}
	return bad
}

// runScript runs the commands of a trace file and returns the file it
// should be: each command followed by its trace.
func runScript(t *testing.T, text string) string {
	t.Helper()
	sc := newScript()
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if strings.HasPrefix(line, " ") {
			continue // the trace of the command above
		}
		sc.out.WriteString(line + "\n")
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := sc.exec(line); err != nil {
			t.Fatalf("%v; the trace so far:\n%s", err, sc.out.String())
		}
	}
	return sc.out.String()
}

func TestTrace(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.trace"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.trace: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".trace"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, string(b))
			if again := runScript(t, string(b)); again != got {
				t.Fatalf("the same script gave two traces:\n--- first\n%s--- second\n%s", got, again)
			}
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(b) {
				t.Errorf("trace changed (go test ./scheduler -run Trace -update rewrites it; read the diff first):\n%s", diffLines(string(b), got))
			}
		})
	}
}

// diffLines shows the first lines where want and got part, with context.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			from := max(0, i-3)
			var b strings.Builder
			for j := from; j < i; j++ {
				fmt.Fprintf(&b, "  %s\n", w[j])
			}
			fmt.Fprintf(&b, "- %s\n+ %s\n", wl, gl)
			return b.String()
		}
	}
	return ""
}

// traceEvent and traceAction render events and actions field by field,
// so that a trace never depends on pointers or map order; a type they do
// not know is rendered with %+v. They live here, not in the scheduler, so
// that changing the scheduler only calls for -update.
func traceEvent(ev scheduler.Event) string {
	switch ev := ev.(type) {
	case scheduler.JobSubmitted:
		return fmt.Sprintf("JobSubmitted job=%d graph=%d node=%d partitions=%v", ev.Job, ev.Graph, ev.Node, ev.Partitions)
	case scheduler.TaskSucceeded:
		if m := ev.MapStatus; m != nil {
			return fmt.Sprintf("TaskSucceeded task=%d map-output=%s replica=%q sizes=%v", ev.TaskID, m.Worker, m.Replica, m.Sizes)
		}
		return fmt.Sprintf("TaskSucceeded task=%d result=%q", ev.TaskID, ev.Result)
	case scheduler.TaskFailed:
		return fmt.Sprintf("TaskFailed task=%d lost=%t machine=%t permanent=%t err=%q", ev.TaskID, ev.Lost, ev.Machine, ev.Permanent, errText(ev.Err))
	case scheduler.FetchFailed:
		return fmt.Sprintf("FetchFailed task=%d shuffle=%d map=%d worker=%s gen=%d", ev.TaskID, ev.Shuffle, ev.Map, ev.Worker, ev.Gen)
	}
	return fmt.Sprintf("%T %+v", ev, ev)
}

func traceAction(a scheduler.Action) string {
	switch a := a.(type) {
	case scheduler.LaunchTask:
		t := a.Task
		var b strings.Builder
		fmt.Fprintf(&b, "LaunchTask task=%d job=%d stage=%d graph=%d kind=%s", t.ID, t.Job, t.Stage, t.Graph, t.Kind)
		if t.Kind == scheduler.MapTask {
			fmt.Fprintf(&b, " shuffle=%d", t.Shuffle)
		} else {
			fmt.Fprintf(&b, " node=%d", t.Node)
		}
		fmt.Fprintf(&b, " part=%d attempt=%d on=%s", t.Partition, t.Attempt, a.Worker)
		for _, in := range t.Inputs {
			fmt.Fprintf(&b, " reads shuffle %d [", in.Shuffle)
			for i, m := range in.Maps {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s gen=%d", m.Worker, m.Gen)
				if m.Replica != "" {
					fmt.Fprintf(&b, " replica=%s", m.Replica)
				}
			}
			b.WriteString("]")
		}
		return b.String()
	case scheduler.KillTask:
		return fmt.Sprintf("KillTask task=%d on=%s", a.TaskID, a.Worker)
	case scheduler.DeliverResult:
		return fmt.Sprintf("DeliverResult job=%d part=%d data=%q", a.Job, a.Partition, a.Data)
	case scheduler.JobSucceeded:
		return fmt.Sprintf("JobSucceeded job=%d", a.Job)
	case scheduler.JobFailed:
		return fmt.Sprintf("JobFailed job=%d err=%q", a.Job, errText(a.Err))
	}
	return fmt.Sprintf("%T %+v", a, a)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
