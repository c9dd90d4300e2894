package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"sync"
	"weak"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrClosed is returned by a job run on a closed Session.
var ErrClosed = errors.New("driver: session closed")

// Session runs jobs: it is the rdd.Runner that actions take. In local mode
// it runs tasks on an in-process executor with one slot per core, through
// the same scheduler, task runner and shuffle files a cluster uses.
type Session struct {
	cfg     Config
	log     *slog.Logger
	dir     string
	backend backend

	submit   chan *jobRun
	done     chan taskDone
	commits  chan commitAsk
	cancel   chan int
	members  chan memberChange
	moves    chan moveReq
	progress chan []worker.TaskProgress // from executors' heartbeats; dropped when full
	quit     chan struct{}
	wg       sync.WaitGroup

	closeOnce sync.Once
	mu        sync.Mutex
	metrics   Metrics
	counters  map[string]map[string]int64 // AddCounters (mapreduce jobs)
	// graphs numbers the lineages jobs ran on. Weak keys let a lineage the
	// program dropped be collected; a cleanup then forgets its map stages
	// and deletes its shuffle files, as Spark's ContextCleaner does.
	graphs    map[weak.Pointer[task.Graph]]int
	nextGraph int
	forgotten []int
	forget    chan struct{}
	nextJob   int
	ckptDir   string // see CheckpointDir

	// onLaunch, when set before the first job, sees every task the loop
	// launches (tests measure them); onSubmit every job it is given.
	onLaunch func(*worker.TaskSpec)
	onSubmit func(job int)

	obs    *observer // the UI, metrics, event log and progress line
	endErr error     // the program's outcome, for the event log (see end)

	bad badRecords // owned by the loop
}

var _ rdd.Runner = (*Session)(nil)

// backend runs tasks: in-process (local mode) or on a cluster's executors.
type backend interface {
	// launch runs spec on the named worker and sends its result to the
	// session's done channel.
	launch(spec *worker.TaskSpec, worker string)
	// kill stops a running attempt; its result still comes, as lost.
	kill(taskID int64)
	// drain moves a draining worker's map outputs to core workers,
	// reporting each move on the session's moves channel, then tells the
	// worker it may leave.
	drain(worker string, outputs []scheduler.OutputRef)
	// forgetGraph removes the map outputs of a dropped lineage.
	forgetGraph(gid int)
	// unpersist drops a node's persisted partitions on every executor.
	unpersist(ctx context.Context, gid, node int)
	// close stops the backend and waits for its goroutines.
	close()
}

// NewSession starts a local-mode session with cfg. Close it to stop its
// goroutines and remove its scratch directory.
func NewSession(cfg Config) (*Session, error) { return newSession(cfg, nil) }

// newSession is NewSession with the backend newBackend makes; nil chooses
// one from cfg. The package's tests give clusters of their own.
func newSession(cfg Config, newBackend func(*Session) (backend, error)) (*Session, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.LocalDir != "" {
		if err := os.MkdirAll(cfg.LocalDir, 0o755); err != nil {
			return nil, fmt.Errorf("driver: --local-dir: %w", err)
		}
	}
	ckptDir, err := checkpointDir(cfg.CheckpointDir)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.LocalDir, "sluice-")
	if err != nil {
		return nil, fmt.Errorf("driver: scratch directory: %w", err)
	}
	s := &Session{
		cfg: cfg, log: log, dir: dir,
		submit:   make(chan *jobRun),
		done:     make(chan taskDone, cfg.Parallelism),
		commits:  make(chan commitAsk),
		cancel:   make(chan int),
		members:  make(chan memberChange, 16),
		progress: make(chan []worker.TaskProgress, 64),
		moves:    make(chan moveReq),
		quit:     make(chan struct{}),
		graphs:   map[weak.Pointer[task.Graph]]int{},
		forget:   make(chan struct{}, 1),
		ckptDir:  ckptDir,
	}
	mode := "local"
	if len(cfg.Join) > 0 {
		mode = "cluster"
	}
	s.obs = newObserver(os.Stderr)
	switch {
	case newBackend != nil:
		s.backend, err = newBackend(s)
	case len(cfg.Join) > 0:
		s.backend, err = newCluster(s, clusterOpts{join: cfg.Join, minWorkers: cfg.MinWorkers, minFlag: "--min-workers"})
	case cfg.LocalCluster > 0:
		s.backend, err = newLocalCluster(s)
	default:
		s.backend, err = newLocal(s)
	}
	if err == nil {
		if err = s.obs.start(cfg, mode, s.backend, os.Stderr); err != nil {
			s.backend.close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.wg.Go(s.loop)
	return s, nil
}

// Config returns the session's settings.
func (s *Session) Config() Config { return s.cfg }

// InProcess reports whether the session runs tasks in its own process
// (local mode without --local-cluster): there rdd's actions call the
// functions they are given directly, whatever those capture.
func (s *Session) InProcess() bool {
	_, ok := s.backend.(*local)
	return ok
}

// Close stops the session, waits for its goroutines and removes its
// scratch directory.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.wg.Wait()
		s.backend.close()
		task.ReleaseBroadcasts(rdd.Runner(s))
		if err := s.obs.close(s.endErr); err != nil {
			s.log.Warn("event log", "err", err)
		}
	})
	return os.RemoveAll(s.dir)
}

// RunJob runs job and returns when it has ended: every partition delivered
// and the output committed, or the first error. Jobs run from several
// goroutines at once share the slots (Config.SchedulerMode); the job runs
// in ctx's pool (WithPool).
func (s *Session) RunJob(ctx context.Context, job *task.Job) error {
	s.mu.Lock()
	wp := weak.Make(job.Graph)
	gid, ok := s.graphs[wp]
	if !ok {
		s.nextGraph++
		gid = s.nextGraph
		s.graphs[wp] = gid
		runtime.AddCleanup(job.Graph, s.forgetGraph, gid)
	}
	s.nextJob++
	jr := &jobRun{id: s.nextJob, graph: gid, job: job, pool: PoolOf(ctx), reply: make(chan error, 1), notify: make(chan struct{}, 1)}
	s.mu.Unlock()

	select {
	case s.submit <- jr:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	stop := func(err error) error {
		select {
		case s.cancel <- jr.id:
		case <-s.quit:
			return err
		}
		<-jr.reply
		return err
	}
	for {
		select {
		case <-jr.notify:
			if err := jr.drain(); err != nil {
				return stop(err)
			}
		case err := <-jr.reply:
			if derr := jr.drain(); err == nil {
				err = derr
			}
			return err
		case <-ctx.Done():
			return stop(ctx.Err())
		case <-s.quit:
			return ErrClosed
		}
	}
}

// forgetGraph runs when a graph was collected. It must not block.
func (s *Session) forgetGraph(gid int) {
	s.mu.Lock()
	for wp, id := range s.graphs {
		if id == gid {
			delete(s.graphs, wp)
		}
	}
	s.forgotten = append(s.forgotten, gid)
	s.mu.Unlock()
	select {
	case s.forget <- struct{}{}:
	default:
	}
}

// Metrics counts what the session's tasks did.
type Metrics struct {
	Tasks         int64            // attempts that ended, however they ended
	TasksFailed   int64            // attempts that failed or were lost
	Spills        int64            // sorted runs spilled to disk
	ShuffleBytes  int64            // bytes of map output written (compressed)
	TasksByWorker map[string]int64 // attempts that succeeded, by the worker that ran them
	// Filled in when the session closes:
	TasksRecomputed  int64 // map tasks run again because their output was lost
	StagesRecomputed int64 // complete map stages that lost outputs
	Speculated       int64 // speculative copies of stragglers
	// BadRecords counts the malformed input records that ended jobs
	// skipped (--skip-bad-records), each record once per job;
	// FirstBadRecord is the first one's error, naming its file and line.
	BadRecords     int64
	FirstBadRecord string
	// BroadcastFetches counts broadcast values served to executors
	// (cluster mode): one per executor and value.
	BroadcastFetches int64
}

// Metrics returns the totals so far.
func (s *Session) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.metrics
	m.TasksByWorker = maps.Clone(s.metrics.TasksByWorker)
	return m
}
