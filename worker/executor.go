package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/spill"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/shuffle"

	"github.com/sluicehq/sluice/internal/task"
)

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	Name        string         // the worker name map outputs are registered under
	Dir         string         // shuffle files and task scratch space; must exist
	Codec       block.Codec    // shuffle and spill compression
	TaskMemory  int64          // per-task buffer budget; 0 means task.DefaultMemory
	CacheMemory int64          // bytes of persisted partitions in memory; 0 keeps none there
	CacheDisk   int64          // bytes of persisted partitions on disk, under Dir/cache; 0 keeps none there
	Committer   task.Committer // authorises output commits
	Fetcher     Fetcher        // reads map outputs other workers hold; nil in local mode
	App         string         // the application, named in fetch requests
	Logger      *slog.Logger   // nil discards
}

// Fetcher streams one reduce partition of a map output from the worker at
// addr that holds it.
type Fetcher interface {
	Fetch(ctx context.Context, addr string, req FetchRequest) (io.ReadCloser, error)
}

// TaskSpec is everything an executor needs to run one task attempt.
type TaskSpec struct {
	Invocation  task.Invocation
	GraphDigest string
	States      map[int][]byte
	Task        scheduler.Task
	Action      task.Action       // result tasks: what to do with the partition
	Addrs       map[string]string // RPC addresses of the workers holding the task's map outputs
	IO          task.IOSettings   // the session's file settings (--skip-bad-records, --output-codec)
}

// TaskStatus is how an attempt ended.
type TaskStatus uint8

// The task statuses.
const (
	TaskSucceeded   TaskStatus = iota + 1
	TaskFailed                 // the user's code failed: counts against the task's attempts
	TaskLost                   // the infrastructure failed: retried freely
	TaskFetchFailed            // a map output could not be read: it is recomputed
)

// FetchError is a failure to read one map output: missing, unreachable or
// corrupt. It fails the task as a fetch failure, so the scheduler
// recomputes that output instead of retrying the reader against it.
type FetchError struct {
	Shuffle, Map int
	Worker       string
	Gen          int64
	Err          error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetching map output %d of shuffle %d from %s: %v", e.Map, e.Shuffle, e.Worker, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// TaskResult is the outcome of one attempt.
type TaskResult struct {
	TaskID int64
	Worker string // where it ran
	// WorkerLost says the attempt was lost with its worker or executor:
	// the driver pauses the worker before retrying, so the retry goes
	// elsewhere.
	WorkerLost bool
	// Machine says the worker's machine failed the attempt (a full disk,
	// an I/O error): it is lost, and counts against the worker.
	Machine   bool
	Status    TaskStatus
	Err       string // the error's message, or a panic's value
	MapStatus *scheduler.MapStatus
	Result    []byte
	Metrics   task.Metrics
	// Accums are a successful attempt's accumulator updates, which the
	// driver applies once per partition of a job for a result task and
	// on every success of a map task.
	Accums []task.AccumUpdate
	// TaskFailed: the rest of the rdd.TaskError (see TaskResult.TaskError).
	Stack                     string   // a panic's stack
	Frame                     string   // a panic's file:line in the user's code
	Permanent                 bool     // the error cannot change on retry
	ErrorKeys                 []string // the registered errors (rdd.RegisterError) it matches
	Stage, Partition, Attempt int
	// TaskFetchFailed: the map output that could not be read.
	FetchShuffle, FetchMap int
	FetchWorker            string
	FetchGen               int64
}

// Executor runs tasks: it rebuilds each lineage from its invocation once,
// through the Func registry, and runs map and result tasks against the
// shuffle files in its directory. Local mode runs one in-process; in a
// cluster each worker runs one per application.
type Executor struct {
	cfg     ExecutorConfig
	log     *slog.Logger
	cache   *memCache
	sorters *spill.Pool // sort buffers handed from task to task

	mu     sync.Mutex
	graphs map[int]*graphEntry // by the driver's graph number
	order  []int               // graph numbers, oldest first

	fetchMu sync.Mutex
	fetches map[string]map[*fetchCancel]struct{} // in-flight fetches by holder

	runMu   sync.Mutex
	running map[int64]*atomic.Int64 // records read, by running task id
}

// Progress returns the tasks running now and the shuffle records each has
// read, by task id: what a heartbeat reports.
func (e *Executor) Progress() []TaskProgress {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	out := make([]TaskProgress, 0, len(e.running))
	for id, n := range e.running {
		out = append(out, TaskProgress{TaskID: id, Records: n.Load()})
	}
	slices.SortFunc(out, func(a, b TaskProgress) int { return cmp.Compare(a.TaskID, b.TaskID) })
	return out
}

func (e *Executor) track(id int64) (*atomic.Int64, func()) {
	n := new(atomic.Int64)
	e.runMu.Lock()
	if e.running == nil {
		e.running = map[int64]*atomic.Int64{}
	}
	e.running[id] = n
	e.runMu.Unlock()
	return n, func() {
		e.runMu.Lock()
		delete(e.running, id)
		e.runMu.Unlock()
	}
}

// fetchCancel cancels one in-flight fetch.
type fetchCancel struct{ cancel context.CancelCauseFunc }

// ErrWorkerLost is the cause of a fetch cancelled because the driver
// declared the worker holding the map output lost.
var ErrWorkerLost = errors.New("worker: the worker holding the map output was declared lost")

// WorkerLost cancels every fetch in flight from the named worker: the
// driver calls it when gossip declares the worker lost, so that reducers
// report a fetch failure at once instead of waiting on a frozen peer.
func (e *Executor) WorkerLost(name string) {
	e.fetchMu.Lock()
	fs := e.fetches[name]
	delete(e.fetches, name)
	e.fetchMu.Unlock()
	for f := range fs {
		f.cancel(ErrWorkerLost)
	}
}

// fetchContext returns a context for a fetch from holder, cancelled by
// WorkerLost(holder), and a function to call when the fetch is done.
func (e *Executor) fetchContext(parent context.Context, holder string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	f := &fetchCancel{cancel: cancel}
	e.fetchMu.Lock()
	if e.fetches == nil {
		e.fetches = map[string]map[*fetchCancel]struct{}{}
	}
	if e.fetches[holder] == nil {
		e.fetches[holder] = map[*fetchCancel]struct{}{}
	}
	e.fetches[holder][f] = struct{}{}
	e.fetchMu.Unlock()
	return ctx, func() {
		e.fetchMu.Lock()
		delete(e.fetches[holder], f)
		if len(e.fetches[holder]) == 0 {
			delete(e.fetches, holder)
		}
		e.fetchMu.Unlock()
		cancel(nil)
	}
}

// maxGraphs bounds the lineages an executor keeps rebuilt; the oldest goes
// first, with its cached partitions.
const maxGraphs = 64

type graphEntry struct {
	once     sync.Once
	g        *task.Graph
	err      error
	panicked bool // the Func panicked: err is the panic, not a verdict on the graph
	index    int  // distinguishes cache entries of different graphs
}

// rebuild rebuilds a lineage, turning a panic in the Func into an error
// wrapping the panic's value when it is an error.
func rebuild(inv task.Invocation) (g *task.Graph, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			g, panicked = nil, true
			if pe, ok := p.(error); ok {
				err = fmt.Errorf("worker: Func %s panicked rebuilding its lineage: %w", inv.Key, pe)
			} else {
				err = fmt.Errorf("worker: Func %s panicked rebuilding its lineage: %v", inv.Key, p)
			}
		}
	}()
	g, err = task.Rebuild(inv)
	return g, false, err
}

// NewExecutor returns an Executor for cfg.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.Dir == "" {
		return nil, errors.New("worker: executor needs a directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{cfg: cfg, log: log, cache: newCache(cfg.CacheMemory, filepath.Join(cfg.Dir, "cache"), cfg.CacheDisk), graphs: map[int]*graphEntry{},
		sorters: spill.NewPool()}, nil
}

func (e *Executor) graph(spec *TaskSpec) (*task.Graph, int, error) {
	// Keyed by the driver's graph number, not the invocation: the same Func
	// invoked twice with the same argument is a new lineage (its input
	// files may have changed) and must be rebuilt.
	gid := spec.Task.Graph
	e.mu.Lock()
	ent := e.graphs[gid]
	if ent == nil {
		if len(e.order) >= maxGraphs {
			old := e.order[0]
			e.order = e.order[1:]
			delete(e.graphs, old)
			e.cache.dropGraph(old)
		}
		ent = &graphEntry{index: gid}
		e.graphs[gid] = ent
		e.order = append(e.order, gid)
	}
	e.mu.Unlock()
	ent.once.Do(func() { ent.g, ent.panicked, ent.err = rebuild(spec.Invocation) })
	if ent.err != nil {
		if ent.panicked {
			// The Func panicked here (a Broadcast it read could not be
			// fetched, say): the next task rebuilds it.
			e.mu.Lock()
			if e.graphs[gid] == ent {
				delete(e.graphs, gid)
				e.order = slices.DeleteFunc(e.order, func(g int) bool { return g == gid })
			}
			e.mu.Unlock()
		}
		return nil, 0, ent.err
	}
	if spec.GraphDigest != "" && ent.g.Digest() != spec.GraphDigest {
		// Running it again here would build the same: fail the job.
		return nil, 0, rdd.Permanent(fmt.Errorf("worker: Func %s built a different lineage here than in the driver (digest %s, driver %s): a Func must build the same lineage from the same argument, and its input files must not change while the job runs",
			spec.Invocation.Key, ent.g.Digest(), spec.GraphDigest))
	}
	if err := ent.g.SetStates(spec.States); err != nil {
		return nil, 0, err
	}
	return ent.g, ent.index, nil
}

// Run runs one task attempt and reports how it ended. A panic in user code
// is a failure carrying the panic's stack.
func (e *Executor) Run(ctx context.Context, spec *TaskSpec) TaskResult {
	res, _ := e.RunInProcess(ctx, spec)
	return res
}

// RunInProcess is Run for a caller in the same process (local mode): a
// failed attempt also comes back as an *rdd.TaskError that wraps the
// original error value, so that errors.Is and errors.As see the user's
// error without the round trip through a message.
func (e *Executor) RunInProcess(ctx context.Context, spec *TaskSpec) (res TaskResult, failure *rdd.TaskError) {
	t := spec.Task
	res.TaskID, res.Worker = t.ID, e.cfg.Name
	began := time.Now()
	records, untrack := e.track(t.ID)
	defer untrack()
	defer func() {
		if p := recover(); p != nil {
			failure = e.panicked(t, p)
			res = TaskResult{TaskID: t.ID, Worker: e.cfg.Name}
			setFailure(&res, failure)
		}
	}()
	g, gi, err := e.graph(spec)
	if err != nil {
		failure = e.failure(t, err)
		setFailure(&res, failure)
		return res, failure
	}
	tmp := filepath.Join(e.cfg.Dir, "tmp", fmt.Sprintf("task-%d", t.ID))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return TaskResult{TaskID: t.ID, Worker: e.cfg.Name, Status: TaskLost, Machine: machineError(err), Err: err.Error()}, nil
	}
	defer os.RemoveAll(tmp)
	sio := &shuffleIO{e: e, task: &t, spec: spec, records: records}
	tc := &task.Context{
		Stage: t.Stage, Partition: t.Partition, Attempt: t.Attempt,
		Memory: e.cfg.TaskMemory, Sorters: e.sorters, TempDir: tmp, Codec: e.cfg.Codec,
		Shuffle: sio, Commit: e.cfg.Committer, IO: spec.IO,
		Log: e.log.With("task", t.Partition, "stage", t.Stage, "attempt", t.Attempt),
	}
	if e.cfg.CacheMemory > 0 || e.cfg.CacheDisk > 0 {
		tc.Cache = e.cache.view(gi)
	}
	// User functions add to accumulators through the task's context; the
	// updates go to the driver only with a success.
	accums := new(task.Accumulators)
	ctx = task.WithAccumulators(ctx, accums)
	switch t.Kind {
	case scheduler.MapTask:
		err = g.RunMap(ctx, tc, t.Shuffle, t.Partition)
		if err == nil {
			res.MapStatus = &scheduler.MapStatus{Worker: e.cfg.Name, Sizes: sio.sizes}
		}
	case scheduler.ResultTask:
		res.Result, err = g.RunResult(ctx, tc, t.Node, t.Partition, spec.Action)
	default:
		err = fmt.Errorf("worker: unknown task kind %d", t.Kind)
	}
	res.Metrics = tc.Metrics
	res.Metrics.RecordsIn, res.Metrics.RecordsOut = records.Load(), sio.written.Load()
	res.Metrics.ShuffleReadBytes, res.Metrics.FetchWait = sio.readBytes.Load(), time.Duration(sio.fetchWait.Load())
	res.Metrics.RunTime = time.Since(began)
	if err == nil {
		res.Accums, err = accums.Updates()
		if err != nil {
			err = rdd.Permanent(err) // the same updates would fail again
		}
	}
	if err != nil {
		res.Err, res.Result, res.MapStatus, res.Accums = err.Error(), nil, nil, nil
		var fe *FetchError
		switch {
		case ctx.Err() != nil, errors.Is(err, task.ErrCommitDenied):
			// Cancelled, or another attempt committed this partition
			// first (Spark's TaskCommitDenied): neither is the task's fault.
			res.Status = TaskLost
		case machineError(err):
			// The machine failed, not the user's code: lost, not failed,
			// and counted against this worker (see scheduler.TaskFailed).
			res.Status, res.Machine = TaskLost, true
		case errors.As(err, &fe):
			res.Status = TaskFetchFailed
			res.FetchShuffle, res.FetchMap, res.FetchWorker, res.FetchGen = fe.Shuffle, fe.Map, fe.Worker, fe.Gen
		default:
			failure = e.failure(t, err)
			setFailure(&res, failure)
		}
		return res, failure
	}
	res.Status = TaskSucceeded
	return res, nil
}

// shuffleIO is an Executor's task.ShuffleIO for one task: map outputs go to
// files in the executor's directory, named by graph, shuffle and map
// partition; reduce inputs are read from the map outputs the task lists.
type shuffleIO struct {
	e       *Executor
	task    *scheduler.Task
	spec    *TaskSpec
	sizes   []int64
	records *atomic.Int64 // shuffle blocks read, for heartbeats

	written   atomic.Int64 // shuffle records written
	readBytes atomic.Int64 // bytes of shuffle blocks read
	fetchWait atomic.Int64 // nanoseconds spent opening shuffle blocks
}

// machineError reports whether err is the machine's: a full disk or quota,
// an I/O error, a file system gone read-only.
func machineError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ForgetGraph removes the map outputs of a lineage that the driver (which
// numbers graphs) no longer holds.
func (e *Executor) ForgetGraph(graph int) error {
	e.mu.Lock()
	if e.graphs[graph] != nil {
		delete(e.graphs, graph)
		e.order = slices.DeleteFunc(e.order, func(g int) bool { return g == graph })
	}
	e.mu.Unlock()
	e.cache.dropGraph(graph)
	files, err := filepath.Glob(filepath.Join(e.cfg.Dir, "shuffle", fmt.Sprintf("g%d_s*", graph)))
	for _, f := range files {
		if rerr := os.Remove(f); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// UnpersistRequest asks an application's executor to drop the persisted
// partitions of one node of a graph (RDD.Unpersist).
type UnpersistRequest struct {
	App         string
	Graph, Node int
}

// Unpersist drops the persisted partitions, in memory and on disk, of
// one node of a graph.
func (e *Executor) Unpersist(graph, node int) { e.cache.dropNode(graph, node) }

// MapOutputPaths returns the data and index files of a map output.
func MapOutputPaths(dir string, graph, shuffle, mapPart int) (data, index string) {
	base := filepath.Join(dir, "shuffle", fmt.Sprintf("g%d_s%d_m%d", graph, shuffle, mapPart))
	return base + ".data", base + ".index"
}

func (s *shuffleIO) Create(ctx context.Context, shuffleID, numPartitions int) (task.ShuffleWriter, error) {
	data, index := MapOutputPaths(s.e.cfg.Dir, s.task.Graph, shuffleID, s.task.Partition)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return nil, err
	}
	w, err := shuffle.Create(data, index, numPartitions, s.e.cfg.Codec)
	if err != nil {
		return nil, err
	}
	return &recordingWriter{Writer: w, sizes: &s.sizes, records: &s.written}, nil
}

// recordingWriter keeps a map output's sizes and counts its records: in
// a plain field, since one goroutine writes it, added to the task's total
// once, at Commit.
type recordingWriter struct {
	*shuffle.Writer
	sizes   *[]int64
	records *atomic.Int64
	n       int64
}

func (w *recordingWriter) EndRecord() error {
	w.n++
	return w.Writer.EndRecord()
}

func (w *recordingWriter) Commit() error {
	sizes, err := w.Writer.Commit()
	*w.sizes = sizes
	if err == nil {
		w.records.Add(w.n)
	}
	return err
}

func (s *shuffleIO) Open(ctx context.Context, shuffleID, part int) (task.BlockReader, error) {
	for _, in := range s.task.Inputs {
		if in.Shuffle == shuffleID && in.Part == part {
			return &chainReader{ctx: ctx, s: s, shuffle: shuffleID, part: part, blocks: in.Blocks()}, nil
		}
	}
	return nil, fmt.Errorf("worker: task %d reads partition %d of shuffle %d but was given no map outputs for it", s.task.ID, part, shuffleID)
}

// chainReader reads one reduce partition from every map output that has
// data for it, in map order. The task's input lists only those: an empty
// block is known to be empty exactly, whatever else of the sizes the
// driver keeps approximately.
type chainReader struct {
	ctx     context.Context
	s       *shuffleIO
	shuffle int
	part    int
	blocks  []scheduler.MapBlock
	next    int
	cur     task.BlockReader
	ahead   fetchAhead
}

func (c *chainReader) Next() ([]byte, error) {
	for {
		if c.cur != nil {
			b, err := c.cur.Next()
			if err != nil && err != io.EOF {
				return nil, c.fetchError(c.next-1, err)
			}
			if err != io.EOF {
				c.s.records.Add(1)
				c.s.readBytes.Add(int64(len(b)))
				return b, nil
			}
			c.cur.Close()
			c.cur = nil
		}
		if c.next >= len(c.blocks) {
			return nil, io.EOF
		}
		i := c.next
		c.next++
		if err := c.ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		c.fetchAhead(i)
		r, err := c.ahead.take(i)
		if r == nil && err == nil {
			r, err = c.open(i)
		}
		c.s.fetchWait.Add(int64(time.Since(start)))
		if err != nil {
			return nil, c.fetchError(i, err)
		}
		c.cur = r
	}
}

func (c *chainReader) fetchError(i int, err error) error {
	if c.ctx.Err() != nil {
		return c.ctx.Err() // the task was cancelled: not the output's fault
	}
	b := c.blocks[i]
	return &FetchError{Shuffle: c.shuffle, Map: b.Map, Worker: b.Worker, Gen: b.Gen, Err: err}
}

// open reads block i from local disk when this worker holds it, and from
// the worker that does otherwise.
func (c *chainReader) open(i int) (task.BlockReader, error) {
	b := c.blocks[i]
	r, err := c.openFrom(i, b.Worker)
	if err != nil && b.Replica != "" && c.ctx.Err() == nil {
		// The copy on a core worker stands in for a holder that is gone.
		if rr, rerr := c.openFrom(i, b.Replica); rerr == nil {
			return rr, nil
		}
	}
	return r, err
}

func (c *chainReader) openFrom(i int, holder string) (task.BlockReader, error) {
	e := c.s.e
	if c.local(holder) {
		data, index := MapOutputPaths(e.cfg.Dir, c.s.task.Graph, c.shuffle, c.blocks[i].Map)
		return shuffle.OpenPartition(data, index, c.part)
	}
	rc, err := c.fetch(c.ctx, i, holder)
	if err != nil {
		return nil, err
	}
	return newStreamBlocks(rc, c.size(i), c.what(i, holder)), nil
}

// local reports whether this executor reads holder's outputs from disk.
func (c *chainReader) local(holder string) bool {
	return holder == c.s.e.cfg.Name || c.s.e.cfg.Fetcher == nil
}

// size returns the exact length of block i, or -1. Only an exact size
// checks a stream's length: an estimate (sizes compressed in the driver)
// is no claim about it. The blocks carry their own checksums, and a
// stream cut short fails in the transport.
func (c *chainReader) size(i int) int64 {
	if b := c.blocks[i]; b.Exact && b.Size >= 0 {
		return b.Size
	}
	return -1
}

func (c *chainReader) what(i int, holder string) string {
	return fmt.Sprintf("map output %d of shuffle %d from %s", c.blocks[i].Map, c.shuffle, holder)
}

// fetch opens the stream of block i from holder, a fetch that
// WorkerLost(holder) cancels.
func (c *chainReader) fetch(ctx context.Context, i int, holder string) (io.ReadCloser, error) {
	e := c.s.e
	addr, ok := c.s.spec.Addrs[holder]
	if !ok {
		return nil, fmt.Errorf("worker: no address for worker %s", holder)
	}
	fctx, done := e.fetchContext(ctx, holder)
	rc, err := e.cfg.Fetcher.Fetch(fctx, addr, FetchRequest{App: e.cfg.App, Graph: c.s.task.Graph, Shuffle: c.shuffle, Map: c.blocks[i].Map, Part: c.part})
	if err != nil {
		done()
		return nil, err
	}
	return &doneCloser{ReadCloser: rc, done: done}, nil
}

// doneCloser calls done once its stream is closed.
type doneCloser struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (d *doneCloser) Close() error {
	err := d.ReadCloser.Close()
	d.once.Do(d.done)
	return err
}

func (c *chainReader) Close() error {
	c.ahead.stop()
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}
