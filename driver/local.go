package driver

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// localWorker names the in-process executor in the scheduler.
const localWorker = "local"

// local runs tasks on an in-process executor with a fixed number of slots.
type local struct {
	s       *Session
	exec    *worker.Executor
	tasks   chan *worker.TaskSpec
	stop    context.CancelFunc
	wg      sync.WaitGroup
	cancels taskCancels
}

// taskCancels stops running attempts by task id.
type taskCancels struct {
	mu sync.Mutex
	m  map[int64]context.CancelFunc
}

func (tc *taskCancels) add(id int64, cancel context.CancelFunc) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.m == nil {
		tc.m = map[int64]context.CancelFunc{}
	}
	tc.m[id] = cancel
}

func (tc *taskCancels) done(id int64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.m, id)
}

func (tc *taskCancels) kill(id int64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c := tc.m[id]; c != nil {
		c()
	}
}

func newLocal(s *Session) (*local, error) {
	exec, err := worker.NewExecutor(worker.ExecutorConfig{
		Name: localWorker, Dir: filepath.Join(s.dir, "executor"), Codec: s.cfg.ShuffleCodec,
		TaskMemory: s.cfg.Memory, CacheMemory: s.cfg.CacheMemory, CacheDisk: s.cfg.CacheDisk, Committer: committer{s}, Logger: s.log,
	})
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &local{s: s, exec: exec, tasks: make(chan *worker.TaskSpec, s.cfg.Parallelism), stop: stop}
	for range s.cfg.Parallelism {
		l.wg.Go(func() { l.slot(ctx) })
	}
	// Slots are offered once the loop runs; the channel has room.
	s.members <- memberChange{worker: localWorker, slots: s.cfg.Parallelism, role: "local"}
	return l, nil
}

// launch never blocks: the scheduler launches no more than the free slots.
func (l *local) launch(spec *worker.TaskSpec, _ string) { l.tasks <- spec }

func (l *local) kill(id int64) { l.cancels.kill(id) }

func (l *local) drain(string, []scheduler.OutputRef) {}

func (l *local) forgetGraph(gid int) {
	if err := l.exec.ForgetGraph(gid); err != nil {
		l.s.log.Warn("removing shuffle files", "graph", gid, "err", err)
	}
}

func (l *local) close() {
	l.stop()
	l.wg.Wait()
}

// slot runs tasks one at a time.
func (l *local) slot(ctx context.Context) {
	for {
		select {
		case spec := <-l.tasks:
			tctx, cancel := context.WithCancel(ctx)
			l.cancels.add(spec.Task.ID, cancel)
			res, failure := l.exec.RunInProcess(tctx, spec)
			l.cancels.done(spec.Task.ID)
			cancel()
			select {
			case l.s.done <- taskDone{res, failure}:
			case <-l.s.quit:
				return
			}
		case <-l.s.quit:
			return
		}
	}
}
