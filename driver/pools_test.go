package driver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// gates hold gatedF's tasks until a test opens its gate; started counts
// the tasks that reached it. Local mode runs executors in this process.
var (
	gates   sync.Map // test name -> chan struct{}
	started sync.Map // test name -> *atomic.Int64
)

type gateArgs struct {
	Gate  string // "" runs freely
	Parts int
}

// gatedF has one element per partition; a task waits at its gate.
var gatedF = rdd.Func(func(a gateArgs) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize(make([]int, a.Parts), rdd.Partitions(a.Parts)), func(x int) int {
		if a.Gate != "" {
			n, _ := started.Load(a.Gate)
			n.(*atomic.Int64).Add(1)
			g, _ := gates.Load(a.Gate)
			<-g.(chan struct{})
		}
		return x
	})
})

// Two jobs run at once from two goroutines on two slots: the first has
// 12 tasks held at a gate; the second, in another pool, is submitted while
// the first's tasks wait. FAIR gives the second job the first slot that
// frees (launch 3), so both progress; FIFO runs all of the first job's
// tasks first. Both answers are right either way.
func TestConcurrentJobs(t *testing.T) {
	for _, tc := range []struct {
		mode scheduler.Mode
		want func(order []int) bool
	}{
		{scheduler.FAIR, func(order []int) bool { return order[2] == 2 && order[len(order)-1] == 1 }},
		{scheduler.FIFO, func(order []int) bool { return slices.Index(order, 2) == 12 }},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Parallelism = 2
			cfg.LocalDir = t.TempDir()
			cfg.SchedulerMode = tc.mode
			s, err := NewSession(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var (
				mu        sync.Mutex
				order     []int
				submitted = make(chan int, 2)
			)
			s.onLaunch = func(spec *worker.TaskSpec) {
				mu.Lock()
				order = append(order, spec.Task.Job)
				mu.Unlock()
			}
			s.onSubmit = func(job int) { submitted <- job }
			gate := make(chan struct{})
			var n atomic.Int64
			gates.Store(t.Name(), gate)
			started.Store(t.Name(), &n)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs := make(chan error, 2)
			go func() {
				c, err := rdd.Count(WithPool(ctx, "a"), s, gatedF.Invoke(gateArgs{Gate: t.Name(), Parts: 12}))
				if err == nil && c != 12 {
					err = fmt.Errorf("first job counted %d, want 12", c)
				}
				errs <- err
			}()
			if j := <-submitted; j != 1 {
				t.Fatalf("job %d submitted first", j)
			}
			for n.Load() < 2 {
				select {
				case <-ctx.Done():
					t.Fatal("the first job's tasks did not start")
				case <-time.After(time.Millisecond):
				}
			}
			go func() {
				c, err := rdd.Count(WithPool(ctx, "b"), s, gatedF.Invoke(gateArgs{Parts: 3}))
				if err == nil && c != 3 {
					err = fmt.Errorf("second job counted %d, want 3", c)
				}
				errs <- err
			}()
			if j := <-submitted; j != 2 {
				t.Fatalf("job %d submitted second", j)
			}
			close(gate)
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(order) != 15 || !tc.want(order) {
				t.Fatalf("%v: tasks launched for jobs %s", tc.mode, strings.Trim(fmt.Sprint(order), "[]"))
			}
		})
	}
}

func TestParsePool(t *testing.T) {
	for in, want := range map[string]string{
		"etl":                        "etl {1 0}",
		"etl:weight=3":               "etl {3 0}",
		"adhoc:weight=2, minshare=4": "adhoc {2 4}",
		"adhoc:MinShare=1":           "adhoc {1 1}",
		":weight=2":                  "error",
		"a:weight=0":                 "error",
		"a:weight":                   "error",
		"a:speed=2":                  "error",
		"a:minshare=-1":              "error",
	} {
		name, p, err := parsePool(in)
		got := fmt.Sprint(name, " ", p)
		if err != nil {
			got = "error"
			if !strings.Contains(err.Error(), "--scheduler-pool") {
				t.Errorf("%q: error %v does not name the flag", in, err)
			}
		}
		if got != want {
			t.Errorf("parsePool(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSchedulerFlags(t *testing.T) {
	parse := func(args ...string) (Config, error) {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		read := Flags(fs)
		if err := fs.Parse(args); err != nil {
			return Config{}, err
		}
		return read()
	}
	cfg, err := parse("--scheduler-mode", "fair", "--scheduler-pool", "etl:weight=2,minshare=1", "--scheduler-pool", "adhoc")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SchedulerMode != scheduler.FAIR || cfg.Pools["etl"] != (scheduler.Pool{Weight: 2, MinShare: 1}) || cfg.Pools["adhoc"] != (scheduler.Pool{Weight: 1}) {
		t.Fatalf("mode %v, pools %v", cfg.SchedulerMode, cfg.Pools)
	}
	if cfg, err := parse(); err != nil || cfg.SchedulerMode != scheduler.FIFO {
		t.Fatalf("default mode %v, %v; want fifo", cfg.SchedulerMode, err)
	}
	if _, err := parse("--scheduler-pool", "etl:weight=2"); err == nil || !strings.Contains(err.Error(), "--scheduler-mode fair") {
		t.Fatalf("pools in FIFO mode: %v, want an error saying to add --scheduler-mode fair", err)
	}
	if _, err := parse("--scheduler-mode", "round-robin"); err == nil || !strings.Contains(err.Error(), "--scheduler-mode") {
		t.Fatalf("unknown mode: %v", err)
	}
}
