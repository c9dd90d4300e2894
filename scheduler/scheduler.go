package scheduler

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/task"
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
	}
}

// Scheduler turns jobs into stages and tasks and tracks them to the end. It
// is a state machine: Step takes an event and returns the actions to carry
// out. It has no goroutines, clock or I/O, so callers own time and the
// network and tests script every event.
type Scheduler struct {
	cfg        Config
	nextStage  int
	nextTask   int64
	jobs       map[int]*job
	mapStages  map[shuffleKey]*stage
	outputs    map[shuffleKey][]*MapStatus
	running    map[int64]*attempt
	queue      []*attempt // launchable, waiting for a slot, FIFO
	workers    map[string]*worker
	commits    map[commitKey]grant // authorised attempt per result partition
	stagesByID map[int]*stage
	nextGen    int64
	now        time.Duration // from the last Tick
	speculated int
	// stagesRecomputed counts complete map stages that lost outputs.
	stagesRecomputed int
	lost             []string // the last maxLost workers lost, for error messages
	lostEarlier      int      // workers lost before those
	recomputed       int      // map tasks launched for outputs that had been lost
}

type shuffleKey struct{ graph, shuffle int }

type commitKey struct{ stage, part int }

// grant is a result partition's commit authorisation.
type grant struct {
	attempt int
	task    int64         // the attempt's task id
	at      time.Duration // Tick time of the grant
	expired bool          // released after CommitTimeout: that attempt may not commit
}

type worker struct {
	slots, busy int
	draining    bool
	failures    int           // machine failures since the last exclusion
	excluded    time.Duration // excluded from new tasks until this Tick time
	lowDisk     bool          // takes no new map tasks
}

type job struct {
	id    int
	final *stage
	left  int
	done  bool
}

type stage struct {
	id      int
	graph   int
	node    int // the last node of the stage's pipeline
	shuffle int // the shuffle a map stage writes; 0 for a result stage
	parts   int // map stages: the node's partitions; result stages: len(resultParts)
	name    string

	resultParts []int // result stages: the node partition of each task index
	job         *job  // result stages: their job
	parents     []*stage
	jobs        map[int]bool // active jobs that need this stage

	pending  map[int]int // attempts queued or running, by task index
	attempts []int       // launches per task index
	failures []int
	losses   []int
	done     []bool // result stages: delivered partitions
	waiting  bool   // submitted, waiting for parents

	durations     []time.Duration // of the attempts that succeeded, for speculation
	fetchFailures int             // in a row; reset when the stage completes
	indeterminate bool            // a map stage whose output depends on input order
	epoch         int             // bumped by a rollback: older attempts computed from discarded inputs
	lostOutputs   map[int]bool    // map partitions whose output was lost: their relaunch is a recomputation
}

type attempt struct {
	task    Task
	stage   *stage
	index   int // task index within the stage
	worker  string
	avoid   string        // a worker this attempt must not run on
	shun    string        // a worker to avoid while another can take it
	started time.Duration // Tick time at launch
	records int64         // read so far, from TaskProgress; -1 before a report
	killed  bool          // a KillTask went out for it
	epoch   int           // the stage's epoch at launch
}

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
		outputs:    map[shuffleKey][]*MapStatus{},
		running:    map[int64]*attempt{},
		workers:    map[string]*worker{},
		commits:    map[commitKey]grant{},
		stagesByID: map[int]*stage{},
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
		s.tick(ev.Now)
	case WorkerDraining:
		if w := s.workers[ev.Worker]; w != nil {
			w.draining = true
		}
	case TaskProgress:
		if a := s.running[ev.TaskID]; a != nil {
			a.records = ev.Records
		}
	case WorkerFlapping:
		if w := s.workers[ev.Worker]; w != nil {
			w.excluded = max(w.excluded, s.now+ev.For)
		}
	case WorkerDisk:
		if w := s.workers[ev.Worker]; w != nil {
			w.lowDisk = ev.Low
		}
	case MapOutputMoved:
		outs := s.outputs[shuffleKey{ev.Output.Graph, ev.Output.Shuffle}]
		if m := outs[ev.Output.Map]; m != nil && m.Worker == ev.From && s.workers[ev.To] != nil {
			s.nextGen++
			outs[ev.Output.Map] = &MapStatus{Worker: ev.To, Sizes: m.Sizes, Gen: s.nextGen}
		}
	case JobCancelled:
		if j := s.jobs[ev.Job]; j != nil {
			out = s.endJob(j, out)
		}
	case GraphForgotten:
		for k, st := range s.mapStages {
			if k.graph == ev.Graph && len(st.jobs) == 0 {
				delete(s.mapStages, k)
				delete(s.outputs, k)
				delete(s.stagesByID, st.id)
			}
		}
	case WorkerRemoved:
		if _, known := s.workers[ev.Worker]; known {
			s.noteLost(ev.Worker)
		}
		delete(s.workers, ev.Worker)
		out = s.unregisterWorker(ev.Worker, out)
		for _, id := range s.runningWhere(func(a *attempt) bool { return a.worker == ev.Worker }) {
			out = s.taskFailed(TaskFailed{TaskID: id, Err: fmt.Errorf("worker %s lost: %s", ev.Worker, ev.Reason), Lost: true}, out)
		}
	case WorkerAdded:
		w := s.workers[ev.Worker]
		if w == nil {
			w = &worker{}
			s.workers[ev.Worker] = w
		}
		w.slots, w.draining = ev.Slots, false
	}
	return s.launch(out)
}

// RunningOn returns the number of attempts running on worker.
func (s *Scheduler) RunningOn(worker string) int {
	n := 0
	for _, a := range s.running {
		if a.worker == worker {
			n++
		}
	}
	return n
}

// OutputsOn lists the map outputs registered on worker, in order.
func (s *Scheduler) OutputsOn(worker string) []OutputRef {
	var refs []OutputRef
	for k, outs := range s.outputs {
		for i, m := range outs {
			if m != nil && m.Worker == worker {
				refs = append(refs, OutputRef{Graph: k.graph, Shuffle: k.shuffle, Map: i})
			}
		}
	}
	slices.SortFunc(refs, func(a, b OutputRef) int {
		if a.Graph != b.Graph {
			return a.Graph - b.Graph
		}
		if a.Shuffle != b.Shuffle {
			return a.Shuffle - b.Shuffle
		}
		return a.Map - b.Map
	})
	return refs
}

// Schedulable returns the number of workers that can take new tasks (not
// draining or paused).
func (s *Scheduler) Schedulable() int {
	n := 0
	for _, w := range s.workers {
		if !w.draining && w.slots > 0 {
			n++
		}
	}
	return n
}

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

// LostSummary names the workers lost for a message: the last few, and a
// count of the rest.
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

// Running returns the number of attempts running.
func (s *Scheduler) Running() int { return len(s.running) }

// ActiveJobs returns the number of jobs not yet ended.
func (s *Scheduler) ActiveJobs() int { return len(s.jobs) }

// CanCommit answers an attempt's request to commit its output partition:
// the first live attempt to ask wins, and every other attempt of that
// partition is denied while the winner lives (Spark's
// OutputCommitCoordinator). Only an attempt the scheduler considers running
// may commit: one recorded as lost, killed, finished or never launched is
// denied, so a zombie that comes back from a partition cannot take the
// commit from the attempt that replaced it. A grant whose attempt does not
// report within CommitTimeout is released (see tick).
func (s *Scheduler) CanCommit(stageID, part, attemptNum int) bool {
	st := s.stagesByID[stageID]
	if st == nil || st.shuffle != 0 {
		return false
	}
	var live *attempt
	for _, a := range s.running {
		if a.stage == st && a.task.Partition == part && a.task.Attempt == attemptNum {
			live = a
			break
		}
	}
	if live == nil || live.killed || live.epoch != st.epoch {
		return false // not running, or computed from inputs a rollback discarded
	}
	k := commitKey{stageID, part}
	if g, ok := s.commits[k]; ok {
		if !g.expired || g.attempt == attemptNum {
			return g.attempt == attemptNum && !g.expired
		}
	}
	for i, p := range st.resultParts {
		if p == part && st.done[i] {
			return false
		}
	}
	s.commits[k] = grant{attempt: attemptNum, task: live.task.ID, at: s.now}
	return true
}

func (s *Scheduler) submitJob(ev JobSubmitted, out []Action) []Action {
	nodes := map[int]task.NodeInfo{}
	for _, n := range ev.Nodes {
		nodes[n.ID] = n
	}
	j := &job{id: ev.Job, left: len(ev.Partitions)}
	s.jobs[j.id] = j
	final := s.newStage(ev.Graph, nodes[ev.Node], 0, len(ev.Partitions))
	final.resultParts = slices.Clone(ev.Partitions)
	final.done = make([]bool, len(ev.Partitions))
	final.job = j
	j.final = final
	final.parents = s.parentStages(ev.Graph, nodes, ev.Node)
	if j.left == 0 {
		delete(s.jobs, j.id)
		return append(out, JobSucceeded{Job: j.id})
	}
	s.markJob(final, j.id)
	return s.submit(final, out)
}

func (s *Scheduler) newStage(graph int, n task.NodeInfo, shuffle, parts int) *stage {
	st := &stage{
		id: s.nextStage, graph: graph, node: n.ID, shuffle: shuffle, parts: parts, name: n.Name,
		jobs: map[int]bool{}, pending: map[int]int{},
		attempts: make([]int, parts), failures: make([]int, parts), losses: make([]int, parts),
	}
	s.nextStage++
	s.stagesByID[st.id] = st
	return st
}

// parentStages returns the map stages of the shuffles that node reads
// through narrow dependencies, creating them (and theirs) once per shuffle.
func (s *Scheduler) parentStages(graph int, nodes map[int]task.NodeInfo, node int) []*stage {
	var parents []*stage
	for _, sh := range shufflesRead(nodes, node) {
		k := shuffleKey{graph, sh.Shuffle}
		st := s.mapStages[k]
		if st == nil {
			p := nodes[sh.Parent]
			st = s.newStage(graph, p, sh.Shuffle, p.Partitions)
			st.indeterminate = sh.Indeterminate
			st.parents = s.parentStages(graph, nodes, p.ID)
			s.mapStages[k] = st
			if s.outputs[k] == nil {
				s.outputs[k] = make([]*MapStatus, p.Partitions)
			}
		}
		parents = append(parents, st)
	}
	return parents
}

// shufflesRead returns the shuffle dependencies reachable from node through
// narrow dependencies: what one task of node's stage reads.
func shufflesRead(nodes map[int]task.NodeInfo, node int) []task.DepInfo {
	var out []task.DepInfo
	seen := map[int]bool{}
	var visit func(id int)
	visit = func(id int) {
		if seen[id] {
			return
		}
		seen[id] = true
		for _, d := range nodes[id].Deps {
			if d.Shuffle != 0 {
				out = append(out, d)
			} else {
				visit(d.Parent)
			}
		}
	}
	visit(node)
	return out
}

func (s *Scheduler) markJob(st *stage, jobID int) {
	st.jobs[jobID] = true
	for _, p := range st.parents {
		s.markJob(p, jobID)
	}
}

func (s *Scheduler) available(st *stage) bool {
	if st.shuffle == 0 {
		return false
	}
	for _, m := range s.outputs[shuffleKey{st.graph, st.shuffle}] {
		if m == nil {
			return false
		}
	}
	return true
}

// submit runs st when its parents' outputs are all available, and submits
// the missing parents otherwise.
func (s *Scheduler) submit(st *stage, out []Action) []Action {
	missing := false
	for _, p := range st.parents {
		if !s.available(p) {
			missing = true
			if !p.waiting {
				// Partitions already queued or running are skipped; the
				// rest (say, one that failed while no job needed the stage)
				// are queued again.
				out = s.submit(p, out)
			}
		}
	}
	if missing {
		st.waiting = true
		return out
	}
	st.waiting = false
	s.enqueueMissing(st)
	return out
}

// enqueueMissing queues a task for every partition of st that has no
// output yet and no attempt queued or running.
func (s *Scheduler) enqueueMissing(st *stage) {
	var outs []*MapStatus
	if st.shuffle != 0 {
		outs = s.outputs[shuffleKey{st.graph, st.shuffle}]
	}
	for i := 0; i < st.parts; i++ {
		if st.pending[i] > 0 || (outs != nil && outs[i] != nil) || (st.done != nil && st.done[i]) {
			continue
		}
		s.enqueue(st, i, "")
	}
}

// enqueue queues an attempt of task index i; avoid names a worker it must
// not run on (a speculative copy's original's).
func (s *Scheduler) enqueue(st *stage, i int, avoid string) {
	s.nextTask++
	t := Task{
		ID: s.nextTask, Stage: st.id, Graph: st.graph, Partition: i, Attempt: st.attempts[i],
	}
	if st.shuffle != 0 {
		t.Kind, t.Shuffle = MapTask, st.shuffle
	} else {
		t.Kind, t.Node, t.Partition = ResultTask, st.node, st.resultParts[i]
	}
	st.attempts[i]++
	st.pending[i]++
	s.queue = append(s.queue, &attempt{task: t, stage: st, index: i, avoid: avoid})
}

// launch assigns queued attempts to free slots, first come first served,
// each to the worker with the most free slots (ties by name).
func (s *Scheduler) launch(out []Action) []Action {
	names := make([]string, 0, len(s.workers))
	for n := range s.workers {
		names = append(names, n)
	}
	slices.Sort(names)
	kept := s.queue[:0]
	var resubmit []*stage
	for _, a := range s.queue {
		if len(a.stage.jobs) == 0 || s.completed(a.stage, a.index) {
			// Nobody needs it, or another attempt (the original of a
			// speculative copy) finished first.
			a.stage.unpend(a.index)
			continue
		}
		if !s.parentsAvailable(a.stage) {
			// Its inputs were lost since it was queued: it waits for
			// them to be recomputed and is queued again then.
			a.stage.unpend(a.index)
			resubmit = append(resubmit, a.stage)
			continue
		}
		best := s.place(a, names)
		if best == "" {
			kept = append(kept, a)
			continue
		}
		s.workers[best].busy++
		a.worker, a.started, a.epoch, a.records = best, s.now, a.stage.epoch, -1
		a.task.Job = firstJob(a.stage)
		a.task.Inputs = s.inputs(a.stage)
		s.running[a.task.ID] = a
		if a.stage.lostOutputs[a.index] {
			delete(a.stage.lostOutputs, a.index)
			s.recomputed++
		}
		out = append(out, LaunchTask{Task: a.task, Worker: best})
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	for _, st := range resubmit {
		if !st.waiting {
			out = s.submit(st, out)
		}
	}
	return out
}

// place picks the worker with the most free slots for a, or "" to wait.
// It takes only workers fit for the task (see fit) unless none is, rather
// than strand the job; never a's avoid (a speculative copy's original);
// and a's shun (where a machine failure hit it) only when no other worker
// could ever take it.
func (s *Scheduler) place(a *attempt, names []string) string {
	fitOnly := !s.allUnfit(a.stage)
	shun := a.shun
	if shun != "" {
		other := false
		for _, n := range names {
			w := s.workers[n]
			if n != shun && n != a.avoid && !w.draining && w.slots > 0 && (!fitOnly || s.fit(w, a.stage)) {
				other = true
			}
		}
		if !other {
			shun = ""
		}
	}
	best := ""
	for _, n := range names {
		w := s.workers[n]
		if fitOnly && !s.fit(w, a.stage) || n == a.avoid || n == shun {
			continue
		}
		if w.busy < w.slots && !w.draining && (best == "" || w.slots-w.busy > s.workers[best].slots-s.workers[best].busy) {
			best = n
		}
	}
	return best
}

// fit reports whether w should take a task of st: not excluded, and not
// low on disk for a map task.
func (s *Scheduler) fit(w *worker, st *stage) bool {
	return w.excluded <= s.now && !(w.lowDisk && st.shuffle != 0)
}

// allUnfit reports whether no live worker is fit for tasks of st.
func (s *Scheduler) allUnfit(st *stage) bool {
	for _, w := range s.workers {
		if !w.draining && w.slots > 0 && s.fit(w, st) {
			return false
		}
	}
	return true
}

// machineFailure counts a machine failure against a worker and excludes it
// once it has MaxWorkerFailures.
func (s *Scheduler) machineFailure(name string) {
	w := s.workers[name]
	if w == nil || s.cfg.MaxWorkerFailures <= 0 {
		return
	}
	if w.failures++; w.failures >= s.cfg.MaxWorkerFailures {
		w.failures = 0
		w.excluded = s.now + s.cfg.ExcludeFor
	}
}

// Excluded reports whether a worker is excluded from new tasks now.
func (s *Scheduler) Excluded(name string) bool {
	w := s.workers[name]
	return w != nil && w.excluded > s.now
}

// parentsAvailable reports whether every map output st reads exists.
func (s *Scheduler) parentsAvailable(st *stage) bool {
	for _, p := range st.parents {
		if !s.available(p) {
			return false
		}
	}
	return true
}

// Recomputed returns how many map tasks ran again because the output they
// had written was lost.
func (s *Scheduler) Recomputed() int { return s.recomputed }

// unregisterWorker forgets the map outputs a lost worker held. Map stages
// that an active job needs and that lost outputs are submitted again at
// once, so recomputation starts before reducers trip over the gap.
func (s *Scheduler) unregisterWorker(worker string, out []Action) []Action {
	var hit []*stage
	// In key order: generations are numbered as outputs move, and the same
	// events must give the same generations.
	keys := slices.SortedFunc(maps.Keys(s.outputs), func(a, b shuffleKey) int {
		return cmp.Or(cmp.Compare(a.graph, b.graph), cmp.Compare(a.shuffle, b.shuffle))
	})
	for _, k := range keys {
		outs := s.outputs[k]
		st := s.mapStages[k]
		if st != nil && s.available(st) && slices.ContainsFunc(outs, func(m *MapStatus) bool {
			return m != nil && m.Worker == worker && (m.Replica == "" || s.workers[m.Replica] == nil)
		}) {
			s.stagesRecomputed++
		}
		for i, m := range outs {
			if m != nil && m.Replica == worker {
				m.Replica = ""
			}
			if m != nil && m.Worker == worker && m.Replica != "" && s.workers[m.Replica] != nil {
				// The copy on a core worker takes over: nothing to recompute.
				s.nextGen++
				outs[i] = &MapStatus{Worker: m.Replica, Sizes: m.Sizes, Gen: s.nextGen}
				continue
			}
			if m != nil && m.Worker == worker {
				outs[i] = nil
				if st != nil {
					st.markLost(i)
				}
				if st != nil && !slices.Contains(hit, st) {
					hit = append(hit, st)
				}
			}
		}
	}
	slices.SortFunc(hit, func(a, b *stage) int { return a.id - b.id })
	for _, st := range hit {
		if st.indeterminate {
			out = s.rollback(st, out)
		}
	}
	for _, st := range hit {
		if len(st.jobs) > 0 && !st.waiting {
			out = s.submit(st, out)
		}
	}
	return out
}

// rollback handles a lost output of an indeterminate stage: rerunning any
// of its tasks may move records between its reduce partitions, so every
// output of it, and of every map stage downstream, is discarded and rerun.
// A job that already received results computed from the old outputs
// cannot be made consistent: it fails with a message saying so.
func (s *Scheduler) rollback(st *stage, out []Action) []Action {
	var ids []int
	for id := range s.stagesByID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d := s.stagesByID[id]
		if d != st && !d.descendsFrom(st) {
			continue
		}
		// Attempts already running read or wrote the old version: their
		// results must not mix with the new one.
		d.epoch++
		out = s.kill(s.runningWhere(func(a *attempt) bool { return a.stage == d }), out)
		if d.shuffle != 0 {
			outs := s.outputs[shuffleKey{d.graph, d.shuffle}]
			for i := range outs {
				if outs[i] != nil {
					outs[i] = nil
					d.markLost(i)
				}
			}
			continue
		}
		if d.job != nil && !d.job.done && slices.Contains(d.done, true) {
			out = s.failJobs(d, fmt.Errorf("%w: stage %d (%s) is indeterminate (its output depends on input order) and lost an output after stage %d had delivered results computed from it; rerun the job, or make the lineage deterministic (sort, or partition by key, instead of Repartition)",
				ErrStageFailed, st.id, st.name, d.id), out)
		}
	}
	return out
}

// descendsFrom reports whether st reads, directly or not, the output of a.
func (st *stage) descendsFrom(a *stage) bool {
	for _, p := range st.parents {
		if p == a || p.descendsFrom(a) {
			return true
		}
	}
	return false
}

func (st *stage) markLost(i int) {
	if st.lostOutputs == nil {
		st.lostOutputs = map[int]bool{}
	}
	st.lostOutputs[i] = true
}

// fetchFailed handles a task that could not read a map output: the output
// is unregistered unless the report is stale, and the task's stage waits
// for its parent to recompute what is missing. Too many in a row fail the
// stage's jobs.
func (s *Scheduler) fetchFailed(ev FetchFailed, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil || s.forgotten(a.stage) {
		return out
	}
	if a.epoch != a.stage.epoch {
		// Outdated by a rollback: its parent reruns anyway.
		if len(a.stage.jobs) > 0 && !a.stage.waiting {
			out = s.submit(a.stage, out)
		}
		return out
	}
	st := a.stage
	var parent *stage
	for _, p := range st.parents {
		if p.shuffle == ev.Shuffle {
			parent = p
		}
	}
	fresh := false // the report names the current registration
	if parent != nil {
		outs := s.outputs[shuffleKey{parent.graph, parent.shuffle}]
		if ev.Map >= 0 && ev.Map < len(outs) {
			if m := outs[ev.Map]; m != nil && m.Worker == ev.Worker && m.Gen == ev.Gen {
				fresh = true
			}
			if m := outs[ev.Map]; m != nil && m.Worker == ev.Worker && m.Gen == ev.Gen && m.Replica != "" && s.workers[m.Replica] != nil {
				s.nextGen++
				outs[ev.Map] = &MapStatus{Worker: m.Replica, Sizes: m.Sizes, Gen: s.nextGen}
			} else if m != nil && m.Worker == ev.Worker && m.Gen == ev.Gen {
				if s.available(parent) {
					s.stagesRecomputed++
				}
				outs[ev.Map] = nil
				parent.markLost(ev.Map)
			}
		}
	}
	if parent != nil && parent.indeterminate && !s.available(parent) {
		out = s.rollback(parent, out)
		if len(st.jobs) == 0 {
			return out
		}
	}
	// Reports about an output already unregistered (its worker was lost, or
	// a sibling task reported it first) are one failure, counted once.
	if fresh {
		st.fetchFailures++
	}
	if st.fetchFailures >= s.cfg.MaxStageFailures {
		err := fmt.Errorf("%w: stage %d (%s) failed %d times in a row: could not read map output %d of shuffle %d from %s: %s; workers lost: %s",
			ErrStageFailed, st.id, st.name, st.fetchFailures, ev.Map, ev.Shuffle, ev.Worker, ev.Err, s.LostSummary())
		return s.failJobs(st, err, out)
	}
	// The parent may be recomputing other lost outputs already; queue this
	// one too. Then the reading stage waits for it.
	if parent != nil && len(parent.jobs) > 0 && !parent.waiting {
		out = s.submit(parent, out)
	}
	if len(st.jobs) == 0 || st.waiting {
		return out
	}
	return s.submit(st, out)
}

// failJobs ends every active job that needs st with err.
func (s *Scheduler) failJobs(st *stage, err error, out []Action) []Action {
	jids := make([]int, 0, len(st.jobs))
	for jid := range st.jobs {
		jids = append(jids, jid)
	}
	slices.Sort(jids)
	for _, jid := range jids {
		if j := s.jobs[jid]; j != nil {
			out = append(out, JobFailed{Job: jid, Err: err})
			out = s.endJob(j, out)
		}
	}
	return out
}

// forgotten reports whether st is a map stage of a forgotten graph.
func (s *Scheduler) forgotten(st *stage) bool {
	return st.shuffle != 0 && s.mapStages[shuffleKey{st.graph, st.shuffle}] != st
}

// GraphBusy reports whether attempts of graph are running: the driver
// waits for them before deleting the graph's files.
func (s *Scheduler) GraphBusy(graph int) bool {
	for _, a := range s.running {
		if a.stage.graph == graph {
			return true
		}
	}
	return false
}

// firstJob returns the oldest active job that needs st: the one a task is
// launched for, whose lineage the driver sends with it.
func firstJob(st *stage) int {
	first := 0
	for jid := range st.jobs {
		if first == 0 || jid < first {
			first = jid
		}
	}
	return first
}

func (s *Scheduler) inputs(st *stage) []ShuffleInput {
	var in []ShuffleInput
	for _, p := range st.parents {
		maps := make([]MapStatus, 0, p.parts)
		for _, m := range s.outputs[shuffleKey{p.graph, p.shuffle}] {
			maps = append(maps, *m)
		}
		in = append(in, ShuffleInput{Shuffle: p.shuffle, Maps: maps})
	}
	return in
}

func (s *Scheduler) finish(id int64) *attempt {
	a := s.running[id]
	if a == nil {
		return nil
	}
	delete(s.running, id)
	if w := s.workers[a.worker]; w != nil {
		w.busy--
	}
	a.stage.unpend(a.index)
	return a
}

func (st *stage) unpend(i int) {
	if st.pending[i]--; st.pending[i] <= 0 {
		delete(st.pending, i)
	}
}

func (s *Scheduler) taskSucceeded(ev TaskSucceeded, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil {
		return out // a stale report
	}
	st := a.stage
	if s.forgotten(st) || a.epoch != st.epoch {
		if a.epoch != st.epoch && st.pending[a.index] == 0 && len(st.jobs) > 0 && !s.completed(st, a.index) && s.parentsAvailable(st) {
			s.enqueue(st, a.index, "")
		}
		return out
	}
	if st.shuffle != 0 {
		outs := s.outputs[shuffleKey{st.graph, st.shuffle}]
		if outs[a.index] == nil && ev.MapStatus != nil && s.workers[ev.MapStatus.Worker] != nil {
			ms := *ev.MapStatus
			if s.workers[ms.Replica] == nil {
				ms.Replica = "" // its core worker is gone already
			}
			s.nextGen++
			ms.Gen = s.nextGen
			outs[a.index] = &ms
			st.durations = append(st.durations, s.now-a.started)
			out = s.killOthers(st, a.index, ev.TaskID, out)
		}
		if !s.available(st) {
			if outs[a.index] == nil && len(st.jobs) > 0 && st.pending[a.index] == 0 {
				s.enqueue(st, a.index, "") // its worker is already gone
			}
			return out
		}
		st.fetchFailures = 0
		// The stage is complete: start the stages that waited on it.
		var ready []*stage
		for _, w := range s.stagesByID {
			if w.waiting && slices.Contains(w.parents, st) && len(w.jobs) > 0 {
				ready = append(ready, w)
			}
		}
		slices.SortFunc(ready, func(a, b *stage) int { return a.id - b.id })
		for _, w := range ready {
			out = s.submit(w, out)
		}
		return out
	}
	if st.done[a.index] || st.job.done {
		return out
	}
	st.done[a.index] = true
	st.fetchFailures = 0
	st.durations = append(st.durations, s.now-a.started)
	out = s.killOthers(st, a.index, ev.TaskID, out)
	j := st.job
	out = append(out, DeliverResult{Job: j.id, Partition: st.resultParts[a.index], Data: ev.Result})
	j.left--
	if j.left == 0 {
		out = append(out, JobSucceeded{Job: j.id})
		out = s.endJob(j, out)
	}
	return out
}

func (s *Scheduler) taskFailed(ev TaskFailed, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil || s.forgotten(a.stage) {
		return out
	}
	st := a.stage
	if st.shuffle == 0 {
		k := commitKey{st.id, a.task.Partition}
		if c, ok := s.commits[k]; ok && c.attempt == a.task.Attempt {
			delete(s.commits, k) // the authorised attempt died: let another commit
		}
	}
	if s.completed(st, a.index) || a.epoch != st.epoch {
		return out // another attempt already succeeded, or a rollback outdated this one
	}
	if ev.Machine {
		s.machineFailure(a.worker)
	}
	var err error
	if ev.Lost || ev.Machine {
		st.losses[a.index]++
		if st.losses[a.index] >= s.cfg.MaxTaskLosses {
			err = fmt.Errorf("%w: task %d of stage %d (%s) was lost %d times; last: %v",
				ErrTaskLost, a.task.Partition, st.id, st.name, st.losses[a.index], ev.Err)
		}
	} else {
		st.failures[a.index]++
		switch {
		case ev.Permanent:
			// Retrying cannot help: the same input meets the same error.
			err = fmt.Errorf("%w: task %d of stage %d (%s) failed on %s with an error that cannot change on retry: %w",
				ErrTaskFailed, a.task.Partition, st.id, st.name, a.worker, ev.Err)
		case st.failures[a.index] >= s.cfg.MaxTaskFailures:
			err = fmt.Errorf("%w: task %d of stage %d (%s) failed %d times, last on %s: %w",
				ErrTaskFailed, a.task.Partition, st.id, st.name, st.failures[a.index], a.worker, ev.Err)
		}
	}
	if err != nil {
		return s.failJobs(st, err, out)
	}
	if len(st.jobs) > 0 && st.pending[a.index] == 0 {
		s.enqueue(st, a.index, "")
		if ev.Machine {
			s.queue[len(s.queue)-1].shun = a.worker // its machine failed this attempt: try another
		}
	}
	return out
}

// completed reports whether task index i of st has its output.
func (s *Scheduler) completed(st *stage, i int) bool {
	if st.shuffle != 0 {
		outs := s.outputs[shuffleKey{st.graph, st.shuffle}]
		return i < len(outs) && outs[i] != nil
	}
	return st.done[i]
}

// killOthers kills the attempts of task index i of st other than keep:
// their partition is done.
func (s *Scheduler) killOthers(st *stage, i int, keep int64, out []Action) []Action {
	return s.kill(s.runningWhere(func(a *attempt) bool { return a.stage == st && a.index == i && a.task.ID != keep }), out)
}

// runningWhere returns the ids of running attempts that keep accepts, in
// order, so that actions come out the same on every run.
func (s *Scheduler) runningWhere(keep func(*attempt) bool) []int64 {
	var ids []int64
	for id, a := range s.running {
		if keep(a) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// kill emits KillTask for the attempts not yet killed, in the given order.
func (s *Scheduler) kill(ids []int64, out []Action) []Action {
	for _, id := range ids {
		if a := s.running[id]; a != nil && !a.killed {
			a.killed = true
			out = append(out, KillTask{TaskID: id, Worker: a.worker})
		}
	}
	return out
}

// tick launches speculative copies of stragglers: in a stage where at
// least the quantile of tasks has finished, a task running longer than the
// multiplier times the median duration gets a copy on another worker (as
// Spark's spark.speculation.multiplier and .quantile).
func (s *Scheduler) tick(now time.Duration) {
	s.now = now
	s.expireCommits()
	if !s.cfg.Speculation || len(s.workers) < 2 {
		return
	}
	s.speculateSlow()
	for _, id := range s.runningWhere(func(*attempt) bool { return true }) {
		a := s.running[id]
		st := a.stage
		if len(st.jobs) == 0 || st.pending[a.index] > 1 || len(st.durations) == 0 {
			continue
		}
		if len(st.durations) < int(s.cfg.SpeculationQuantile*float64(st.parts)) {
			continue
		}
		d := slices.Clone(st.durations)
		slices.Sort(d)
		limit := max(time.Duration(s.cfg.SpeculationMultiplier*float64(d[len(d)/2])), s.cfg.SpeculationMinRuntime)
		if now-a.started > limit && !s.completed(st, a.index) {
			s.enqueue(st, a.index, a.worker)
			s.speculated++
		}
	}
}

// speculateSlow gives a copy to each running task reading far slower than
// the median of its stage's running tasks, however few of the stage's
// tasks have finished: a task on a sick machine (a failing disk, a
// throttled host) need not wait for 90% of its stage.
func (s *Scheduler) speculateSlow() {
	ids := s.runningWhere(func(a *attempt) bool { return a.records >= 0 && len(a.stage.jobs) > 0 })
	rates := map[*stage][]float64{}
	rate := func(a *attempt) float64 {
		return float64(a.records) / max(float64(s.now-a.started), 1)
	}
	for _, id := range ids {
		a := s.running[id]
		rates[a.stage] = append(rates[a.stage], rate(a))
	}
	for _, id := range ids {
		a := s.running[id]
		st := a.stage
		r := rates[st]
		if len(r) < 3 || st.pending[a.index] > 1 || s.now-a.started < s.cfg.SpeculationSlowAfter || s.completed(st, a.index) {
			continue
		}
		d := slices.Clone(r)
		slices.Sort(d)
		if rate(a) < s.cfg.SpeculationSlowRate*d[len(d)/2] {
			s.enqueue(st, a.index, a.worker)
			s.speculated++
		}
	}
}

// expireCommits releases the commit grants whose attempt has not reported
// within CommitTimeout, and queues a copy of each such task on another
// worker. The silent attempt may still finish first; if it never does, the
// copy commits. Output is deterministic, so either is the same bytes.
func (s *Scheduler) expireCommits() {
	if s.cfg.CommitTimeout <= 0 {
		return
	}
	var keys []commitKey
	for k, g := range s.commits {
		if !g.expired && s.now-g.at > s.cfg.CommitTimeout {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b commitKey) int { return cmp.Or(cmp.Compare(a.stage, b.stage), cmp.Compare(a.part, b.part)) })
	for _, k := range keys {
		g := s.commits[k]
		g.expired = true
		s.commits[k] = g
		if a := s.running[g.task]; a != nil && !s.completed(a.stage, a.index) && len(a.stage.jobs) > 0 {
			s.enqueue(a.stage, a.index, a.worker)
		}
	}
}

// StagesRecomputed returns how many times a complete map stage lost
// outputs and had to run again in part.
func (s *Scheduler) StagesRecomputed() int { return s.stagesRecomputed }

// Speculated returns how many speculative copies were launched.
func (s *Scheduler) Speculated() int { return s.speculated }

// endJob forgets a job; stages that no other job needs stop launching,
// and their running attempts are killed.
func (s *Scheduler) endJob(j *job, out []Action) []Action {
	if j.done {
		return out
	}
	j.done = true
	delete(s.jobs, j.id)
	var unmark func(st *stage)
	unmark = func(st *stage) {
		delete(st.jobs, j.id)
		if len(st.jobs) == 0 {
			st.waiting = false
		}
		for _, p := range st.parents {
			unmark(p)
		}
	}
	unmark(j.final)
	delete(s.stagesByID, j.final.id)
	for k := range s.commits {
		if k.stage == j.final.id {
			delete(s.commits, k)
		}
	}
	return s.kill(s.runningWhere(func(a *attempt) bool { return len(a.stage.jobs) == 0 }), out)
}
