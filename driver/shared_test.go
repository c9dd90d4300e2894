package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// sharedCounted counts, in a result stage, the numbers it passes on.
var sharedCounted = rdd.NewInt64Accumulator("driver test: numbers counted")

// sharedArgs: N numbers in Parts partitions, a Broadcast added to each,
// and Hold, when set, a directory where the first attempt of the last
// number of partition 0 leaves its PID, then waits for its context to end.
type sharedArgs struct {
	N, Parts int
	Plus     rdd.Broadcast[int]
	Hold     string
}

var sharedF = rdd.Func(func(a sharedArgs) *rdd.RDD[int] {
	nums := make([]int, a.N)
	for i := range nums {
		nums[i] = i
	}
	return rdd.MapErr(rdd.Parallelize(nums, rdd.Partitions(a.Parts)), func(ctx context.Context, n int) (int, error) {
		sharedCounted.Add(ctx, 1)
		if a.Hold != "" && n == a.N/a.Parts-1 {
			marker := filepath.Join(a.Hold, "held")
			if _, err := os.Stat(marker); os.IsNotExist(err) {
				if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
					return 0, err
				}
				select {
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-time.After(time.Minute):
				}
			}
		}
		return n + a.Plus.Value(), nil
	})
})

func sumShared(t *testing.T, s *Session, a sharedArgs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := rdd.Collect(ctx, s, sharedF.Invoke(a))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != a.N {
		t.Fatalf("%d numbers, want %d", len(got), a.N)
	}
	plus := a.Plus.Value()
	for i, n := range got {
		if n != i+plus {
			t.Fatalf("number %d is %d, want %d", i, n, i+plus)
		}
	}
}

// twinBackend runs tasks on one in-process executor for two workers, a
// and b, and holds the first attempt of result partition 0 until its
// speculative copy has succeeded; then the first attempt runs and
// succeeds too, as when a kill arrives too late.
type twinBackend struct {
	s        *Session
	exec     *worker.Executor
	wg       sync.WaitGroup
	copyDone chan struct{}
	once     sync.Once
	runs     atomic.Int32 // attempts of partition 0 that ran
}

func (b *twinBackend) launch(spec *worker.TaskSpec, name string) {
	b.wg.Go(func() {
		t := spec.Task
		held := t.Kind == scheduler.ResultTask && t.Partition == 0
		if held && !t.Speculative {
			select {
			case <-b.copyDone:
			case <-time.After(time.Minute):
			case <-b.s.quit:
				return
			}
		}
		res, failure := b.exec.RunInProcess(context.Background(), spec)
		res.Worker = name
		if held {
			b.runs.Add(1)
		}
		select {
		case b.s.done <- taskDone{res, failure}:
		case <-b.s.quit:
			return
		}
		if held && t.Speculative {
			b.once.Do(func() { close(b.copyDone) })
		}
	})
}

func (b *twinBackend) kill(int64)                          {}
func (b *twinBackend) drain(string, []scheduler.OutputRef) {}
func (b *twinBackend) forgetGraph(int)                     {}
func (b *twinBackend) close()                              { b.wg.Wait() }

// A speculative copy and the attempt it copies both succeed: the driver
// applies the result task's updates once.
func TestAccumulatorSpeculatedTaskCountsOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Speculation = true
	var tb *twinBackend
	s, err := newSession(cfg, func(s *Session) (backend, error) {
		exec, err := worker.NewExecutor(worker.ExecutorConfig{Name: "a", Dir: filepath.Join(s.dir, "executor"), Codec: s.cfg.ShuffleCodec, Committer: committer{s}})
		if err != nil {
			return nil, err
		}
		tb = &twinBackend{s: s, exec: exec, copyDone: make(chan struct{})}
		s.members <- memberChange{worker: "a", slots: 2, role: worker.RoleCore}
		s.members <- memberChange{worker: "b", slots: 2, role: worker.RoleCore}
		return tb, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plus, err := rdd.NewBroadcast(s, 1000)
	if err != nil {
		t.Fatal(err)
	}
	sharedCounted.Reset()
	a := sharedArgs{N: 40, Parts: 4, Plus: plus}
	sumShared(t, s, a)
	// The first attempt's success comes after the job ended: wait for the
	// loop to take it (5 attempts), then run a job, which the loop takes
	// only once it has dealt with that success.
	waitFor(t, "the held attempt's success", func() bool { return s.Metrics().Tasks == int64(a.Parts+1) })
	if n := tb.runs.Load(); n != 2 {
		t.Fatalf("partition 0 ran %d times, want the attempt and its speculative copy", n)
	}
	sumShared(t, s, a)
	if got := sharedCounted.Value(); got != int64(2*a.N) {
		t.Fatalf("counted %d numbers in 2 jobs, want %d", got, 2*a.N)
	}
	if line := accumulatorLine(); !strings.Contains(line, "driver test: numbers counted=80") {
		t.Fatalf("the job summary's accumulators: %q", line)
	}
}

// On a cluster: the broadcast value reaches each executor once; a worker
// lost while a result task runs there (having added to the accumulator)
// loses that attempt's updates, and the job's count is exact; the job
// summary shows the accumulator.
func TestClusterSharedVariables(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleCore, worker.RoleCore}, 2)
	plus, err := rdd.NewBroadcast(s, 7)
	if err != nil {
		t.Fatal(err)
	}
	sharedCounted.Reset()
	a := sharedArgs{N: 400, Parts: 16, Plus: plus}
	sumShared(t, s, a)
	sumShared(t, s, a)
	m := s.Metrics()
	if ran := len(m.TasksByWorker); ran != 2 || m.BroadcastFetches != 2 {
		t.Fatalf("%d fetches of the value by %d executors that ran tasks (%v), want one each of 2", m.BroadcastFetches, ran, m.TasksByWorker)
	}
	if got := sharedCounted.Value(); got != int64(2*a.N) {
		t.Fatalf("counted %d numbers in 2 jobs, want %d", got, 2*a.N)
	}

	checkBroadcastRoute(t, lc.cluster)

	sharedCounted.Reset()
	a.Hold = t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sumShared(t, s, a)
	}()
	var pid int
	waitFor(t, "a task to hold its partition", func() bool {
		b, err := os.ReadFile(filepath.Join(a.Hold, "held"))
		pid, _ = strconv.Atoi(string(b))
		return err == nil && pid != 0
	})
	var victim *runningDaemon
	for _, d := range lc.daemons {
		if st, ok := appStatus(d); ok && st.PID == pid {
			victim = d
		}
	}
	if victim == nil {
		t.Fatalf("no worker runs the executor %d that holds the partition", pid)
	}
	stopDaemon(t, victim)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the job did not end within a minute of losing a worker")
	}
	if t.Failed() {
		return
	}
	if got := sharedCounted.Value(); got != int64(a.N) {
		t.Fatalf("counted %d numbers, want %d: the lost attempt's updates were applied", got, a.N)
	}
	if c := s.summary(nil).Cluster; c.WorkersLost != 1 {
		t.Fatalf("cluster summary %+v, want a worker lost", c)
	}
	sum := s.summary(nil)
	var v int64
	if err := json.Unmarshal(sum.Accumulators["driver test: numbers counted"], &v); err != nil || v != int64(a.N) {
		t.Fatalf("the summary's accumulators %s: %d, %v", sum.Accumulators, v, err)
	}
}

// checkBroadcastRoute asks the driver's FetchBroadcast route what an
// attacker with the cluster's credentials, or a confused executor, would.
func checkBroadcastRoute(t *testing.T, c *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := func(err error) string {
		var re *rpc.RemoteError
		if errors.As(err, &re) {
			return re.Code
		}
		return fmt.Sprint(err)
	}
	for _, tc := range []struct {
		req  worker.BroadcastRequest
		want string
	}{
		{worker.BroadcastRequest{App: "app-other", ID: strings.Repeat("a", 32)}, "bad_request"},
		{worker.BroadcastRequest{App: c.app, ID: strings.Repeat("a", 32)}, "not_found"},
		{worker.BroadcastRequest{App: c.app, ID: "../../etc/passwd"}, "not_found"},
		{worker.BroadcastRequest{App: c.app}, "not_found"},
	} {
		_, err := rpc.Call[worker.BroadcastRequest, worker.BroadcastResponse](ctx, c.client, c.addr, worker.MethodBroadcast, &tc.req)
		if got := code(err); got != tc.want {
			t.Errorf("FetchBroadcast %+v: %v, want %s", tc.req, err, tc.want)
		}
	}
}

func (b *twinBackend) unpersist(context.Context, int, int) {}
