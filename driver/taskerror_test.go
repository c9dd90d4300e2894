package driver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
)

// logRecorder is a slog.Handler that keeps every record, with the
// attributes of the logger that made it, so tests can assert on what was
// logged without parsing text.
type logRecorder struct {
	mu      *sync.Mutex
	records *[]slog.Record
	attrs   []slog.Attr
}

func newLogRecorder() logRecorder {
	return logRecorder{mu: &sync.Mutex{}, records: new([]slog.Record)}
}

func (r logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r logRecorder) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(r.attrs...)
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.records = append(*r.records, rec)
	return nil
}

func (r logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	r.attrs = append(append([]slog.Attr(nil), r.attrs...), as...)
	return r
}

func (r logRecorder) WithGroup(string) slog.Handler { return r }

// withStack returns the records that carry a "stack" attribute.
func (r logRecorder) withStack() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range *r.records {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "stack" {
				out = append(out, rec)
				return false
			}
			return true
		})
	}
	return out
}

// atLevel returns the records logged at level.
func (r logRecorder) atLevel(level slog.Level) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range *r.records {
		if rec.Level == level {
			out = append(out, rec)
		}
	}
	return out
}

func attr(rec slog.Record, key string) slog.Value {
	var v slog.Value
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// localSession opens a local-mode session that logs into a recorder.
func localSession(t *testing.T) (*driver.Session, logRecorder) {
	t.Helper()
	rec := newLogRecorder()
	cfg := driver.DefaultConfig()
	cfg.Parallelism = 2
	cfg.LocalDir = t.TempDir()
	cfg.Logger = slog.New(rec)
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rec
}

// failing runs its user function on one element in one partition, so the
// number of calls is the number of attempts; how it fails is chosen by the
// argument.
var failing = rdd.Func(func(how string) *rdd.RDD[int] {
	return rdd.Map(rdd.Parallelize([]int{1}, rdd.Partitions(1)), func(x int) int {
		calls.Add(1)
		switch how {
		case "panic":
			panic(fmt.Sprintf("boom on %d", x)) // panic site: the line TaskError.Frame must name
		case "sentinel":
			panic(fmt.Errorf("record %d: %w", x, errLocal))
		case "typed":
			panic(&recordError{Record: x})
		case "permanent":
			panic(rdd.Permanent(fmt.Errorf("record %d: %w", x, errLocal)))
		}
		return x
	})
})

var (
	calls    atomic.Int64
	errLocal = errors.New("a sentinel the user's package declares")
)

type recordError struct{ Record int }

func (e *recordError) Error() string { return fmt.Sprintf("bad record %d", e.Record) }

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// A panicking user function fails the job after 4 attempts, with the
// user's file:line on the first line of the job's error, and its stack in
// the log exactly once, at ERROR.
func TestPanicNamesTheUsersLine(t *testing.T) {
	s, logs := localSession(t)
	calls.Store(0)
	_, err := rdd.Collect(context.Background(), s, failing.Invoke("panic"))
	if err == nil {
		t.Fatal("the job succeeded")
	}
	site := sourceLine(t, "taskerror_test.go", "// panic site:")
	if got := firstLine(err.Error()); !strings.Contains(got, site+": panic: boom on 1") {
		t.Fatalf("first line of the job's error:\n%s\nwant it to name %s", got, site)
	}
	var te *rdd.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("errors.As(%v, *rdd.TaskError) is false", err)
	}
	if te.Frame != site || te.Partition != 0 || te.Attempt != 3 || te.Worker != "local" || te.Permanent ||
		te.Message != "boom on 1" || !strings.Contains(te.Stack, "taskerror_test.go") || strings.Contains(te.Error(), "goroutine") {
		t.Fatalf("TaskError %+v", *te)
	}
	if !errors.Is(err, scheduler.ErrTaskFailed) {
		t.Fatalf("%v does not wrap scheduler.ErrTaskFailed", err)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("the user function ran %d times, want 4 attempts", n)
	}

	stacks := logs.withStack()
	if len(stacks) != 1 {
		t.Fatalf("%d log records carry a stack, want exactly 1", len(stacks))
	}
	rec := stacks[0]
	if rec.Level != slog.LevelError || !strings.Contains(attr(rec, "stack").String(), "taskerror_test.go") ||
		attr(rec, "attempt").String() != "3" || attr(rec, "task").String() != "0" || attr(rec, "worker").String() != "local" {
		t.Fatalf("the stack's record: level %v, message %q, attrs attempt=%v task=%v worker=%v", rec.Level, rec.Message, attr(rec, "attempt"), attr(rec, "task"), attr(rec, "worker"))
	}
	if errs := logs.atLevel(slog.LevelError); len(errs) != 1 {
		t.Fatalf("%d ERROR records, want 1", len(errs))
	}
}

// In local mode the user's error value reaches the driver: errors.Is
// finds a sentinel, errors.As a typed error, with no registration.
func TestErrorsIsAndAsLocally(t *testing.T) {
	s, _ := localSession(t)
	calls.Store(0)
	_, err := rdd.Collect(context.Background(), s, failing.Invoke("sentinel"))
	if !errors.Is(err, errLocal) {
		t.Fatalf("errors.Is(%v, errLocal) is false", err)
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("a transient error ran %d attempts, want 4", n)
	}
	var te *rdd.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Frame, "taskerror_test.go:") {
		t.Fatalf("errors.As: %v; TaskError %+v", err, te)
	}

	_, err = rdd.Collect(context.Background(), s, failing.Invoke("typed"))
	var re *recordError
	if !errors.As(err, &re) || re.Record != 1 {
		t.Fatalf("errors.As(%v, *recordError) gave %v", err, re)
	}
}

// An error the user marks permanent fails the job on the first attempt.
func TestPermanentUserErrorRunsOnce(t *testing.T) {
	s, logs := localSession(t)
	calls.Store(0)
	_, err := rdd.Collect(context.Background(), s, failing.Invoke("permanent"))
	if !errors.Is(err, rdd.ErrPermanent) || !errors.Is(err, errLocal) {
		t.Fatalf("job error %v; want it to match rdd.ErrPermanent and the user's sentinel", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("a permanent error ran %d attempts, want 1", n)
	}
	if n := len(logs.withStack()); n != 1 {
		t.Fatalf("%d log records carry a stack, want 1", n)
	}
}

type unencodable struct {
	N int
	F func() int
}

var unencodableF = rdd.Func(func(n int) *rdd.RDD[unencodable] {
	return rdd.Map(rdd.Parallelize([]int{n}, rdd.Partitions(1)), func(x int) unencodable {
		return unencodable{N: x, F: func() int { return x }}
	})
})

var linesF = rdd.Func(func(path string) *rdd.RDD[string] {
	return rdd.TextFileWith(rdd.TextOptions{MinPartitions: 1, MaxSplitBytes: 1 << 30}, path)
})

// Errors that cannot change on retry fail the job on the first attempt,
// with no stack repeated in the log: the three cases of issue 8.
func TestDeterministicErrorsAreNotRetried(t *testing.T) {
	t.Run("unencodable element", func(t *testing.T) {
		s, logs := localSession(t)
		_, err := rdd.Collect(context.Background(), s, unencodableF.Invoke(1))
		if err == nil || !strings.Contains(err.Error(), "driver_test.unencodable") {
			t.Fatalf("job error %v; want one naming the element type", err)
		}
		// At most one attempt: a check before any task runs may catch it
		// instead.
		if m := s.Metrics(); m.TasksFailed > 1 {
			t.Fatalf("%d attempts failed, want at most 1", m.TasksFailed)
		}
		if n := len(logs.withStack()); n > 1 {
			t.Fatalf("%d log records carry a stack, want at most 1", n)
		}
	})
	t.Run("line over 64 MiB", func(t *testing.T) {
		s, logs := localSession(t)
		path := filepath.Join(t.TempDir(), "binary")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		// Sparse: 64 MiB and one byte of zeros, no newline.
		if err := f.Truncate(64<<20 + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = rdd.Collect(context.Background(), s, linesF.Invoke(path))
		if !errors.Is(err, rdd.ErrPermanent) || !strings.Contains(err.Error(), "longer than 64 MiB") {
			t.Fatalf("job error %v; want a permanent error about the long line", err)
		}
		if m := s.Metrics(); m.Tasks != 1 || m.TasksFailed != 1 {
			t.Fatalf("%d attempts, %d failed; want 1 attempt", m.Tasks, m.TasksFailed)
		}
		if n := len(logs.withStack()); n != 0 {
			t.Fatalf("%d log records carry a stack; a returned error has none", n)
		}
		if n := len(logs.atLevel(slog.LevelError)); n != 1 {
			t.Fatalf("%d ERROR records, want 1", n)
		}
	})
	t.Run("missing input file", func(t *testing.T) {
		s, _ := localSession(t)
		path := filepath.Join(t.TempDir(), "input.txt")
		if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := linesF.Invoke(path) // plans its splits while the file exists
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		_, err := rdd.Collect(context.Background(), s, r)
		if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, rdd.ErrPermanent) {
			t.Fatalf("job error %v; want a permanent fs.ErrNotExist", err)
		}
		if m := s.Metrics(); m.Tasks != 1 || m.TasksFailed != 1 {
			t.Fatalf("%d attempts, %d failed; want 1 attempt", m.Tasks, m.TasksFailed)
		}
	})
}

// sourceLine returns file:line of the first line of file (in this
// directory) that contains marker.
func sourceLine(t *testing.T, file, marker string) string {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, marker) {
			return fmt.Sprintf("%s:%d", abs, i+1)
		}
	}
	t.Fatalf("no %q in %s", marker, file)
	return ""
}

// A driver program whose job panics exits 1 and prints the error on one
// line that names the panic's file:line.
func TestMainPrintsTheUsersLine(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), asPanickingMain+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v; want status 1\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	want := sourceLine(t, "taskerror_test.go", "// panic site:")
	prefix := filepath.Base(os.Args[0]) + ": "
	if !strings.HasPrefix(last, prefix) || !strings.Contains(last, want+": panic: boom on 1") {
		t.Fatalf("the program's last line:\n%s\nwant %q and %s", last, prefix, want)
	}
}
