package simcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/scheduler"
)

// The job's lineage: node 1 (the maps) writes shuffle 1, which node 2 (the
// reduces, the job's result) reads.
const (
	graphID   = 1
	shuffleID = 1
	mapNode   = 1
	redNode   = 2
	jobID     = 1
)

// Streams of random draws, one per purpose, so that a draw for one thing
// (a task's duration) does not move with the number of draws for another
// (fetch failures): two configurations with the same seed meet the same
// task durations and the same reclamation times.
const (
	streamDuration uint64 = iota + 1
	streamLife
	streamFetch
	streamSizes
)

type simWorker struct {
	name     string
	core     bool
	alive    bool // the machine runs
	noticed  bool // told it will be reclaimed
	gone     bool // withdrawn from the scheduler
	replaced bool // its replacement is on the way
	draining bool // the driver sees it draining and has not started moving its outputs
	execDown bool // its executor was found frozen; the replacement is starting

	// Heartbeats, for the executors named in Config.Freezes and Flaps.
	watched  bool
	frozen   bool      // the executor stopped answering and the driver has not noticed
	lastBeat time.Time // the executor's last answered beat (or start), on epoch
	flap     clusterpolicy.FlapDetector
	excluded time.Duration // the end of the exclusions WorkerFlapping asked for, on the scheduler's clock
	moves    []scheduler.OutputRef
	holds    []int32 // map partitions it has held a copy of, for loss accounting
}

// simAttempt is one launched attempt until it reports.
type simAttempt struct {
	id      int64
	kind    scheduler.TaskKind
	part    int
	worker  int32
	killed  bool
	inputs  []scheduler.ShuffleInput // what it reads, as the scheduler gave them
	bytes   int64                    // read from other workers
	spuri   int                      // block index (in the first input) of an injected fetch failure, or -1
	gone    bool                     // an input's holder was gone at launch
	deaths  int                      // sim.deaths at launch
	replica int32                    // evReplicated: the core node, or -1
	sizes   []int64                  // a map task's output, once written
	frozen  bool                     // launched on a frozen executor: hangs until the driver notices
}

// mapState follows one map partition's output in the simulated world.
type mapState struct {
	bytes     int64   // the output's size, all reduce partitions
	copies    []int32 // workers holding a copy since its last launch
	succeeded bool    // an attempt has reported success since its last launch
	ever      bool    // an attempt has ever reported success
	failed    bool    // a fetch failure named it since its last launch
}

type sim struct {
	cfg     Config
	sched   *scheduler.Scheduler
	q       queue
	now     time.Duration
	workers []*simWorker
	byName  map[string]int32
	cores   []int32 // indices of core workers, in name order
	running map[int64]*simAttempt
	maps    []mapState
	stamp   []uint64                  // per worker: the launch that last counted it, for distinct holders
	cands   []clusterpolicy.Candidate // core's buffer
	nstamp  uint64

	mapsDone int
	tickNow  time.Duration // Now of the last Tick stepped: the scheduler's clock
	deaths   int           // workers whose machine has stopped, so far
	ended    bool
	jobErr   error
	rep      Report

	trace  io.Writer
	hasher hash.Hash
	// readInputs: reading tasks look at the inputs the scheduler gave
	// them, for fetch failures. Without reclamation, fetch failures or a
	// trace none can happen, and reading them would cost the simulator
	// (and the heap) more than the scheduler at the largest sizes.
	readInputs bool
}

// Run simulates cfg's job on cfg's cluster with the real scheduler and
// reports how it went. The same Config gives the same Report (but for the
// measured CPU and heap) and the same trace.
func Run(cfg Config) (Report, error) { return RunContext(context.Background(), cfg) }

// RunContext is Run that stops when ctx ends, returning the report so far
// (a benchmark's time cap) with ctx's error.
func RunContext(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	s := &sim{
		cfg:     cfg,
		sched:   scheduler.New(cfg.Scheduler),
		byName:  map[string]int32{},
		running: map[int64]*simAttempt{},
		maps:    make([]mapState, cfg.Maps),
	}
	if cfg.Trace != nil || cfg.Hash {
		s.hasher = sha256.New()
		s.trace = s.hasher
		if cfg.Trace != nil {
			s.trace = io.MultiWriter(s.hasher, cfg.Trace)
		}
	}
	s.rep.Seed = cfg.Seed
	s.readInputs = cfg.ReclaimRate > 0 || cfg.FetchFailureRate > 0 || s.trace != nil
	for i := range cfg.CoreWorkers {
		s.addWorker(fmt.Sprintf("core-%04d", i), true)
	}
	for i := range cfg.TaskWorkers {
		s.addWorker(fmt.Sprintf("task-%04d", i), false)
	}
	if err := s.watch(); err != nil {
		return Report{}, err
	}
	var base runtime.MemStats
	if cfg.MeasureHeap {
		base = heap()
	}
	parts := make([]int, cfg.Reduces)
	for i := range parts {
		parts[i] = i
	}
	s.step(scheduler.JobSubmitted{Job: jobID, Graph: graphID, Node: redNode, Partitions: parts, Nodes: []task.NodeInfo{
		{ID: mapNode, Name: "map", Partitions: cfg.Maps},
		{ID: redNode, Name: "reduce", Partitions: cfg.Reduces, Deps: []task.DepInfo{{Parent: mapNode, Shuffle: shuffleID}}},
	}}, func() {})
	s.q.push(event{at: cfg.TickEvery, kind: evTick})
	for !s.ended {
		if s.rep.Events >= cfg.MaxEvents || s.now > cfg.MaxTime {
			return s.report(), fmt.Errorf("%w: %d events, %v of virtual time; running %d, %d of %d maps done",
				ErrNoEnd, s.rep.Events, s.now, s.sched.Running(), s.mapsDone, cfg.Maps)
		}
		if ctx.Err() != nil {
			return s.report(), fmt.Errorf("simcluster: stopped after %d events, %v of virtual time: %w", s.rep.Events, s.now, ctx.Err())
		}
		e, ok := s.q.pop()
		if !ok {
			return s.report(), fmt.Errorf("%w: nothing left to happen at %v", ErrNoEnd, s.now)
		}
		s.now = e.at
		s.handle(e, &base)
	}
	return s.report(), s.jobErr
}

func heap() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

func (s *sim) report() Report {
	r := s.rep
	r.JobTime = s.now
	r.MapsDone = s.mapsDone
	r.Recomputed = s.sched.Recomputed()
	r.StagesRecomputed = s.sched.StagesRecomputed()
	if s.hasher != nil {
		r.TraceHash = hex.EncodeToString(s.hasher.Sum(nil))
	}
	if s.jobErr != nil {
		r.Err = s.jobErr.Error()
	}
	return r
}

func (s *sim) addWorker(name string, core bool) int32 {
	i := int32(len(s.workers))
	w := &simWorker{name: name, core: core, alive: true}
	s.workers = append(s.workers, w)
	s.stamp = append(s.stamp, 0)
	s.byName[name] = i
	if core {
		s.cores = append(s.cores, i)
	}
	if !core && s.cfg.ReclaimRate > 0 {
		hours := s.rng(streamLife, uint64(i), 0).ExpFloat64() / s.cfg.ReclaimRate
		death := s.now + time.Duration(hours*float64(time.Hour))
		if s.cfg.Notice > 0 {
			s.q.push(event{at: max(s.now, death-s.cfg.Notice), kind: evNotice, worker: i})
		}
		s.q.push(event{at: death, kind: evDeath, worker: i})
	}
	s.step(scheduler.WorkerAdded{Worker: name, Slots: s.cfg.Slots}, func() {})
	return i
}

// rng returns the random source for draw (a, b) of stream: a function of
// the seed and its arguments only.
func (s *sim) rng(stream, a, b uint64) *rand.Rand {
	return rand.New(rand.NewPCG(s.cfg.Seed^stream*0x9e3779b97f4a7c15, a*0xbf58476d1ce4e5b9^b))
}

// mix is splitmix64's finaliser: a cheap hash for the many partition sizes.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// duration draws how long attempt of partition part of a kind computes.
func (s *sim) duration(k scheduler.TaskKind, part, attempt int) time.Duration {
	mean := s.cfg.MapTime
	if k == scheduler.ResultTask {
		mean = s.cfg.ReduceTime
	}
	r := s.rng(streamDuration, uint64(k)<<40|uint64(part), uint64(attempt))
	sp := s.cfg.Spread
	f := math.Exp(sp*r.NormFloat64() - sp*sp/2)
	if r.Float64() < s.cfg.StragglerRate {
		f *= s.cfg.StragglerFactor
	}
	return time.Duration(float64(mean) * f)
}

// sizeAt returns map output m's size for reduce partition r: the mean
// share, varied by ±50%.
func (s *sim) sizeAt(m, r int) int64 {
	mean := float64(s.cfg.MapOutputBytes) / float64(s.cfg.Reduces)
	u := float64(mix(s.cfg.Seed^streamSizes<<56^uint64(m)<<24+uint64(r))>>11) / (1 << 53)
	return int64(mean * (0.5 + u))
}

// sizes returns map output m's size for each reduce partition, a fresh
// slice as the driver decodes from a task's reply.
func (s *sim) sizes(m int) ([]int64, int64) {
	out := make([]int64, s.cfg.Reduces)
	var total int64
	for r := range out {
		out[r] = s.sizeAt(m, r)
		total += out[r]
	}
	return out, total
}

func (s *sim) transfer(bytes int64) time.Duration {
	return s.cfg.FetchLatency + time.Duration(float64(bytes)/float64(s.cfg.Bandwidth)*float64(time.Second))
}

// step runs one event through the scheduler, timing it, and carries out
// the actions. measure runs after Step, before the actions are handled.
func (s *sim) step(ev scheduler.Event, measure func()) {
	t0 := time.Now()
	acts := s.sched.Step(ev)
	s.rep.SchedCPU += time.Since(t0)
	s.rep.Events++
	measure()
	if s.trace != nil {
		fmt.Fprintf(s.trace, "@%v %s\n", s.now, renderEvent(ev))
		for _, a := range acts {
			fmt.Fprintf(s.trace, "  %s\n", renderAction(a))
		}
	}
	for _, a := range acts {
		s.act(a)
	}
}

func (s *sim) act(a scheduler.Action) {
	switch a := a.(type) {
	case scheduler.LaunchTask:
		s.launch(a)
	case scheduler.KillTask:
		if at := s.running[a.TaskID]; at != nil && !at.killed {
			at.killed = true
			s.q.push(event{at: s.now + s.cfg.KillDelay, kind: evKilled, task: a.TaskID})
		}
	case scheduler.DrainWorker:
		// The worker runs nothing more: move its outputs, one at a time,
		// as the driver does.
		if i, ok := s.byName[a.Worker]; ok && s.workers[i].alive && !s.workers[i].gone {
			s.workers[i].moves = a.Outputs
			s.nextMove(i)
		}
	case scheduler.DeliverResult:
		s.rep.Delivered++
	case scheduler.JobSucceeded:
		s.ended = true
	case scheduler.JobFailed:
		s.ended, s.jobErr = true, fmt.Errorf("simcluster: job failed: %w", a.Err)
	default:
		// An action this simulator does not carry out would make its
		// figures silently wrong: stop instead.
		s.ended, s.jobErr = true, fmt.Errorf("simcluster: the scheduler returned %T, which the simulator does not carry out: teach sim.act about it", a)
	}
}

func (s *sim) launch(l scheduler.LaunchTask) {
	w, ok := s.byName[l.Worker]
	if !ok {
		s.ended, s.jobErr = true, fmt.Errorf("simcluster: task %d launched on unknown worker %q", l.Task.ID, l.Worker)
		return
	}
	s.rep.Launched++
	t := l.Task
	a := &simAttempt{id: t.ID, kind: t.Kind, part: t.Partition, worker: w, spuri: -1, replica: -1, deaths: s.deaths}
	ww := s.workers[w]
	if s.now < ww.excluded {
		s.rep.ExcludedLaunches++
	}
	a.frozen = ww.frozen
	if s.readInputs {
		a.inputs = t.Inputs
	}
	d := s.duration(t.Kind, t.Partition, t.Attempt)
	if t.Kind == scheduler.MapTask {
		s.rep.MapLaunched++
		m := &s.maps[t.Partition]
		if m.succeeded {
			// A map output computed before runs again: only its loss
			// (every copy gone, or a fetch failure naming it) explains
			// that.
			if !m.failed && s.anyAlive(m.copies) {
				s.rep.Unexplained++
			}
		}
		m.succeeded, m.failed, m.copies = false, false, m.copies[:0]
	} else {
		s.rep.ResultLaunched++
	}
	if ww.execDown {
		// No executor: the driver's call comes back lost at once.
		s.running[t.ID] = a
		s.q.push(event{at: s.now, kind: evLost, task: t.ID})
		return
	}
	if len(t.Inputs) > 0 {
		// The bytes read are the outputs' real sizes (the scheduler's may
		// be estimates), from every holder other than the task's worker.
		s.nstamp++
		holders := 0
		remote := func(h int32, m int) {
			if h == w {
				return
			}
			a.bytes += s.sizeAt(m, t.Partition)
			if s.stamp[h] != s.nstamp {
				s.stamp[h] = s.nstamp
				holders++
			}
		}
		if s.readInputs {
			for _, in := range t.Inputs {
				for _, b := range in.Blocks() {
					h, ok := s.index(b.Worker)
					if !ok {
						continue
					}
					if !s.workers[h].alive {
						a.gone = true
					}
					remote(h, b.Map)
				}
			}
		} else {
			// Nothing fails: every output is where its task wrote it.
			for m := range s.maps {
				if c := s.maps[m].copies; len(c) > 0 {
					remote(c[0], m)
				}
			}
		}
		d += time.Duration(holders)*s.cfg.FetchLatency + time.Duration(float64(a.bytes)/float64(s.cfg.Bandwidth)*float64(time.Second))
		if s.cfg.FetchFailureRate > 0 {
			r := s.rng(streamFetch, uint64(t.ID), 0)
			if bs := t.Inputs[0].Blocks(); r.Float64() < s.cfg.FetchFailureRate && len(bs) > 0 {
				a.spuri = r.IntN(len(bs))
			}
		}
	}
	s.running[t.ID] = a
	s.q.push(event{at: s.now + d, kind: evDone, task: t.ID})
}

func (s *sim) anyAlive(ws []int32) bool {
	for _, w := range ws {
		if s.workers[w].alive {
			return true
		}
	}
	return false
}

func (s *sim) handle(e event, base *runtime.MemStats) {
	switch e.kind {
	case evTick:
		s.tickNow = s.now
		s.step(scheduler.Tick{Now: s.now}, func() {})
		s.q.push(event{at: s.now + s.cfg.TickEvery, kind: evTick})
		return
	case evDone:
		s.done(e.task, base)
	case evReplicated:
		a := s.running[e.task]
		if a == nil || a.killed || !s.workers[a.worker].alive {
			return
		}
		if s.workers[a.replica].alive {
			s.rep.ReplicaBytes += s.maps[a.part].bytes
		} else {
			a.replica = -1 // the copy failed with its core node: no replica
		}
		s.succeedMap(a, base)
	case evKilled:
		a := s.running[e.task]
		if a == nil {
			return
		}
		delete(s.running, e.task)
		s.step(scheduler.TaskFailed{TaskID: e.task, Err: errKilled, Lost: true}, func() {})
	case evNotice:
		w := s.workers[e.worker]
		if w.alive && !w.noticed {
			w.noticed = true
			s.rep.Reclaimed++
			s.rep.Noticed++
			s.q.push(event{at: s.now + s.cfg.GossipDelay, kind: evDrainSeen, worker: e.worker})
			if s.cfg.DrainTimeout > 0 {
				// The worker leaves then, drained or not.
				s.q.push(event{at: s.now + s.cfg.DrainTimeout, kind: evLeft, worker: e.worker})
			}
		}
		return
	case evDrainSeen:
		w := s.workers[e.worker]
		if !w.alive || w.gone {
			return
		}
		w.draining = true
		s.step(scheduler.WorkerDraining{Worker: w.name, Move: true}, func() {})
	case evDeath:
		w := s.workers[e.worker]
		if !w.alive {
			return
		}
		if !w.noticed {
			s.rep.Reclaimed++
		}
		s.kill(e.worker)
		s.q.push(event{at: s.now + s.cfg.DetectAfter, kind: evDetected, worker: e.worker})
		return
	case evDetected:
		s.remove(e.worker, "failed: no answer to probes")
	case evLeft:
		w := s.workers[e.worker]
		if !w.alive {
			return
		}
		s.kill(e.worker)
		s.remove(e.worker, "left")
	case evJoin:
		s.addWorker(fmt.Sprintf("task-%04d", len(s.workers)-len(s.cores)), false)
		return
	case evMoved:
		s.moved(e)
	case evBeat:
		s.beat(e.worker)
	case evFreeze:
		if w := s.workers[e.worker]; w.alive && !w.gone && !w.execDown {
			w.frozen = true
		}
	case evExecReady:
		w := s.workers[e.worker]
		if !w.alive || w.gone {
			return
		}
		w.execDown, w.lastBeat = false, epoch.Add(s.now)
		s.step(scheduler.WorkerAdded{Worker: w.name, Slots: s.cfg.Slots}, func() {})
	case evLost:
		if a := s.running[e.task]; a != nil {
			s.lose(a, "worker "+s.workers[a.worker].name+" has no executor")
		}
	}
}

var errKilled = errors.New("killed: another attempt finished its partition")

// epoch is the wall-clock time of virtual time 0, for the driver's rules
// (internal/clusterpolicy), which take times.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// watch sets up heartbeats for the executors named in Freezes and Flaps.
func (s *sim) watch() error {
	var errs []error
	mark := func(name string) int32 {
		i, ok := s.byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: no worker %q to freeze or flap (workers are core-NNNN and task-NNNN)", ErrInvalidConfig, name))
			return -1
		}
		s.workers[i].watched = true
		return i
	}
	for _, f := range s.cfg.Freezes {
		if i := mark(f.Worker); i >= 0 {
			s.q.push(event{at: f.At, kind: evFreeze, worker: i})
		}
	}
	for _, f := range s.cfg.Flaps {
		mark(f.Worker)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	every := clusterpolicy.HeartbeatInterval(s.cfg.HeartbeatTimeout)
	for i, w := range s.workers {
		if w.watched {
			w.lastBeat = epoch.Add(s.now)
			s.q.push(event{at: s.now + every, kind: evBeat, worker: int32(i)})
		}
	}
	return nil
}

// beat is the driver's heartbeat to watched worker i's executor, as
// driver/heartbeat.go sends it: a frozen executor is replaced, and the
// answer, or its absence, goes to the flap detector. A beat's answer comes
// at once; a missed one counts as missed at the beat (the detector takes
// no time for a miss).
func (s *sim) beat(i int32) {
	w := s.workers[i]
	if w.gone {
		return // the driver no longer knows it
	}
	s.q.push(event{at: s.now + clusterpolicy.HeartbeatInterval(s.cfg.HeartbeatTimeout), kind: evBeat, worker: i})
	if w.execDown {
		return // no executor to ask
	}
	now := epoch.Add(s.now)
	if clusterpolicy.Frozen(w.lastBeat, now, s.cfg.HeartbeatTimeout) {
		s.freeze(i)
		return
	}
	ok := w.alive && !w.frozen && !s.flapDown(w.name)
	if w.flap.Beat(ok, now) {
		s.rep.Flapping++
		// The scheduler's clock is the last Tick's: the exclusion ends
		// FlapExclude after that, as in the driver's loop.
		w.excluded = max(w.excluded, s.tickNow+clusterpolicy.FlapExclude)
		s.step(scheduler.WorkerFlapping{Worker: w.name, For: clusterpolicy.FlapExclude}, func() {})
	}
	if ok {
		w.lastBeat = now
	}
}

// flapDown reports whether a Flap of the worker named name drops its
// heartbeats now.
func (s *sim) flapDown(name string) bool {
	for _, f := range s.cfg.Flaps {
		if f.Worker == name && s.now >= f.From && s.now < f.Until && (s.now-f.From)%f.Period < f.Down {
			return true
		}
	}
	return false
}

// freeze withdraws worker i's frozen executor, as the driver's frozen
// does: the calls of its running tasks end, each lost (the loop pauses the
// worker, then fails the task as lost), and the worker starts another
// executor; its map outputs stay.
func (s *sim) freeze(i int32) {
	w := s.workers[i]
	w.execDown, w.frozen = true, false
	s.rep.ExecutorsReplaced++
	var lost []int64
	for id, a := range s.running {
		// An attempt past its executor's answer (its output being
		// replicated by the driver) is not the executor's any more.
		if a.worker == i && a.replica < 0 {
			lost = append(lost, id)
		}
	}
	slices.Sort(lost)
	for _, id := range lost {
		s.rep.FrozenLost++
		s.lose(s.running[id], errFrozen.Error())
	}
	s.q.push(event{at: s.now + s.cfg.ExecutorStart, kind: evExecReady, worker: i})
}

var errFrozen = errors.New("the executor stopped answering heartbeats")

// lose ends attempt a as the driver's loop ends a task whose worker was
// lost under it: the worker paused first, so the retry goes elsewhere.
func (s *sim) lose(a *simAttempt, why string) {
	delete(s.running, a.id)
	w := s.workers[a.worker]
	s.step(scheduler.WorkerDraining{Worker: w.name}, func() {})
	s.step(scheduler.TaskFailed{TaskID: a.id, Err: errors.New(why), Lost: true}, func() {})
}

// done ends an attempt whose time is up: a fetch failure if an input it
// reads is on no live worker (or an injected failure hits it), success
// otherwise.
func (s *sim) done(id int64, base *runtime.MemStats) {
	a := s.running[id]
	if a == nil || a.killed {
		return
	}
	if !s.workers[a.worker].alive {
		return // gone with its worker; WorkerRemoved loses it
	}
	if a.frozen || s.workers[a.worker].frozen {
		a.frozen = true
		return // its executor answers nothing: lost when the driver finds it frozen
	}
	s.rep.ShuffleBytes += a.bytes
	for _, in := range a.inputs {
		if !a.gone && a.deaths == s.deaths {
			break // every holder lived at launch, and no worker died since
		}
		for _, b := range in.Blocks() {
			// The executor reads map outputs in order, falling back to the
			// replica when the holder does not answer.
			if s.dead(b.Worker) && (b.Replica == "" || s.dead(b.Replica)) {
				s.fetchFailed(a, in.Shuffle, b)
				return
			}
		}
	}
	if a.spuri >= 0 {
		in := a.inputs[0]
		s.fetchFailed(a, in.Shuffle, in.Blocks()[a.spuri])
		return
	}
	if a.kind == scheduler.ResultTask {
		delete(s.running, id)
		s.step(scheduler.TaskSucceeded{TaskID: id, Result: []byte{}}, func() {})
		return
	}
	w := s.workers[a.worker]
	a.sizes, s.maps[a.part].bytes = s.sizes(a.part)
	if s.cfg.ShuffleReplicas > 0 && !w.core {
		if c := s.core(a.part, a.worker); c >= 0 {
			// The driver copies the output to a core node before the
			// task counts as done.
			a.replica = c
			s.q.push(event{at: s.now + s.transfer(s.maps[a.part].bytes), kind: evReplicated, task: id})
			return
		}
	}
	s.succeedMap(a, base)
}

// index returns the index of the worker named name. Names are
// core-NNNN and task-NNNN, numbered in order of joining within their role,
// so the index is read off the name: a map lookup for each block read
// would cost more than the scheduler at the largest sizes.
func (s *sim) index(name string) (int32, bool) {
	if len(name) < 6 {
		return 0, false
	}
	n := 0
	for _, c := range name[5:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	switch name[:5] {
	case "core-":
		if n < len(s.cores) {
			return int32(n), true
		}
	case "task-":
		if i := len(s.cores) + n; i < len(s.workers) {
			return int32(i), true
		}
	}
	return 0, false
}

func (s *sim) dead(name string) bool {
	i, ok := s.index(name)
	return !ok || !s.workers[i].alive
}

func (s *sim) fetchFailed(a *simAttempt, shuffle int, b scheduler.MapBlock) {
	delete(s.running, a.id)
	s.rep.FetchFailures++
	if b.Map < len(s.maps) {
		s.maps[b.Map].failed = true
	}
	s.step(scheduler.FetchFailed{TaskID: a.id, Shuffle: shuffle, Map: b.Map, Worker: b.Worker, Gen: b.Gen, Err: "connection refused"}, func() {})
}

func (s *sim) succeedMap(a *simAttempt, base *runtime.MemStats) {
	delete(s.running, a.id)
	m := &s.maps[a.part]
	ms := &scheduler.MapStatus{Worker: s.workers[a.worker].name, Sizes: a.sizes}
	s.hold(a.part, a.worker)
	if a.replica >= 0 {
		ms.Replica = s.workers[a.replica].name
		s.hold(a.part, a.replica)
	}
	first := !m.ever
	m.succeeded, m.ever = true, true
	measure := func() {}
	if first {
		s.mapsDone++
		if s.mapsDone == s.cfg.Maps {
			s.rep.MapStageTime = s.now
			if s.cfg.MeasureHeap {
				measure = func() {
					h := heap()
					s.rep.MapTableHeap = int64(h.HeapInuse) - int64(base.HeapInuse)
				}
			}
		}
	}
	s.step(scheduler.TaskSucceeded{TaskID: a.id, MapStatus: ms}, measure)
}

// hold records that worker w holds a copy of map output p.
func (s *sim) hold(p int, w int32) {
	m := &s.maps[p]
	if !slices.Contains(m.copies, w) {
		m.copies = append(m.copies, w)
	}
	s.workers[w].holds = append(s.workers[w].holds, int32(p))
}

// kill stops worker i's machine: the outputs only it held are lost.
func (s *sim) kill(i int32) {
	w := s.workers[i]
	w.alive = false
	s.deaths++
	for _, p := range w.holds {
		m := &s.maps[p]
		if m.succeeded && slices.Contains(m.copies, i) && !s.anyAlive(m.copies) {
			s.rep.OutputsLost++
			m.copies = m.copies[:0] // counted once, however often w held it
		}
	}
	w.holds = nil
	if !w.core && !w.replaced && s.cfg.ReplaceAfter > 0 {
		w.replaced = true
		s.q.push(event{at: s.now + s.cfg.ReplaceAfter, kind: evJoin})
	}
}

// remove withdraws worker i from the scheduler.
func (s *sim) remove(i int32, reason string) {
	w := s.workers[i]
	if w.gone {
		return
	}
	w.gone = true
	for id, a := range s.running {
		if a.worker == i {
			delete(s.running, id)
		}
	}
	s.step(scheduler.WorkerRemoved{Worker: w.name, Reason: reason}, func() {})
}

// core picks the core node for a copy of map output p held by worker not,
// by the driver's rule (clusterpolicy.CopyTarget) over the core nodes as
// the driver sees them: ready while not withdrawn and their executor is
// up; -1 when there is none. s.cores is in name order.
func (s *sim) core(p int, not int32) int32 {
	s.cands = s.cands[:0]
	for _, c := range s.cores {
		w := s.workers[c]
		s.cands = append(s.cands, clusterpolicy.Candidate{Name: w.name, Core: w.core, Ready: !w.gone && !w.execDown, Draining: w.draining})
	}
	if k := clusterpolicy.CopyTarget(s.cands, p, s.workers[not].name); k >= 0 {
		return s.cores[k]
	}
	return -1
}

// nextMove copies the next output of draining worker i to a core node, or
// lets the worker leave when none is left (or no core node can take it).
func (s *sim) nextMove(i int32) {
	w := s.workers[i]
	if len(w.moves) > 0 {
		ref := w.moves[0]
		w.moves = w.moves[1:]
		if to := s.core(ref.Map, i); to >= 0 {
			s.q.push(event{at: s.now + s.transfer(s.maps[ref.Map].bytes), kind: evMoved, worker: i, to: to, ref: ref})
			return
		}
	}
	w.moves = nil
	s.q.push(event{at: s.now + s.cfg.GossipDelay, kind: evLeft, worker: i})
}

func (s *sim) moved(e event) {
	from, to := s.workers[e.worker], s.workers[e.to]
	if !from.alive {
		return // reclaimed before its outputs were all moved
	}
	if to.alive {
		s.rep.MovedBytes += s.maps[e.ref.Map].bytes
		s.rep.Moved++
		s.hold(e.ref.Map, e.to)
		s.step(scheduler.MapOutputMoved{Output: e.ref, From: from.name, To: to.name}, func() {})
	}
	s.nextMove(e.worker)
}
