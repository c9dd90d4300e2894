package scheduler

import (
	"time"

	"github.com/sluicehq/sluice/internal/task"
)

// Event is an input to the Scheduler.
type Event interface{ isEvent() }

// JobSubmitted starts a job: compute Partitions of node Node of graph
// Graph, whose nodes are Nodes (parents first, as task.Graph.Nodes gives).
type JobSubmitted struct {
	Job        int
	Graph      int
	Nodes      []task.NodeInfo
	Node       int
	Partitions []int
	Pool       string // FAIR mode: the pool whose share its tasks take; "" is DefaultPool
	// Span, above 1, gives the task of partition p the inputs of
	// partitions p … p+Span-1 of Node too (a tree action combines them).
	Span int
}

// TaskSucceeded reports a finished attempt. A map task carries its output's
// location and sizes; a result task its encoded result.
type TaskSucceeded struct {
	TaskID    int64
	MapStatus *MapStatus
	Result    []byte
}

// TaskFailed reports an attempt that did not succeed. Lost means the
// infrastructure failed (a worker died, a connection broke): it is retried
// without counting against the task's failure limit. Permanent means the
// error cannot change on retry (rdd.ErrPermanent): the task's jobs fail at
// once; a lost attempt ignores it. The error of a job that the failure
// ends wraps Err.
type TaskFailed struct {
	TaskID    int64
	Err       error
	Lost      bool
	Permanent bool
	// Machine says the worker's machine failed the attempt (a full disk,
	// an I/O error): with Lost, it does not count against the task, and a
	// worker with MaxWorkerFailures of them is excluded for ExcludeFor.
	Machine bool
}

// FetchFailed reports an attempt that could not read a map output: the
// output is gone or corrupt. The output is unregistered (when the report
// is not stale) and recomputed; the failure counts against the reading
// stage, not the task.
type FetchFailed struct {
	TaskID  int64
	Shuffle int
	Map     int    // the map partition
	Worker  string // where the task looked for it
	Gen     int64  // the MapStatus generation the task was given
	Err     string
}

func (FetchFailed) isEvent() {}

// Tick tells the scheduler the time: Now since the driver started. Time
// enters the state machine only this way.
type Tick struct{ Now time.Duration }

func (Tick) isEvent() {}

// WorkerDraining stops giving tasks to a worker; its running attempts go
// on. With Move, the worker is decommissioning: once none of its attempts
// runs, a DrainWorker action lists the map outputs to move off it.
type WorkerDraining struct {
	Worker string
	Move   bool
}

// TaskProgress reports how far a running attempt has read (from the
// executor's heartbeat), for speculation on slow progress.
type TaskProgress struct {
	TaskID  int64
	Records int64
}

func (TaskProgress) isEvent() {}

// WorkerFlapping excludes a worker from new tasks for For: its executor
// keeps going silent and coming back (a lossy link, a node suspected and
// refuting again and again), so tasks placed there keep being lost.
type WorkerFlapping struct {
	Worker string
	For    time.Duration
}

func (WorkerFlapping) isEvent() {}

// WorkerDisk says whether a worker is low on disk: one that is takes no
// new map tasks (which write shuffle files) while another worker can.
type WorkerDisk struct {
	Worker string
	Low    bool
}

func (WorkerDisk) isEvent() {}

// MapOutputMoved re-registers a map output copied from one worker to
// another (a draining worker's outputs going to a core worker).
type MapOutputMoved struct {
	Output   OutputRef
	From, To string
}

func (WorkerDraining) isEvent() {}
func (MapOutputMoved) isEvent() {}

// WorkerAdded offers a worker's task slots.
type WorkerAdded struct {
	Worker string
	Slots  int
}

// JobCancelled ends a job early: its tasks stop being launched and its
// results are dropped.
type JobCancelled struct{ Job int }

// GraphForgotten drops what the scheduler keeps for a lineage the driver
// no longer holds: its map stages and map-output table. A GraphReleased
// action follows once none of its attempts runs, when its files may go.
type GraphForgotten struct{ Graph int }

// CommitRequested asks whether attempt Attempt of partition Part of result
// stage Stage may commit its output; a CommitAnswered action with the same
// Ask answers it (see Scheduler.Step).
type CommitRequested struct {
	Ask                  int64 // the caller's number for the request, echoed in the answer
	Stage, Part, Attempt int
}

func (CommitRequested) isEvent() {}

// WorkerRemoved withdraws a worker: it gets no more tasks, and the
// attempts running on it are lost.
type WorkerRemoved struct {
	Worker string
	Reason string
}

func (GraphForgotten) isEvent() {}
func (WorkerRemoved) isEvent()  {}
func (JobSubmitted) isEvent()   {}
func (JobCancelled) isEvent()   {}
func (TaskSucceeded) isEvent()  {}
func (TaskFailed) isEvent()     {}
func (WorkerAdded) isEvent()    {}

// Action is an output of the Scheduler for its caller to carry out.
type Action interface{ isAction() }

// LaunchTask runs Task on Worker.
type LaunchTask struct {
	Task   Task
	Worker string
}

// DeliverResult hands a result partition to the job's action, once per
// partition whatever the number of attempts.
type DeliverResult struct {
	Job       int
	Partition int
	Data      []byte
}

// JobSucceeded ends a job whose partitions were all delivered.
type JobSucceeded struct{ Job int }

// JobFailed ends a job with an error.
type JobFailed struct {
	Job int
	Err error
}

// KillTask stops an attempt whose partition another attempt finished.
type KillTask struct {
	TaskID int64
	Worker string
}

// CommitAnswered answers CommitRequested Ask: OK lets the attempt commit.
type CommitAnswered struct {
	Ask                  int64
	Stage, Part, Attempt int
	OK                   bool
}

// DrainWorker says that a decommissioning worker runs nothing more: move
// Outputs (its map outputs, in order) to other workers, reporting each
// with MapOutputMoved, then let it go.
type DrainWorker struct {
	Worker  string
	Outputs []OutputRef
}

// GraphReleased says that a forgotten graph has no attempt running: its
// shuffle files may be deleted.
type GraphReleased struct{ Graph int }

// JobStages describes, once per job and before any of its stages starts,
// every stage the job needs, parents first: the picture of its DAG. It
// only informs (the UI, the event log).
type JobStages struct {
	Job    int
	Stages []StageInfo
}

// StageInfo describes a stage of a job.
type StageInfo struct {
	ID      int
	Kind    TaskKind
	Node    int // the last node of the stage's pipeline
	Shuffle int // the shuffle a map stage writes
	Tasks   int
	Done    int   // tasks whose output exists already (a stage another job ran)
	Parents []int // the map stages whose shuffles it reads
}

// StageSubmitted says that a stage starts running tasks: Attempt 0 the
// first time, one more each time it runs again to replace lost outputs.
// Tasks counts the partitions it has to compute. It only informs.
type StageSubmitted struct {
	Job, Stage, Attempt, Tasks int
}

// StageCompleted says that a submitted stage has all its outputs, or, with
// Err, that it stopped without them (its jobs failed or ended). It only
// informs.
type StageCompleted struct {
	Stage, Attempt int
	Err            error
}

func (CommitAnswered) isAction() {}
func (DrainWorker) isAction()    {}
func (GraphReleased) isAction()  {}
func (JobStages) isAction()      {}
func (StageSubmitted) isAction() {}
func (StageCompleted) isAction() {}
func (KillTask) isAction()       {}
func (LaunchTask) isAction()     {}
func (DeliverResult) isAction()  {}
func (JobSucceeded) isAction()   {}
func (JobFailed) isAction()      {}

// TaskKind says whether a task writes a shuffle or computes a result.
type TaskKind uint8

// The task kinds.
const (
	MapTask TaskKind = iota + 1
	ResultTask
)

// String returns "map" or "result".
func (k TaskKind) String() string {
	switch k {
	case MapTask:
		return "map"
	case ResultTask:
		return "result"
	}
	return "unknown"
}

// Task is one attempt at one partition of a stage.
type Task struct {
	ID        int64 // unique per attempt
	Job       int   // the job that caused the launch
	Stage     int
	Graph     int
	Kind      TaskKind
	Node      int // result tasks: the node to compute
	Shuffle   int // map tasks: the shuffle to write
	Partition int
	Attempt   int // 0 for the first attempt of this partition in this stage
	// Inputs locate the shuffle partitions the task reads: one per
	// (shuffle, partition) that its pipeline reads.
	Inputs []ShuffleInput
	// Speculative marks a copy of a straggler; Recomputed, a map task run
	// again because the output it had written was lost.
	Speculative, Recomputed bool
}

// MapStatus says where a map output lives and how large each of its
// reduce partitions is, as a map task reports it. The scheduler keeps the
// sizes compactly (see ShuffleInput for what a reader gets).
type MapStatus struct {
	Worker string
	Sizes  []int64
	// Gen numbers registrations: a fetch failure that names an older
	// generation than the registered one is stale and unregisters nothing.
	Gen int64
	// Replica names a core worker that holds a copy (--shuffle-replicas):
	// when Worker is lost, the output moves there instead of being
	// recomputed.
	Replica string
}

// OutputRef names one map output.
type OutputRef struct {
	Graph, Shuffle, Map int
}
