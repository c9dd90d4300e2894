package obs

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
)

// MaxTimeline bounds the worker timeline a Store keeps: the oldest
// entries go first.
const MaxTimeline = 10_000

// A Store keeps at most this many jobs, stage attempts and worker rows,
// as Spark's spark.ui.retainedJobs and retainedStages do: past a tenth
// more, the oldest finished ones go (a stage with its job), so a driver
// that runs jobs all day holds a bounded state. Counters cover everything.
const (
	RetainedJobs    = 1000
	RetainedStages  = 1000
	RetainedWorkers = 5000
)

// DefaultRetainedTasks is how many task rows a Store keeps per stage
// attempt, as Spark's spark.ui.retainedTasks: counts and totals cover
// every task, the table and its quantiles the first this many to end.
const DefaultRetainedTasks = 100_000

// Store is an application's state built from its events: what the UI,
// the JSON API and the history server show. It is safe for concurrent
// use; Apply is the only way it changes.
type Store struct {
	mu       sync.RWMutex
	snap     Snapshot
	jobIdx   map[int]int
	stageIdx map[StageKey]int
	taskIdx  map[int64]taskRef
	workIdx  map[string]int
	retain   int
}

// StageKey names one attempt of a stage.
type StageKey struct{ ID, Attempt int }

type taskRef struct {
	stage StageKey
	row   int // index in its Rows, or -1 when not retained
}

// Snapshot is the whole state of a Store: a checkpoint in an event log
// and the body of the API's answers. Slices are in the order things
// began.
type Snapshot struct {
	Seq      int64       `json:"seq"` // the last event applied
	App      AppState    `json:"app"`
	Jobs     []JobState  `json:"jobs"`
	Stages   []StageInfo `json:"stages"`
	Workers  []WorkerRow `json:"workers"`
	Timeline []Event     `json:"timeline"` // worker events, oldest first
	Counters Counters    `json:"counters"`
}

// Counters are the application's running totals.
type Counters struct {
	TasksLaunched      int64 `json:"tasksLaunched"`
	TasksSucceeded     int64 `json:"tasksSucceeded"`
	TasksFailed        int64 `json:"tasksFailed"`
	TasksLost          int64 `json:"tasksLost"`
	TasksSpeculative   int64 `json:"tasksSpeculative"`
	TasksRecomputed    int64 `json:"tasksRecomputed"`
	StageResubmissions int64 `json:"stageResubmissions"`
	FetchFailures      int64 `json:"fetchFailures"`
	WorkersLost        int64 `json:"workersLost"`
	Metrics                  // totals over finished tasks
}

// AppState is the application's row.
type AppState struct {
	App
	Start int64 `json:"start"` // Unix ms
	End   int64 `json:"end,omitempty"`
}

// JobState is a job's row.
type JobState struct {
	Job
	Start int64 `json:"start"`
	End   int64 `json:"end,omitempty"`
}

// StageInfo is a stage attempt with its tasks.
type StageInfo struct {
	Stage
	Start      int64     `json:"start"`
	End        int64     `json:"end,omitempty"`
	Running    int       `json:"running"`
	Done       int       `json:"done"` // partitions with a successful attempt
	FailedRuns int       `json:"failedTasks"`
	Totals     Metrics   `json:"totals"`
	Rows       []TaskRow `json:"-"`                      // task attempts, in launch order
	Dropped    int       `json:"droppedTasks,omitempty"` // task rows not retained
}

// TaskRow is a task attempt's row.
type TaskRow struct {
	Task
	Launch int64 `json:"launch"`
	End    int64 `json:"end,omitempty"`
}

// WorkerRow is a worker's row.
type WorkerRow struct {
	Worker
	State     string `json:"state"` // alive, draining, lost or decommissioned
	Added     int64  `json:"added"`
	Removed   int64  `json:"removed,omitempty"`
	Running   int    `json:"running"`
	Completed int    `json:"completed"`
	Shuffle   int64  `json:"shuffleBytesWritten"`
}

// NewStore returns an empty Store that keeps up to retain task rows per
// stage attempt (DefaultRetainedTasks when retain <= 0).
func NewStore(retain int) *Store {
	if retain <= 0 {
		retain = DefaultRetainedTasks
	}
	return &Store{jobIdx: map[int]int{}, stageIdx: map[StageKey]int{}, taskIdx: map[int64]taskRef{}, workIdx: map[string]int{}, retain: retain}
}

// Seq returns the number of the last event applied: it changes whenever
// the state does, so a reader can ask for updates since a Seq.
func (s *Store) Seq() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Seq
}

// Apply updates the state with one event. Events must come in Seq order;
// an older or repeated one is ignored, so replaying a log over a
// checkpoint that already covers part of it is harmless.
func (s *Store) Apply(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Seq <= s.snap.Seq {
		return
	}
	s.snap.Seq = e.Seq
	switch e.Kind {
	case AppStart:
		s.snap.App = AppState{App: *e.App, Start: e.Time}
		s.snap.App.Status = Running
	case AppEnd:
		s.snap.App.End = e.Time
		s.snap.App.Status = cmp.Or(e.App.Status, Succeeded)
		s.snap.App.Error, s.snap.App.Crashed = e.App.Error, e.App.Crashed
	case JobStart:
		s.jobIdx[e.Job.ID] = len(s.snap.Jobs)
		s.snap.Jobs = append(s.snap.Jobs, JobState{Job: *e.Job, Start: e.Time})
		s.snap.Jobs[len(s.snap.Jobs)-1].Status = Running
	case JobEnd:
		if i, ok := s.jobIdx[e.Job.ID]; ok {
			j := &s.snap.Jobs[i]
			j.End, j.Status, j.Error = e.Time, e.Job.Status, e.Job.Error
		}
	case StageSubmitted, StageResubmitted:
		k := StageKey{e.Stage.ID, e.Stage.Attempt}
		if _, ok := s.stageIdx[k]; ok {
			return
		}
		s.stageIdx[k] = len(s.snap.Stages)
		st := StageInfo{Stage: *e.Stage, Start: e.Time}
		if g, ok := s.graphStage(e.Stage.Job, e.Stage.ID); ok {
			// What the job's graph says of the stage fills what the
			// submission leaves out.
			st.Name, st.Kind = cmp.Or(st.Name, g.Name), cmp.Or(st.Kind, g.Kind)
			if st.Parents == nil {
				st.Parents = g.Parents
			}
		}
		st.Status = Running
		s.snap.Stages = append(s.snap.Stages, st)
	case StageCompleted:
		if i, ok := s.stageIdx[StageKey{e.Stage.ID, e.Stage.Attempt}]; ok {
			st := &s.snap.Stages[i]
			st.End, st.Status, st.Error = e.Time, e.Stage.Status, e.Stage.Error
		}
	case TaskStart:
		s.taskStart(e)
	case TaskEnd:
		s.taskEnd(e)
	case WorkerAdded, WorkerDraining, WorkerLost, WorkerGone:
		s.worker(e)
		if e.Kind == WorkerLost {
			s.snap.Counters.WorkersLost++
		}
	case FetchFailed:
		s.snap.Counters.FetchFailures++
	}
	if e.Kind == StageResubmitted {
		s.snap.Counters.StageResubmissions++
	}
	if len(s.snap.Jobs) > RetainedJobs*11/10 || len(s.snap.Stages) > RetainedStages*11/10 || len(s.snap.Workers) > RetainedWorkers*11/10 {
		s.trim()
	}
}

// trim drops the oldest finished jobs with their stages, the oldest
// finished stages, and the oldest departed workers, down to the retained
// numbers, then rebuilds the indexes.
func (s *Store) trim() {
	done := func(st Status) bool { return st != Running && st != "" }
	if n := len(s.snap.Jobs) - RetainedJobs; n > 0 {
		gone := map[int]bool{}
		s.snap.Jobs = slices.DeleteFunc(s.snap.Jobs, func(j JobState) bool {
			if len(gone) < n && done(j.Status) {
				gone[j.ID] = true
				return true
			}
			return false
		})
		s.snap.Stages = slices.DeleteFunc(s.snap.Stages, func(st StageInfo) bool { return gone[st.Job] && st.Running == 0 })
	}
	if n := len(s.snap.Stages) - RetainedStages; n > 0 {
		s.snap.Stages = slices.DeleteFunc(s.snap.Stages, func(st StageInfo) bool {
			if n > 0 && done(st.Status) && st.Running == 0 {
				n--
				return true
			}
			return false
		})
	}
	if n := len(s.snap.Workers) - RetainedWorkers; n > 0 {
		s.snap.Workers = slices.DeleteFunc(s.snap.Workers, func(w WorkerRow) bool {
			if n > 0 && (w.State == "lost" || w.State == "decommissioned") {
				n--
				return true
			}
			return false
		})
	}
	s.reindex()
}

func (s *Store) taskStart(e Event) {
	i, ok := s.stageIdx[StageKey{e.Task.Stage, e.Task.StageTry}]
	if !ok {
		return
	}
	st := &s.snap.Stages[i]
	st.Running++
	c := &s.snap.Counters
	c.TasksLaunched++
	if e.Task.Speculative {
		c.TasksSpeculative++
	}
	if e.Task.Recomputed {
		c.TasksRecomputed++
	}
	ref := taskRef{stage: StageKey{st.ID, st.Attempt}, row: -1}
	if len(st.Rows) < s.retain {
		ref.row = len(st.Rows)
		row := TaskRow{Task: *e.Task, Launch: e.Time}
		row.Status = Running
		st.Rows = append(st.Rows, row)
	} else {
		st.Dropped++
	}
	s.taskIdx[e.Task.ID] = ref
	if w := s.workerRow(e.Task.Worker); w != nil {
		w.Running++
	}
}

func (s *Store) taskEnd(e Event) {
	ref, ok := s.taskIdx[e.Task.ID]
	if !ok {
		return
	}
	delete(s.taskIdx, e.Task.ID)
	i, ok := s.stageIdx[ref.stage]
	if !ok {
		return
	}
	st := &s.snap.Stages[i]
	st.Running--
	switch e.Task.Status {
	case Succeeded:
		st.Done++
	case Failed:
		st.FailedRuns++
	}
	st.Totals.add(e.Task.Metrics)
	c := &s.snap.Counters
	c.add(e.Task.Metrics)
	switch e.Task.Status {
	case Succeeded:
		c.TasksSucceeded++
	case Failed:
		c.TasksFailed++
	case Lost:
		c.TasksLost++
	}
	if ref.row >= 0 {
		row := &st.Rows[ref.row]
		launch := row.Launch
		*row = TaskRow{Task: *e.Task, Launch: launch, End: e.Time}
	}
	if w := s.workerRow(e.Task.Worker); w != nil {
		w.Running--
		if e.Task.Status == Succeeded {
			w.Completed++
			w.Shuffle += e.Task.ShuffleWrite
		}
	}
}

func (m *Metrics) add(o Metrics) {
	m.Duration += o.Duration
	m.SchedDelay += o.SchedDelay
	m.RecordsIn += o.RecordsIn
	m.RecordsOut += o.RecordsOut
	m.BytesIn += o.BytesIn
	m.BytesOut += o.BytesOut
	m.ShuffleRead += o.ShuffleRead
	m.ShuffleWrite += o.ShuffleWrite
	m.FetchWait += o.FetchWait
	m.SpillBytes += o.SpillBytes
	m.SpilledChunks += o.SpilledChunks
}

func (s *Store) workerRow(name string) *WorkerRow {
	if i, ok := s.workIdx[name]; ok {
		return &s.snap.Workers[i]
	}
	return nil
}

func (s *Store) worker(e Event) {
	w := s.workerRow(e.Worker.Name)
	if e.Kind == WorkerAdded {
		if w == nil || w.State == "lost" || w.State == "decommissioned" {
			// A name that comes back is a new row: the timeline shows both.
			s.workIdx[e.Worker.Name] = len(s.snap.Workers)
			s.snap.Workers = append(s.snap.Workers, WorkerRow{Worker: *e.Worker, State: "alive", Added: e.Time})
		}
	} else if w != nil {
		switch e.Kind {
		case WorkerDraining:
			w.State = "draining"
		case WorkerLost:
			w.State, w.Removed, w.Reason = "lost", e.Time, e.Worker.Reason
		case WorkerGone:
			w.State, w.Removed, w.Reason = "decommissioned", e.Time, e.Worker.Reason
		}
	}
	if len(s.snap.Timeline) == MaxTimeline {
		s.snap.Timeline = slices.Delete(s.snap.Timeline, 0, MaxTimeline/10)
	}
	s.snap.Timeline = append(s.snap.Timeline, e)
}

// graphStage finds stage id in the graph of job (or, for a stage a later
// job resubmits, of any job).
func (s *Store) graphStage(job, id int) (Stage, bool) {
	if i, ok := s.jobIdx[job]; ok {
		for _, g := range s.snap.Jobs[i].Graph {
			if g.ID == id {
				return g, true
			}
		}
	}
	for i := len(s.snap.Jobs) - 1; i >= 0; i-- {
		for _, g := range s.snap.Jobs[i].Graph {
			if g.ID == id {
				return g, true
			}
		}
	}
	return Stage{}, false
}

// Snapshot returns a deep copy of the state, task rows included.
func (s *Store) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.snap
	c.Jobs = slices.Clone(c.Jobs)
	c.Stages = slices.Clone(c.Stages)
	for i := range c.Stages {
		c.Stages[i].Rows = slices.Clone(c.Stages[i].Rows)
	}
	c.Workers = slices.Clone(c.Workers)
	c.Timeline = slices.Clone(c.Timeline)
	return c
}

// Checkpoint is a Snapshot with its task rows, as an event log stores it.
type Checkpoint struct {
	Snapshot
	Tasks map[string][]TaskRow `json:"tasks"` // by "stage.attempt"
}

// Checkpoint returns the state to store in a log.
func (s *Store) Checkpoint() Checkpoint {
	snap := s.Snapshot()
	c := Checkpoint{Snapshot: snap, Tasks: map[string][]TaskRow{}}
	for _, st := range snap.Stages {
		if len(st.Rows) > 0 {
			c.Tasks[fmt.Sprintf("%d.%d", st.ID, st.Attempt)] = st.Rows
		}
	}
	return c
}

// Restore replaces the state with a checkpoint's.
func (s *Store) Restore(c Checkpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = c.Snapshot
	for i := range s.snap.Stages {
		st := &s.snap.Stages[i]
		st.Rows = c.Tasks[fmt.Sprintf("%d.%d", st.ID, st.Attempt)]
	}
	s.reindex()
}

// reindex rebuilds the indexes from the state. Running tasks without a
// row (past the retained tasks) keep their entries: their stages are
// running, so no trim removed them.
func (s *Store) reindex() {
	clear(s.jobIdx)
	clear(s.stageIdx)
	maps.DeleteFunc(s.taskIdx, func(_ int64, r taskRef) bool { return r.row >= 0 })
	clear(s.workIdx)
	for i, j := range s.snap.Jobs {
		s.jobIdx[j.ID] = i
	}
	for i := range s.snap.Stages {
		st := &s.snap.Stages[i]
		s.stageIdx[StageKey{st.ID, st.Attempt}] = i
		for r, t := range st.Rows {
			if t.Status == Running {
				s.taskIdx[t.ID] = taskRef{stage: StageKey{st.ID, st.Attempt}, row: r}
			}
		}
	}
	for i, w := range s.snap.Workers {
		s.workIdx[w.Name] = i
	}
}

// Stage returns one stage attempt with its task rows.
func (s *Store) Stage(id, attempt int) (StageInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.stageIdx[StageKey{id, attempt}]
	if !ok {
		return StageInfo{}, false
	}
	st := s.snap.Stages[i]
	st.Rows = slices.Clone(st.Rows)
	return st, true
}

// Quantiles returns, for each metric the UI summarises, the values at
// the quantiles qs (each in [0, 1]) over the stage's finished tasks,
// by the nearest-rank method on sorted values.
func Quantiles(tasks []TaskRow, qs []float64) map[string][]int64 {
	cols := map[string]func(t *TaskRow) int64{
		"durationMs":        func(t *TaskRow) int64 { return t.Duration },
		"schedulerDelayMs":  func(t *TaskRow) int64 { return t.SchedDelay },
		"recordsIn":         func(t *TaskRow) int64 { return t.RecordsIn },
		"recordsOut":        func(t *TaskRow) int64 { return t.RecordsOut },
		"bytesIn":           func(t *TaskRow) int64 { return t.BytesIn },
		"bytesOut":          func(t *TaskRow) int64 { return t.BytesOut },
		"shuffleReadBytes":  func(t *TaskRow) int64 { return t.ShuffleRead },
		"shuffleWriteBytes": func(t *TaskRow) int64 { return t.ShuffleWrite },
		"fetchWaitMs":       func(t *TaskRow) int64 { return t.FetchWait },
		"spillBytes":        func(t *TaskRow) int64 { return t.SpillBytes },
	}
	var done []*TaskRow
	for i := range tasks {
		if tasks[i].Status == Succeeded {
			done = append(done, &tasks[i])
		}
	}
	out := make(map[string][]int64, len(cols))
	vals := make([]int64, len(done))
	for name, f := range cols {
		for i, t := range done {
			vals[i] = f(t)
		}
		slices.Sort(vals)
		q := make([]int64, len(qs))
		for i, p := range qs {
			if len(vals) > 0 {
				q[i] = vals[rank(p, len(vals))]
			}
		}
		out[name] = q
	}
	return out
}

// rank is the nearest-rank index of quantile p among n sorted values.
func rank(p float64, n int) int {
	r := int(math.Ceil(p*float64(n))) - 1
	return min(max(r, 0), n-1)
}

// App returns the application's row.
func (s *Store) App() AppState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.App
}

// Jobs returns the jobs, in the order they started.
func (s *Store) Jobs() []JobState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.snap.Jobs)
}

// Job returns one job.
func (s *Store) Job(id int) (JobState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.jobIdx[id]
	if !ok {
		return JobState{}, false
	}
	return s.snap.Jobs[i], true
}

// Stages returns every stage attempt without its task rows.
func (s *Store) Stages() []StageInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Clone(s.snap.Stages)
	for i := range out {
		out[i].Rows = nil
	}
	return out
}

// Workers returns the workers, a row per time a name joined.
func (s *Store) Workers() []WorkerRow {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.snap.Workers)
}

// Counters returns the application's running totals.
func (s *Store) Counters() Counters {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Counters
}

// Timeline returns the workers' joins, drains and losses, oldest first.
func (s *Store) Timeline() []Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.snap.Timeline)
}
