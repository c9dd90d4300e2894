package driver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/rdd"
)

// A worker starts this test binary as its executor: TestMain serves tasks
// then (program_test.go). The panicking program runs from init, after the
// package's variables, so the Funcs and registered errors below exist, as
// in any driver binary.
func init() {
	if os.Getenv(asPanickingMain) == "1" {
		driver.Main(func(ctx context.Context, s *driver.Session) error {
			_, err := rdd.Collect(ctx, s, failing.Invoke("panic"))
			return err
		})
	}
}

// asPanickingMain makes this test binary a driver program whose job
// panics (see TestMainPrintsTheUsersLine).
const asPanickingMain = "SLUICE_TEST_PANICKING_MAIN"

// errClusterSentinel is registered, so errors.Is finds it in a failure that
// comes from another process; errLocal (taskerror_test.go) is not.
var errClusterSentinel = rdd.RegisterError(errors.New("a sentinel registered at package level"))

var clusterFailing = rdd.Func(func(how string) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1, 2}, rdd.Partitions(2)), func(x int) int {
		if x == 2 {
			switch how {
			case "registered":
				panic(fmt.Errorf("record %d: %w (and %w)", x, errClusterSentinel, errLocal))
			case "permanent":
				panic(rdd.Permanent(fmt.Errorf("record %d: %w", x, errClusterSentinel)))
			}
		}
		return x
	})
})

// On a real cluster a task's failure reaches the driver as an
// *rdd.TaskError: a registered sentinel matches with errors.Is, the
// user's file:line leads the error, the stack is logged once, and a
// permanent error runs one attempt.
func TestClusterTaskErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // a development secret of the test's own
	c := clustertest.Start(t, clustertest.BuildSluice(t), clustertest.Options{Core: 1, Task: 1})

	session := func(t *testing.T) (*driver.Session, logRecorder) {
		rec := newLogRecorder()
		cfg := driver.DefaultConfig()
		cfg.LocalDir = t.TempDir()
		cfg.Join, cfg.MinWorkers, cfg.Wait = []string{c.Join}, 2, time.Minute
		cfg.Logger = slog.New(rec)
		s, err := driver.NewSession(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, rec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("registered sentinel", func(t *testing.T) {
		s, logs := session(t)
		_, err := rdd.Collect(ctx, s, clusterFailing.Invoke("registered"))
		if !errors.Is(err, errClusterSentinel) {
			t.Fatalf("errors.Is(%v, the registered sentinel) is false", err)
		}
		if errors.Is(err, errLocal) {
			t.Fatal("an unregistered sentinel matched across processes")
		}
		var te *rdd.TaskError
		if !errors.As(err, &te) {
			t.Fatalf("errors.As(%v, *rdd.TaskError) is false", err)
		}
		if te.Worker == "" || te.Worker == "local" || te.Partition != 1 || te.Attempt != 3 || te.Permanent ||
			!strings.Contains(te.Frame, "/driver/taskerror_cluster_test.go:") || !strings.Contains(te.Stack, "taskerror_cluster_test.go") {
			t.Fatalf("TaskError %+v", *te)
		}
		if first := firstLine(err.Error()); !strings.Contains(first, te.Frame+": panic: record 2: ") {
			t.Fatalf("first line of the job's error:\n%s\nwant the user's %s", first, te.Frame)
		}
		if m := s.Metrics(); m.TasksFailed != 4 {
			t.Fatalf("%d failed attempts, want 4", m.TasksFailed)
		}
		if n := len(logs.withStack()); n != 1 {
			t.Fatalf("%d log records carry a stack, want 1", n)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		s, _ := session(t)
		_, err := rdd.Collect(ctx, s, clusterFailing.Invoke("permanent"))
		if !errors.Is(err, rdd.ErrPermanent) || !errors.Is(err, errClusterSentinel) {
			t.Fatalf("job error %v; want it to match rdd.ErrPermanent and the registered sentinel", err)
		}
		if m := s.Metrics(); m.TasksFailed != 1 {
			t.Fatalf("%d failed attempts, want 1", m.TasksFailed)
		}
	})
}
