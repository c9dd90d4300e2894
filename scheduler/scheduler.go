package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrTaskFailed is wrapped by the error of a job whose task failed too
// many times.
var ErrTaskFailed = errors.New("scheduler: task failed")

// ErrTaskLost is wrapped by the error of a job whose task was lost too many
// times.
var ErrTaskLost = errors.New("scheduler: task lost")

// ErrStageFailed is wrapped by the error of a job whose stage failed too
// many times in a row (its inputs kept disappearing).
var ErrStageFailed = errors.New("scheduler: stage failed")

// ErrStranded is wrapped by the error of a job that waited
// Config.StrandedAfter with no worker able to take tasks.
var ErrStranded = errors.New("scheduler: no worker could take tasks")

// errNoJob ends a stage that no active job needs any more.
var errNoJob = errors.New("scheduler: no active job needs the stage")

// errRolledBack ends a stage whose input was lost and recomputed
// differently (indeterminate): it runs again, whole.
var errRolledBack = errors.New("scheduler: an indeterminate input was recomputed: the stage runs again")

// Config tunes a Scheduler.
type Config struct {
	MaxTaskFailures  int // attempts of one task that may fail before its job fails (Spark's spark.task.maxFailures)
	MaxTaskLosses    int // losses of one task before its job fails, so nothing loops forever
	MaxStageFailures int // fetch failures of one stage in a row before its jobs fail

	Speculation           bool          // launch copies of stragglers
	SpeculationMultiplier float64       // a task is a straggler past this many times the median duration
	SpeculationQuantile   float64       // the fraction of a stage's tasks that must have finished first
	SpeculationMinRuntime time.Duration // never speculate on a task younger than this
	// SpeculationSlowRate: with speculation on, a task reading at under
	// this fraction of the median rate of its stage's running tasks (at
	// least 3 reporting, TaskProgress) gets a copy once it has run
	// SpeculationSlowAfter, without waiting for SpeculationQuantile.
	SpeculationSlowRate  float64
	SpeculationSlowAfter time.Duration

	// CommitTimeout is how long a result attempt allowed to commit may take
	// to report; then the grant is released and a copy of the task runs,
	// which may commit in its place.
	CommitTimeout time.Duration

	// MaxWorkerFailures machine failures (TaskFailed.Machine) of a worker
	// exclude it from new tasks for ExcludeFor, as Spark's exclusion lists
	// do, unless no other worker could take them.
	MaxWorkerFailures int
	ExcludeFor        time.Duration

	// StrandedAfter fails the active jobs (ErrStranded) once no worker
	// could take tasks for this long, by Tick time; 0 waits for ever.
	StrandedAfter time.Duration

	// Mode is how concurrent jobs share slots: FIFO or FAIR; Pools are
	// FAIR's pools by name (a job's pool that is not here gets weight 1
	// and no minimum share).
	Mode  Mode
	Pools map[string]Pool

	// StageActions adds JobStages, StageSubmitted and StageCompleted to
	// what Step returns: they only inform (the UI, the event log).
	StageActions bool
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		MaxTaskFailures:  4,  // as Spark and Hadoop
		MaxTaskLosses:    16, // far above what a sane cluster loses, well below forever
		MaxStageFailures: 4,  // as Spark's spark.stage.maxConsecutiveAttempts

		Speculation:           false,                  // opt-in, as in Spark
		SpeculationMultiplier: 3,                      // Spark 4's default: conservative, few needless copies
		SpeculationQuantile:   0.9,                    // Spark 4's default
		SpeculationMinRuntime: 100 * time.Millisecond, // Spark's spark.speculation.minTaskRuntime
		SpeculationSlowRate:   0.25,                   // four times slower than its peers: a sick machine, not data skew alone
		SpeculationSlowAfter:  5 * time.Second,        // a few heartbeats of evidence

		CommitTimeout: 2 * time.Minute, // a commit is a rename and a reply: seconds; minutes mean the attempt is cut off

		MaxWorkerFailures: 2,                // Spark's spark.excludeOnFailure.task.maxTaskAttemptsPerNode
		ExcludeFor:        10 * time.Minute, // a full disk is rarely freed in less; a spot node is often gone by then

		StrandedAfter: 0, // local mode always has its one worker; the driver sets --wait on a cluster

		Mode: FIFO, // as Spark: jobs run in the order submitted unless the program asks to share
	}
}

// Scheduler turns jobs into stages and tasks and tracks them to the end. It
// is a state machine: Step takes an event and returns the actions to carry
// out. It has no goroutines, clock or I/O, so callers own time and the
// network and tests script every event. The same events always give the
// same actions.
//
// Every event costs amortised O(log n) in the job's size: each stage is a
// task set with its own counters of missing outputs, queued attempts wait
// in FIFO queues by kind, and free slots are indexed by worker; reducers
// get a snapshot of the map-output table, not a copy of it.
type Scheduler struct {
	cfg        Config
	nextStage  int
	nextTask   int64
	jobs       map[int]*job
	mapStages  map[shuffleKey]*stage
	outputs    map[shuffleKey]*outputTable
	held       map[string]holdings // outputs by the worker holding them or a replica
	running    map[int64]*attempt
	stagesByID map[int]*stage
	nextGen    int64
	now        time.Duration // from the last Tick

	workers map[string]*worker
	slots   slotIndex

	q     queues           // launchable attempts, in FIFO mode
	pools map[string]*pool // FAIR mode: pools by name, each with its queues

	grants     []grantRef      // commit grants in the order given, for CommitTimeout
	grantsKept int             // len(grants) after the last compaction
	graphRuns  map[int]int     // running attempts by graph
	releasing  []int           // forgotten graphs whose GraphReleased waits for their attempts
	drainCheck map[string]bool // decommissioning workers to look at after this event
	stranded   time.Duration   // Tick time since when no worker could take tasks; -1 when some could
	excluded   map[string]bool // workers whose exclusion ends at a later Tick
	speculated int

	// stagesRecomputed counts complete map stages that lost outputs.
	stagesRecomputed int
	lost             []string // the last maxLost workers lost, for error messages
	lostEarlier      int      // workers lost before those
	recomputed       int      // map tasks launched for outputs that had been lost
}

type shuffleKey struct{ graph, shuffle int }

// New returns a Scheduler with cfg; zero fields take DefaultConfig values.
func New(cfg Config) *Scheduler {
	def := DefaultConfig()
	if cfg.MaxTaskFailures <= 0 {
		cfg.MaxTaskFailures = def.MaxTaskFailures
	}
	if cfg.MaxTaskLosses <= 0 {
		cfg.MaxTaskLosses = def.MaxTaskLosses
	}
	if cfg.MaxStageFailures <= 0 {
		cfg.MaxStageFailures = def.MaxStageFailures
	}
	if cfg.SpeculationMultiplier <= 0 {
		cfg.SpeculationMultiplier = def.SpeculationMultiplier
	}
	if cfg.SpeculationQuantile <= 0 {
		cfg.SpeculationQuantile = def.SpeculationQuantile
	}
	if cfg.SpeculationMinRuntime <= 0 {
		cfg.SpeculationMinRuntime = def.SpeculationMinRuntime
	}
	if cfg.SpeculationSlowRate <= 0 {
		cfg.SpeculationSlowRate = def.SpeculationSlowRate
	}
	if cfg.SpeculationSlowAfter <= 0 {
		cfg.SpeculationSlowAfter = def.SpeculationSlowAfter
	}
	return &Scheduler{
		cfg:        cfg,
		jobs:       map[int]*job{},
		mapStages:  map[shuffleKey]*stage{},
		outputs:    map[shuffleKey]*outputTable{},
		held:       map[string]holdings{},
		running:    map[int64]*attempt{},
		workers:    map[string]*worker{},
		stagesByID: map[int]*stage{},
		slots:      newSlotIndex(),
		graphRuns:  map[int]int{},
		drainCheck: map[string]bool{},
		excluded:   map[string]bool{},
		stranded:   -1,
		pools:      map[string]*pool{},
	}
}

// Step applies ev and returns the actions it calls for, in order.
func (s *Scheduler) Step(ev Event) []Action {
	var out []Action
	switch ev := ev.(type) {
	case JobSubmitted:
		out = s.submitJob(ev, out)
	case TaskSucceeded:
		out = s.taskSucceeded(ev, out)
	case TaskFailed:
		out = s.taskFailed(ev, out)
	case FetchFailed:
		out = s.fetchFailed(ev, out)
	case Tick:
		out = s.tick(ev.Now, out)
	case WorkerDraining:
		if w := s.workers[ev.Worker]; w != nil {
			s.updateWorker(w, func() { w.draining = true })
			if ev.Move {
				w.decommission = true
				s.drainCheck[w.name] = true
			}
		}
	case TaskProgress:
		if a := s.running[ev.TaskID]; a != nil {
			a.records = ev.Records
		}
	case WorkerFlapping:
		if w := s.workers[ev.Worker]; w != nil {
			s.updateWorker(w, func() { w.excluded = max(w.excluded, s.now+ev.For) })
		}
	case WorkerDisk:
		if w := s.workers[ev.Worker]; w != nil {
			s.updateWorker(w, func() { w.lowDisk = ev.Low })
		}
	case MapOutputMoved:
		s.outputMoved(ev)
	case JobCancelled:
		if j := s.jobs[ev.Job]; j != nil {
			out = s.endJob(j, out)
		}
	case GraphForgotten:
		s.forgetGraph(ev.Graph)
	case CommitRequested:
		out = append(out, CommitAnswered{Ask: ev.Ask, Stage: ev.Stage, Part: ev.Part, Attempt: ev.Attempt, OK: s.canCommit(ev.Stage, ev.Part, ev.Attempt)})
	case WorkerRemoved:
		out = s.removeWorker(ev, out)
	case WorkerAdded:
		s.addWorker(ev)
	}
	out = s.launch(out)
	out = s.drains(out)
	return s.releases(out)
}

// Running returns the number of attempts running.
func (s *Scheduler) Running() int { return len(s.running) }

// ActiveJobs returns the number of jobs not yet ended.
func (s *Scheduler) ActiveJobs() int { return len(s.jobs) }

// RunningOn returns the number of attempts running on worker.
func (s *Scheduler) RunningOn(worker string) int {
	if w := s.workers[worker]; w != nil {
		return len(w.running)
	}
	return 0
}

// Schedulable returns the number of workers that can take new tasks (not
// draining or paused).
func (s *Scheduler) Schedulable() int { return s.slots.live }

// maxLost bounds the lost workers a scheduler names: a driver that runs
// all day on spot nodes loses thousands, and every stage-failure message
// names them.
const maxLost = 8

// noteLost records a lost worker: the last maxLost by name (a worker lost
// again moves to the end), the rest as a count.
func (s *Scheduler) noteLost(name string) {
	if i := slices.Index(s.lost, name); i >= 0 {
		s.lost = slices.Delete(s.lost, i, i+1)
	} else if len(s.lost) == maxLost {
		s.lost = slices.Delete(s.lost, 0, 1)
		s.lostEarlier++
	}
	s.lost = append(s.lost, name)
}

// Lost returns the last workers lost (at most 8), in order: LostSummary
// also counts the earlier ones.
func (s *Scheduler) Lost() []string { return slices.Clone(s.lost) }

// LostSummary names the last workers lost and counts the earlier ones,
// for error messages: "w7, w8 and 4993 earlier", or "none".
func (s *Scheduler) LostSummary() string {
	switch {
	case len(s.lost) == 0:
		return "none"
	case s.lostEarlier == 0:
		return strings.Join(s.lost, ", ")
	}
	return fmt.Sprintf("%s and %d earlier", strings.Join(s.lost, ", "), s.lostEarlier)
}

// Workers returns the number of workers that can take tasks.
func (s *Scheduler) Workers() int { return len(s.workers) }

// WorkerNames returns the workers that can take tasks, sorted.
func (s *Scheduler) WorkerNames() []string {
	names := make([]string, 0, len(s.workers))
	for n := range s.workers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// GraphBusy reports whether attempts of graph are running.
func (s *Scheduler) GraphBusy(graph int) bool { return s.graphRuns[graph] > 0 }

// StagesRecomputed returns how many times a complete map stage lost
// outputs and had to run again in part.
func (s *Scheduler) StagesRecomputed() int { return s.stagesRecomputed }

// Speculated returns how many speculative copies were launched.
func (s *Scheduler) Speculated() int { return s.speculated }

// Recomputed returns how many map tasks ran again because the output they
// had written was lost.
func (s *Scheduler) Recomputed() int { return s.recomputed }

// Excluded reports whether a worker is excluded from new tasks now.
func (s *Scheduler) Excluded(name string) bool {
	w := s.workers[name]
	return w != nil && w.excluded > s.now
}

// forgetGraph drops the map stages of a graph no job needs and their
// tables; GraphReleased follows once none of its attempts runs.
func (s *Scheduler) forgetGraph(graph int) {
	var ks []shuffleKey
	for k, st := range s.mapStages {
		if k.graph == graph && len(st.jobs) == 0 {
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		st := s.mapStages[k]
		delete(s.mapStages, k)
		delete(s.stagesByID, st.id)
		s.dropTable(st)
	}
	if !slices.Contains(s.releasing, graph) {
		s.releasing = append(s.releasing, graph)
	}
}

// releases emits GraphReleased for the forgotten graphs that have no
// attempt running, in the order they were forgotten.
func (s *Scheduler) releases(out []Action) []Action {
	if len(s.releasing) == 0 {
		return out
	}
	kept := s.releasing[:0]
	for _, g := range s.releasing {
		if s.graphRuns[g] > 0 {
			kept = append(kept, g)
			continue
		}
		out = append(out, GraphReleased{Graph: g})
	}
	s.releasing = kept
	return out
}

// drains emits DrainWorker for the decommissioning workers that run
// nothing more, once each, in name order.
func (s *Scheduler) drains(out []Action) []Action {
	if len(s.drainCheck) == 0 {
		return out
	}
	names := make([]string, 0, len(s.drainCheck))
	for n := range s.drainCheck {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w := s.workers[n]
		if w == nil || !w.decommission || w.moveStarted {
			delete(s.drainCheck, n)
			continue
		}
		if len(w.running) == 0 {
			w.moveStarted = true
			delete(s.drainCheck, n)
			out = append(out, DrainWorker{Worker: n, Outputs: s.OutputsOn(n)})
		}
	}
	return out
}

// strandedCheck fails every active job once no worker could take tasks
// for StrandedAfter.
func (s *Scheduler) strandedCheck(out []Action) []Action {
	if s.cfg.StrandedAfter <= 0 || len(s.jobs) == 0 || s.slots.live > 0 {
		s.stranded = -1
		return out
	}
	if s.stranded < 0 {
		s.stranded = s.now
		return out
	}
	if s.now-s.stranded < s.cfg.StrandedAfter {
		return out
	}
	err := fmt.Errorf("%w for %v; workers lost: %s", ErrStranded, s.cfg.StrandedAfter, s.LostSummary())
	ids := make([]int, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if j := s.jobs[id]; j != nil {
			out = append(out, JobFailed{Job: id, Err: err})
			out = s.endJob(j, out)
		}
	}
	s.stranded = -1
	return out
}
