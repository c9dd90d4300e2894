package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
	"github.com/sluicehq/sluice/internal/task"
)

type jobRun struct {
	id    int
	graph int
	pool  string // FAIR: from WithPool
	job   *task.Job
	reply chan error

	// Results wait here for RunJob's goroutine, which calls job.Result:
	// never the loop, so a slow or re-entrant callback (ForEach running
	// another action) cannot stall or deadlock the session. At most one
	// entry per partition.
	mu      sync.Mutex
	results []scheduler.DeliverResult
	notify  chan struct{}
}

// deliver queues a result for RunJob's goroutine.
func (jr *jobRun) deliver(r scheduler.DeliverResult) {
	jr.mu.Lock()
	jr.results = append(jr.results, r)
	jr.mu.Unlock()
	select {
	case jr.notify <- struct{}{}:
	default:
	}
}

// drain hands queued results to the job's Result callback.
func (jr *jobRun) drain() error {
	jr.mu.Lock()
	rs := jr.results
	jr.results = nil
	jr.mu.Unlock()
	for _, r := range rs {
		if err := jr.job.Result(r.Partition, r.Data); err != nil {
			return err
		}
	}
	return nil
}

type taskDone struct {
	res worker.TaskResult
	// failure is a failed attempt's error as a value, from an in-process
	// executor; nil from a remote one, whose result carries it as data.
	failure *rdd.TaskError
}

type commitAsk struct {
	stage, part, attempt int
	reply                chan bool
}

// memberChange tells the loop that a worker can take tasks (slots > 0) or
// is gone.
type memberChange struct {
	worker   string
	slots    int
	role     string // with slots: the worker's role
	reason   string
	left     bool // gone after draining: decommissioned, not lost
	draining bool
	disk     bool // a change of lowDisk only
	lowDisk  bool
	flapping bool // the executor keeps going silent and coming back
}

// moveReq is a moved map output for the loop to register; done closes
// once it has.
type moveReq struct {
	mv   scheduler.MapOutputMoved
	done chan struct{}
}

// loop owns the scheduler: every event goes through here, one at a time.
// Every decision is the scheduler's, in Step: commit answers, when a
// draining worker's outputs move, when a forgotten graph's files go, and
// when jobs stranded with no worker fail.
func (s *Session) loop() {
	scfg := scheduler.DefaultConfig()
	scfg.Speculation = s.cfg.Speculation
	scfg.StageActions = true // for the UI, the metrics and the event log
	scfg.Mode, scfg.Pools = s.cfg.SchedulerMode, s.cfg.Pools
	cluster := len(s.cfg.Join) > 0 || s.cfg.LocalCluster > 0
	if cluster {
		// Jobs that wait with no worker able to take tasks for --wait
		// fail with a message instead of hanging.
		scfg.StrandedAfter = s.cfg.Wait
	}
	sched := scheduler.New(scfg)
	// Time enters the scheduler as ticks: for speculation, and in cluster
	// mode for commit grants that go silent, workers' exclusions and
	// stranded jobs.
	var ticks <-chan time.Time
	if s.cfg.Speculation || cluster {
		every := 500 * time.Millisecond
		if s.cfg.Speculation {
			every = 100 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		ticks = t.C
	}
	start := time.Now()
	defer func() {
		s.mu.Lock()
		s.metrics.TasksRecomputed = int64(sched.Recomputed())
		s.metrics.StagesRecomputed = int64(sched.StagesRecomputed())
		s.metrics.Speculated = int64(sched.Speculated())
		s.mu.Unlock()
	}()
	jobs := map[int]*jobRun{}
	// Commit requests waiting for the scheduler's answer, by ask number.
	asks := map[int64]chan bool{}
	var nextAsk int64
	apply := func(acts []scheduler.Action) { s.apply(sched, jobs, asks, acts) }
	beat := time.NewTicker(time.Second) // the event log's heartbeat
	defer beat.Stop()
	for {
		select {
		case <-beat.C:
			s.obs.tick()
		case <-ticks:
			apply(sched.Step(scheduler.Tick{Now: time.Since(start)}))
		case mv := <-s.moves:
			apply(sched.Step(mv.mv))
			close(mv.done)
		case m := <-s.members:
			s.obs.member(m)
			if m.flapping {
				apply(sched.Step(scheduler.WorkerFlapping{Worker: m.worker, For: clusterpolicy.FlapExclude}))
			} else if m.disk {
				s.log.Info("worker disk", "worker", m.worker, "low", m.lowDisk)
				apply(sched.Step(scheduler.WorkerDisk{Worker: m.worker, Low: m.lowDisk}))
			} else if m.draining {
				s.log.Info("worker draining", "worker", m.worker)
				apply(sched.Step(scheduler.WorkerDraining{Worker: m.worker, Move: true}))
			} else if m.slots > 0 {
				s.log.Info("worker ready", "worker", m.worker, "slots", m.slots)
				apply(sched.Step(scheduler.WorkerAdded{Worker: m.worker, Slots: m.slots}))
			} else {
				s.log.Warn("worker lost", "worker", m.worker, "reason", m.reason)
				apply(sched.Step(scheduler.WorkerRemoved{Worker: m.worker, Reason: m.reason}))
			}
		case jr := <-s.submit:
			jobs[jr.id] = jr
			g := jr.job.Graph
			s.obs.submitted(jr)
			s.log.Debug("job submitted", "job", jr.id, "func", g.Invocation().Key, "partitions", len(jr.job.Partitions))
			apply(sched.Step(scheduler.JobSubmitted{
				Job: jr.id, Graph: jr.graph, Nodes: g.Nodes(), Node: jr.job.Node, Partitions: jr.job.Partitions, Pool: jr.pool,
				Span: jr.job.Span,
			}))
			if s.onSubmit != nil {
				s.onSubmit(jr.id)
			}
		case d := <-s.done:
			if d.res.WorkerLost {
				// Pause the worker before the retry is placed, so the
				// retry goes elsewhere.
				apply(sched.Step(scheduler.WorkerDraining{Worker: d.res.Worker}))
			}
			ev := s.event(d)
			s.obs.taskEnded(&d.res, ev)
			acts := sched.Step(ev)
			s.applyAccums(&d.res, acts)
			if f, ok := ev.(scheduler.TaskFailed); ok && !f.Lost {
				s.logFailure(f, acts)
			}
			apply(acts)
		case ps := <-s.progress:
			for _, p := range ps {
				apply(sched.Step(scheduler.TaskProgress{TaskID: p.TaskID, Records: p.Records}))
			}
		case <-s.forget:
			s.mu.Lock()
			gids := s.forgotten
			s.forgotten = nil
			s.mu.Unlock()
			for _, gid := range gids {
				apply(sched.Step(scheduler.GraphForgotten{Graph: gid}))
			}
		case c := <-s.commits:
			nextAsk++
			asks[nextAsk] = c.reply
			apply(sched.Step(scheduler.CommitRequested{Ask: nextAsk, Stage: c.stage, Part: c.part, Attempt: c.attempt}))
		case id := <-s.cancel:
			if jr := jobs[id]; jr != nil {
				apply(sched.Step(scheduler.JobCancelled{Job: id}))
				s.endJob(jobs, jr, context.Canceled)
			}
		case <-s.quit:
			for _, jr := range jobs {
				s.endJob(jobs, jr, ErrClosed)
			}
			return
		}
	}
}

func (s *Session) event(d taskDone) scheduler.Event {
	r := d.res
	s.bad.ended(&r)
	s.mu.Lock()
	s.metrics.Tasks++
	if r.Status != worker.TaskSucceeded {
		s.metrics.TasksFailed++
	} else {
		if s.metrics.TasksByWorker == nil {
			s.metrics.TasksByWorker = map[string]int64{}
		}
		s.metrics.TasksByWorker[r.Worker]++
	}
	s.metrics.Spills += r.Metrics.Spills
	if r.MapStatus != nil {
		// The map task's own report, exact: the scheduler keeps sizes
		// compressed.
		for _, n := range r.MapStatus.Sizes {
			s.metrics.ShuffleBytes += n
		}
	}
	s.mu.Unlock()
	switch r.Status {
	case worker.TaskSucceeded:
		return scheduler.TaskSucceeded{TaskID: r.TaskID, MapStatus: r.MapStatus, Result: r.Result}
	case worker.TaskFetchFailed:
		s.log.Warn("fetch failed", "taskid", r.TaskID, "err", r.Err)
		return scheduler.FetchFailed{TaskID: r.TaskID, Shuffle: r.FetchShuffle, Map: r.FetchMap, Worker: r.FetchWorker, Gen: r.FetchGen, Err: r.Err}
	case worker.TaskLost:
		s.log.Warn("task lost", "taskid", r.TaskID, "err", r.Err)
		return scheduler.TaskFailed{TaskID: r.TaskID, Err: errors.New(r.Err), Lost: true, Machine: r.Machine}
	}
	te := d.failure
	if te == nil {
		te = r.TaskError()
	}
	return scheduler.TaskFailed{TaskID: r.TaskID, Err: te, Permanent: errors.Is(te, rdd.ErrPermanent)}
}

// logFailure logs a failed attempt once: at WARN while its task may still
// be retried, at ERROR with the stack when it fails its jobs. A stack is
// logged once however many attempts panicked the same way; the frame of
// each attempt's panic is in its message.
func (s *Session) logFailure(f scheduler.TaskFailed, acts []scheduler.Action) {
	var te *rdd.TaskError
	if !errors.As(f.Err, &te) {
		s.log.Warn("task attempt failed", "taskid", f.TaskID, "err", f.Err)
		return
	}
	args := []any{"stage", te.Stage, "task", te.Partition, "attempt", te.Attempt, "worker", te.Worker, "err", te}
	var failed []int
	for _, a := range acts {
		if jf, ok := a.(scheduler.JobFailed); ok {
			failed = append(failed, jf.Job)
		}
	}
	if len(failed) == 0 {
		s.log.Warn("task attempt failed", args...)
		return
	}
	args = append(args, "job", failed[0])
	if len(failed) > 1 {
		args = append(args, "jobs", failed)
	}
	if te.Permanent {
		args = append(args, "permanent", true)
	}
	if te.Stack != "" {
		args = append(args, "stack", te.Stack)
	}
	s.log.Error("task failed; failing its job", args...)
}

func (s *Session) apply(sched *scheduler.Scheduler, jobs map[int]*jobRun, asks map[int64]chan bool, acts []scheduler.Action) {
	s.obs.acted(acts)
	for _, a := range acts {
		switch a := a.(type) {
		case scheduler.LaunchTask:
			jr := jobs[a.Task.Job]
			if jr == nil {
				// Cannot happen: the scheduler launches tasks for active jobs.
				s.apply(sched, jobs, asks, sched.Step(scheduler.TaskFailed{TaskID: a.Task.ID, Err: errors.New("driver: task for an unknown job"), Lost: true}))
				continue
			}
			g := jr.job.Graph
			spec := &worker.TaskSpec{Invocation: g.Invocation(), GraphDigest: g.Digest(), States: g.States(), Task: a.Task}
			spec.IO = s.IOSettings()
			s.bad.launched(a.Task)
			if a.Task.Kind == scheduler.ResultTask {
				spec.Action = jr.job.Action
			}
			if s.onLaunch != nil {
				s.onLaunch(spec)
			}
			s.backend.launch(spec, a.Worker)
		case scheduler.KillTask:
			s.backend.kill(a.TaskID)
		case scheduler.DeliverResult:
			if jr := jobs[a.Job]; jr != nil {
				jr.deliver(a)
			}
		case scheduler.JobSucceeded:
			jr := jobs[a.Job]
			if jr == nil {
				continue
			}
			s.endJob(jobs, jr, nil)
		case scheduler.JobFailed:
			if jr := jobs[a.Job]; jr != nil {
				err := a.Err
				if errors.Is(err, scheduler.ErrStranded) {
					err = fmt.Errorf("driver: --wait %v: %w", s.cfg.Wait, err)
				}
				s.endJob(jobs, jr, err)
			}
		case scheduler.CommitAnswered:
			if reply := asks[a.Ask]; reply != nil {
				delete(asks, a.Ask)
				reply <- a.OK // buffered: the asker may have stopped waiting
			}
		case scheduler.DrainWorker:
			s.backend.drain(a.Worker, a.Outputs)
		case scheduler.GraphReleased:
			s.backend.forgetGraph(a.Graph)
		}
	}
}

func (s *Session) endJob(jobs map[int]*jobRun, jr *jobRun, err error) {
	delete(jobs, jr.id)
	if n, first := s.bad.jobEnded(jr.id); n > 0 {
		s.log.Warn("bad records skipped", "job", jr.id, "count", n, "first", first)
		s.mu.Lock()
		s.metrics.BadRecords += n
		if s.metrics.FirstBadRecord == "" {
			s.metrics.FirstBadRecord = first
		}
		s.mu.Unlock()
		if err == nil {
			err = badRecordsError(n, s.cfg.SkipBadRecords, first)
		}
	}
	s.obs.jobEnded(jr.id, err)
	if err != nil {
		s.log.Debug("job failed", "job", jr.id, "err", err)
	}
	jr.reply <- err
}

// applyAccums applies a successful attempt's accumulator updates, before
// the actions of its success (a job's end) are: a map task's every time
// (Spark's rule for transformations), a result task's only when the
// scheduler delivers its partition, which it does once per partition of
// a job whatever the retries, speculative copies and recomputations.
func (s *Session) applyAccums(res *worker.TaskResult, acts []scheduler.Action) {
	if res.Status != worker.TaskSucceeded || len(res.Accums) == 0 {
		return
	}
	apply := res.MapStatus != nil
	for _, a := range acts {
		if _, ok := a.(scheduler.DeliverResult); ok {
			apply = true // only this task's success delivers in this step
		}
	}
	if !apply {
		return
	}
	if err := task.ApplyAccumulators(res.Accums); err != nil {
		s.log.Error("applying accumulator updates", "taskid", res.TaskID, "err", err)
	}
}
