package obs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// app emits a small application: one job of a map and a result stage,
// two workers, one of them lost with a task on it, which is retried.
func app(tasks int) []Event {
	var evs []Event
	t := int64(1_000)
	add := func(e Event) {
		t += 10
		e.Time = t
		evs = append(evs, e)
	}
	add(Event{Kind: AppStart, App: &App{ID: "app-1", Name: "wordcount", Mode: "cluster"}})
	add(Event{Kind: WorkerAdded, Worker: &Worker{Name: "w1", Role: "core", Slots: 2}})
	add(Event{Kind: WorkerAdded, Worker: &Worker{Name: "w2", Role: "task", Slots: 2}})
	add(Event{Kind: JobStart, Job: &Job{ID: 0, Name: "Collect at main.go:12", Stages: []int{0, 1}}})
	add(Event{Kind: StageSubmitted, Stage: &Stage{ID: 0, Job: 0, Kind: "map", Tasks: tasks, Name: "TextFile main.go:10 → Map main.go:11"}})
	id := int64(0)
	for p := range tasks {
		w := "w1"
		if p%2 == 1 {
			w = "w2"
		}
		add(Event{Kind: TaskStart, Task: &Task{ID: id, Stage: 0, Partition: p, Worker: w}})
		add(Event{Kind: TaskEnd, Task: &Task{ID: id, Stage: 0, Partition: p, Worker: w, Status: Succeeded,
			Metrics: Metrics{Duration: int64(10 + p), RecordsIn: 100, ShuffleWrite: int64(1000 * (p + 1))}}})
		id++
	}
	add(Event{Kind: StageCompleted, Stage: &Stage{ID: 0, Status: Succeeded}})
	add(Event{Kind: StageSubmitted, Stage: &Stage{ID: 1, Job: 0, Kind: "result", Tasks: 1, Parents: []int{0}}})
	add(Event{Kind: TaskStart, Task: &Task{ID: id, Stage: 1, Partition: 0, Worker: "w2"}})
	add(Event{Kind: WorkerLost, Worker: &Worker{Name: "w2", Reason: "gossip: dead"}})
	add(Event{Kind: TaskEnd, Task: &Task{ID: id, Stage: 1, Partition: 0, Worker: "w2", Status: Lost, Error: "worker lost"}})
	add(Event{Kind: TaskStart, Task: &Task{ID: id + 1, Stage: 1, Partition: 0, Attempt: 1, Worker: "w1"}})
	add(Event{Kind: TaskEnd, Task: &Task{ID: id + 1, Stage: 1, Partition: 0, Attempt: 1, Worker: "w1", Status: Succeeded}})
	add(Event{Kind: StageCompleted, Stage: &Stage{ID: 1, Status: Succeeded}})
	add(Event{Kind: JobEnd, Job: &Job{ID: 0, Status: Succeeded}})
	add(Event{Kind: WorkerAdded, Worker: &Worker{Name: "w2", Role: "task", Slots: 2}})
	for i := range evs {
		evs[i].V, evs[i].Seq = Version, int64(i+1)
	}
	return evs
}

func TestStore(t *testing.T) {
	s := NewStore(0)
	for _, e := range app(4) {
		s.Apply(e)
	}
	snap := s.Snapshot()
	if snap.App.Status != Running || len(snap.Jobs) != 1 || snap.Jobs[0].Status != Succeeded {
		t.Fatalf("app %+v jobs %+v", snap.App, snap.Jobs)
	}
	st, ok := s.Stage(0, 0)
	if !ok || st.Done != 4 || st.Running != 0 || len(st.Rows) != 4 || st.Totals.ShuffleWrite != 10_000 {
		t.Fatalf("stage 0: %+v", st)
	}
	r, _ := s.Stage(1, 0)
	if r.Done != 1 || r.Running != 0 || len(r.Rows) != 2 || r.Rows[0].Status != Lost {
		t.Fatalf("stage 1: %+v", r)
	}
	// w2 was lost and came back: two rows, the timeline shows all four changes.
	var states []string
	for _, w := range snap.Workers {
		states = append(states, w.Name+"="+w.State)
	}
	if got := strings.Join(states, " "); got != "w1=alive w2=lost w2=alive" {
		t.Errorf("workers: %s", got)
	}
	if len(snap.Timeline) != 4 {
		t.Errorf("timeline has %d entries, want 4", len(snap.Timeline))
	}
	if snap.Workers[0].Completed != 3 || snap.Workers[0].Running != 0 {
		t.Errorf("w1: %+v", snap.Workers[0])
	}
	if c := snap.Counters; c.TasksLaunched != 6 || c.TasksSucceeded != 5 || c.TasksLost != 1 || c.WorkersLost != 1 || c.ShuffleWrite != 10_000 || c.RecordsIn != 400 {
		t.Errorf("counters: %+v", c)
	}
	// Replaying the same events again changes nothing.
	for _, e := range app(4) {
		s.Apply(e)
	}
	if again := s.Snapshot(); !reflect.DeepEqual(again, snap) {
		t.Error("replayed events changed the state")
	}
}

func TestStoreRetainsBoundedTasks(t *testing.T) {
	s := NewStore(3)
	for _, e := range app(10) {
		s.Apply(e)
	}
	st, _ := s.Stage(0, 0)
	if len(st.Rows) != 3 || st.Dropped != 7 || st.Done != 10 || st.Totals.RecordsIn != 1000 {
		t.Fatalf("tasks %d dropped %d done %d totals %+v", len(st.Rows), st.Dropped, st.Done, st.Totals)
	}
}

func TestQuantiles(t *testing.T) {
	var rows []TaskRow
	for _, d := range []int64{5, 1, 4, 2, 3} {
		rows = append(rows, TaskRow{Task: Task{Status: Succeeded, Metrics: Metrics{Duration: d}}})
	}
	rows = append(rows, TaskRow{Task: Task{Status: Running, Metrics: Metrics{Duration: 100}}})
	q := Quantiles(rows, []float64{0, 0.25, 0.5, 0.75, 1})
	if got := fmt.Sprint(q["durationMs"]); got != "[1 2 3 4 5]" {
		t.Errorf("duration quantiles %s", got)
	}
	if got := fmt.Sprint(Quantiles(nil, []float64{0.5})["durationMs"]); got != "[0]" {
		t.Errorf("no tasks: %s", got)
	}
}

func writeLog(t *testing.T, dir string, evs []Event, o LogOptions) *LogWriter {
	t.Helper()
	w, err := CreateLog(dir, *evs[0].App, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		e.Seq = 0
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func TestLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	evs := app(50)
	w := writeLog(t, dir, evs, LogOptions{})
	// While running, a reader sees what was flushed.
	if err := w.Beat(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	s, st, err := Load(filepath.Join(dir, "app-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Running || s.Seq() != int64(len(evs)) {
		t.Fatalf("running log: status %s, seq %d of %d", st.Status, s.Seq(), len(evs))
	}
	if err := w.Close(Succeeded, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, st, err = Load(filepath.Join(dir, "app-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := NewStore(0)
	for _, e := range evs {
		want.Apply(e)
	}
	if st.Status != Succeeded || !reflect.DeepEqual(s.Checkpoint(), want.Checkpoint()) {
		t.Fatalf("status %s; loaded state differs from the events'", st.Status)
	}
	if _, err := CreateLog(dir, App{ID: "app-1"}, LogOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second log for one app: %v", err)
	}
	for _, id := range []string{"..", ".", "a/b", "", strings.Repeat("x", 200)} {
		if _, err := CreateLog(dir, App{ID: id}, LogOptions{}); err == nil {
			t.Errorf("app id %q accepted", id)
		}
	}
}

// Rolled segments leave checkpoints, and a reader starts from the newest:
// the segments before it are not read at all.
func TestLogOpensFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	evs := app(200)
	w := writeLog(t, dir, evs, LogOptions{SegmentBytes: 8 << 10})
	if err := w.Close(Succeeded, time.Now()); err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(dir, "app-1")
	segs, ckpts, _ := listLog(appDir)
	if len(segs) < 3 || len(ckpts) != len(segs) {
		t.Fatalf("%d segments, %d checkpoints", len(segs), len(ckpts))
	}
	want := NewStore(0)
	for _, e := range evs {
		want.Apply(e)
	}
	for _, n := range segs[:len(segs)-1] {
		if err := os.WriteFile(filepath.Join(appDir, segName(n)), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, _, err := Load(appDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Checkpoint(), want.Checkpoint()) {
		t.Fatal("state from checkpoint and tail differs from the events'")
	}
	// Without checkpoints the garbage segments are read and named.
	for _, n := range ckpts {
		os.Remove(filepath.Join(appDir, ckptName(n)))
	}
	if _, _, err := Load(appDir, 0); err == nil || !strings.Contains(err.Error(), segName(1)) {
		t.Errorf("corrupt segment: %v", err)
	}
}

// A driver that dies leaves RUNNING with an old heartbeat and a segment
// cut off mid-frame: the reader shows what was written, as crashed.
func TestCrashedLog(t *testing.T) {
	dir := t.TempDir()
	evs := app(20)
	w := writeLog(t, dir, evs, LogOptions{Heartbeat: time.Second})
	if err := w.Beat(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	// More events after the last flush, then the process is gone: the
	// file ends in an unfinished frame.
	w.Write(Event{Time: 9_999, Kind: JobStart, Job: &Job{ID: 1}})
	w.bw.Flush()
	appDir := filepath.Join(dir, "app-1")
	st, err := ReadStatus(appDir, time.Now())
	if err != nil || st.Status != Running {
		t.Fatalf("fresh heartbeat: %v %v", st.Status, err)
	}
	st, _ = ReadStatus(appDir, time.Now().Add(4*time.Second))
	if st.Status != Failed || !st.Crashed {
		t.Fatalf("old heartbeat: status %s", st.Status)
	}
	// Age the heartbeat on disk as time would.
	st.Status, st.Crashed, st.Heartbeat = Running, false, time.Now().Add(-time.Minute).UnixMilli()
	b, _ := json.Marshal(st)
	os.WriteFile(filepath.Join(appDir, "status.json"), b, 0o600)
	s, st, err := Load(appDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if st.Status != Failed || !snap.App.Crashed || len(snap.Jobs) != 1 || snap.Jobs[0].Status != Succeeded {
		t.Fatalf("status %s app %s jobs %+v", st.Status, snap.App.Status, snap.Jobs)
	}
}

// BenchmarkLoad100k opens an application of 100,000 tasks from its log
// as the history server does.
func BenchmarkLoad100k(b *testing.B) {
	dir := b.TempDir()
	evs := app(100_000)
	w, err := CreateLog(dir, *evs[0].App, LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range evs {
		e.Seq = 0
		if err := w.Write(e); err != nil {
			b.Fatal(err)
		}
	}
	w.Close(Succeeded, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Load(filepath.Join(dir, "app-1"), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJobSummary(t *testing.T) {
	s := NewStore(0)
	for _, e := range app(4) {
		s.Apply(e)
	}
	got := s.JobSummary(0)
	want := "job 0 SUCCEEDED in 0s: 2 stages, 6 tasks (1 lost)\n  records 400 in, 0 out · shuffle 9.8 KiB written, 0 B read · spilled 0 B"
	if !strings.HasPrefix(got, "job 0 SUCCEEDED in ") || !strings.Contains(got, "2 stages, 6 tasks (1 lost)") || !strings.HasSuffix(got, want[strings.Index(want, "\n"):]) {
		t.Errorf("summary:\n%s\nwant like:\n%s", got, want)
	}
}

// A driver on this host whose process is gone has crashed at once,
// without waiting for its heartbeat to age.
func TestCrashedWhenTheDriverProcessIsGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true command")
	}
	host, _ := os.Hostname()
	dir := t.TempDir()
	st := LogStatus{V: Version, App: "a", Status: Running, Heartbeat: time.Now().UnixMilli(), Interval: 60_000, Host: host, PID: cmd.Process.Pid}
	b, _ := json.Marshal(st)
	os.WriteFile(filepath.Join(dir, "status.json"), b, 0o600)
	got, err := ReadStatus(dir, time.Now())
	if err != nil || got.Status != Failed || !got.Crashed {
		t.Fatalf("exited driver: %+v %v", got, err)
	}
	st.PID = os.Getpid()
	b, _ = json.Marshal(st)
	os.WriteFile(filepath.Join(dir, "status.json"), b, 0o600)
	if got, _ := ReadStatus(dir, time.Now()); got.Status != Running {
		t.Fatalf("live driver: %+v", got)
	}
}

// A driver that runs jobs all day keeps a bounded state: the oldest
// finished jobs go with their stages, the counters keep counting.
func TestStoreIsBounded(t *testing.T) {
	s := NewStore(0)
	seq := int64(0)
	apply := func(e Event) {
		seq++
		e.V, e.Seq, e.Time = Version, seq, seq
		s.Apply(e)
	}
	apply(Event{Kind: AppStart, App: &App{ID: "a"}})
	for j := range 3000 {
		apply(Event{Kind: JobStart, Job: &Job{ID: j}})
		apply(Event{Kind: StageSubmitted, Stage: &Stage{ID: j, Job: j, Tasks: 1}})
		apply(Event{Kind: TaskStart, Task: &Task{ID: int64(j), Stage: j}})
		apply(Event{Kind: TaskEnd, Task: &Task{ID: int64(j), Stage: j, Status: Succeeded}})
		apply(Event{Kind: StageCompleted, Stage: &Stage{ID: j, Status: Succeeded}})
		apply(Event{Kind: JobEnd, Job: &Job{ID: j, Status: Succeeded}})
	}
	// A job still running when the oldest go stays, with its stage.
	apply(Event{Kind: JobStart, Job: &Job{ID: 5000}})
	apply(Event{Kind: StageSubmitted, Stage: &Stage{ID: 5000, Job: 5000, Tasks: 1}})
	apply(Event{Kind: TaskStart, Task: &Task{ID: 5000, Stage: 5000}})
	for j := 3000; j < 4000; j++ {
		apply(Event{Kind: JobStart, Job: &Job{ID: j}})
		apply(Event{Kind: JobEnd, Job: &Job{ID: j, Status: Succeeded}})
	}
	apply(Event{Kind: TaskEnd, Task: &Task{ID: 5000, Stage: 5000, Status: Succeeded}})
	snap := s.Snapshot()
	if len(snap.Jobs) > RetainedJobs*11/10 || len(snap.Stages) > RetainedStages*11/10 {
		t.Fatalf("%d jobs, %d stages kept", len(snap.Jobs), len(snap.Stages))
	}
	if _, ok := s.Job(5000); !ok {
		t.Fatal("the running job was dropped")
	}
	if st, ok := s.Stage(5000, 0); !ok || st.Done != 1 || st.Running != 0 {
		t.Fatalf("the running job's stage: %+v %v", st, ok)
	}
	if _, ok := s.Job(0); ok {
		t.Error("the oldest job is still kept")
	}
	if c := s.Counters(); c.TasksLaunched != 3001 || c.TasksSucceeded != 3001 {
		t.Errorf("counters %+v", c)
	}
}
