package obs

import (
	"encoding/json"
	"fmt"
)

// Version is the event schema's version. A reader accepts events of any
// version up to its own and ignores fields it does not know; a change
// that alters the meaning of an existing field takes a new version.
const Version = 1

// Kind names what an event reports.
type Kind string

// The kinds of event, in the order an application usually emits them.
const (
	AppStart         Kind = "AppStart"
	JobStart         Kind = "JobStart"
	StageSubmitted   Kind = "StageSubmitted"
	TaskStart        Kind = "TaskStart"
	TaskEnd          Kind = "TaskEnd"
	FetchFailed      Kind = "FetchFailed"
	StageResubmitted Kind = "StageResubmitted"
	StageCompleted   Kind = "StageCompleted"
	JobEnd           Kind = "JobEnd"
	WorkerAdded      Kind = "WorkerAdded"
	WorkerDraining   Kind = "WorkerDraining"
	WorkerLost       Kind = "WorkerLost"
	WorkerGone       Kind = "WorkerDecommissioned"
	AppEnd           Kind = "AppEnd"
)

// Event is one line of an event log and one update of a Store. Exactly
// one payload field is set, the one its Kind names.
type Event struct {
	V    int   `json:"v"`
	Seq  int64 `json:"seq"` // 1, 2, 3… within an application
	Time int64 `json:"ts"`  // Unix milliseconds
	Kind Kind  `json:"event"`

	App    *App    `json:"app,omitempty"`
	Job    *Job    `json:"job,omitempty"`
	Stage  *Stage  `json:"stage,omitempty"`
	Task   *Task   `json:"task,omitempty"`
	Worker *Worker `json:"worker,omitempty"`
	Fetch  *Fetch  `json:"fetch,omitempty"`
}

// App describes an application: one driver program's run.
type App struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	User   string `json:"user,omitempty"`
	Mode   string `json:"mode,omitempty"` // "local" or "cluster"
	Status Status `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Crashed marks a FAILED application whose driver stopped without
	// ending its log (killed, lost its machine).
	Crashed bool `json:"crashed,omitempty"`
}

// Job describes one action's job.
type Job struct {
	ID     int     `json:"id"`
	Name   string  `json:"name,omitempty"` // the action and its call site
	Stages []int   `json:"stages,omitempty"`
	Graph  []Stage `json:"graph,omitempty"` // JobStart: every stage the job needs, parents first
	Status Status  `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Stage describes a stage: its place in the job's DAG and its outcome.
type Stage struct {
	ID        int    `json:"id"`
	Attempt   int    `json:"attempt"` // 0 first, then one more per resubmission
	Job       int    `json:"job"`
	Name      string `json:"name,omitempty"` // the operations, with the user's file:line
	Kind      string `json:"kind,omitempty"` // "map" or "result"
	Tasks     int    `json:"tasks,omitempty"`
	Available int    `json:"available,omitempty"` // in a job's graph: tasks whose output exists already
	Parents   []int  `json:"parents,omitempty"`
	Status    Status `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Task describes one task attempt. TaskStart sets the identity, the
// worker and Launch; TaskEnd adds the outcome and the metrics.
type Task struct {
	ID          int64  `json:"id"`
	Stage       int    `json:"stage"`
	StageTry    int    `json:"stageAttempt"`
	Partition   int    `json:"partition"`
	Attempt     int    `json:"attempt"`
	Worker      string `json:"worker,omitempty"`
	Role        string `json:"role,omitempty"`
	Speculative bool   `json:"speculative,omitempty"`
	Recomputed  bool   `json:"recomputed,omitempty"`
	Status      Status `json:"status,omitempty"`
	Error       string `json:"error,omitempty"`
	Metrics
}

// Metrics are a task's measurements. Durations are in milliseconds.
type Metrics struct {
	Duration      int64 `json:"durationMs,omitempty"`
	SchedDelay    int64 `json:"schedulerDelayMs,omitempty"`
	RecordsIn     int64 `json:"recordsIn,omitempty"`
	RecordsOut    int64 `json:"recordsOut,omitempty"`
	BytesIn       int64 `json:"bytesIn,omitempty"`
	BytesOut      int64 `json:"bytesOut,omitempty"`
	ShuffleRead   int64 `json:"shuffleReadBytes,omitempty"`
	ShuffleWrite  int64 `json:"shuffleWriteBytes,omitempty"`
	FetchWait     int64 `json:"fetchWaitMs,omitempty"`
	SpillBytes    int64 `json:"spillBytes,omitempty"`
	SpilledChunks int64 `json:"spills,omitempty"`
}

// Worker describes a cluster member as the driver sees it.
type Worker struct {
	Name   string `json:"name"`
	Addr   string `json:"addr,omitempty"`
	Role   string `json:"role,omitempty"`
	Slots  int    `json:"slots,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Fetch describes a failed fetch of a map output.
type Fetch struct {
	Task    int64  `json:"task"`
	Stage   int    `json:"stage"`
	Shuffle int    `json:"shuffle"`
	Map     int    `json:"map"`
	Worker  string `json:"worker"`
	Error   string `json:"error,omitempty"`
}

// Status is the state of an application, job, stage or task.
type Status string

// The statuses. An application whose driver died without ending its log
// is FAILED with Crashed set: readers infer it from a stale heartbeat.
const (
	Running   Status = "RUNNING"
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
	Killed    Status = "KILLED"
	Lost      Status = "LOST"
	Pending   Status = "PENDING" // a stage of a job's graph not started yet
	Skipped   Status = "SKIPPED" // a stage whose output an earlier job left
)

// payload reports whether exactly the payload the kind needs is set.
func (e *Event) check() error {
	var want, have int
	set := []bool{e.App != nil, e.Job != nil, e.Stage != nil, e.Task != nil, e.Worker != nil, e.Fetch != nil}
	for _, s := range set {
		if s {
			have++
		}
	}
	switch e.Kind {
	case AppStart, AppEnd:
		want = 0
	case JobStart, JobEnd:
		want = 1
	case StageSubmitted, StageResubmitted, StageCompleted:
		want = 2
	case TaskStart, TaskEnd:
		want = 3
	case WorkerAdded, WorkerDraining, WorkerLost, WorkerGone:
		want = 4
	case FetchFailed:
		want = 5
	default:
		return fmt.Errorf("unknown event %q", e.Kind)
	}
	if have != 1 || !set[want] {
		return fmt.Errorf("event %s: needs exactly its %s payload", e.Kind, [...]string{"app", "job", "stage", "task", "worker", "fetch"}[want])
	}
	return nil
}

// Decode parses one event-log line.
func Decode(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, err
	}
	if e.V < 1 || e.V > Version {
		return Event{}, fmt.Errorf("event schema version %d, this reader knows 1 to %d", e.V, Version)
	}
	if err := e.check(); err != nil {
		return Event{}, err
	}
	return e, nil
}
