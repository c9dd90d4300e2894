// Package clustertest starts real `sluice worker` processes on loopback
// for tests: each on a free port, each killed by its PID when the test
// ends.
//
//	bin := clustertest.BuildSluice(t)
//	c := clustertest.Start(t, bin, clustertest.Options{Core: 1, Task: 2})
//	// run a driver with --join c.Join
//	c.Workers[1].Kill()
//
// Hosts makes separate network hosts on one machine instead (network
// namespaces joined by a relay in the test process that can drop, delay
// and cut each host's packets); see Hub.
package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/loopback"
)

// BuildSluice builds cmd/sluice into a temporary directory of t and
// returns the binary's path.
func BuildSluice(t testing.TB) string {
	t.Helper()
	return BuildSluiceInto(t, t.TempDir())
}

// BuildSluiceInto builds cmd/sluice into dir and returns the binary's path.
func BuildSluiceInto(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/sluicehq/sluice/cmd/sluice")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building sluice: %v\n%s", err, b)
	}
	return out
}

// Options says what cluster to start.
type Options struct {
	Core, Task int // workers of each role
	Slots      int // per worker; default 2
	Env        []string
	Args       []string // more `sluice worker` flags for every worker
}

// Cluster is a set of running worker processes.
type Cluster struct {
	Join    string // the first worker's gossip address
	Workers []*Worker
	bin     string
	opts    Options
}

// Worker is one `sluice worker` process.
type Worker struct {
	Role string
	Addr string
	Dir  string
	cmd  *exec.Cmd
	log  *syncBuffer

	once   sync.Once
	exited chan struct{}
}

// Start starts the workers, one after another, each joining the first,
// and registers cleanups that kill them by PID.
func Start(t testing.TB, bin string, o Options) *Cluster {
	t.Helper()
	if o.Slots == 0 {
		o.Slots = 2
	}
	c := &Cluster{bin: bin, opts: o}
	for i := range o.Core + o.Task {
		role := "core"
		if i >= o.Core {
			role = "task"
		}
		c.Add(t, role)
	}
	return c
}

// Add starts one more worker with role, joining the cluster. A free port
// can be taken by another process before the worker binds it; then the
// worker exits at once and another port is tried.
func (c *Cluster) Add(t testing.TB, role string) *Worker {
	t.Helper()
	return c.AddAt(t, role, "")
}

// AddAt is Add with the worker's --dir at dir (empty: a new temporary
// directory) and more `sluice worker` flags.
func (c *Cluster) AddAt(t testing.TB, role, dir string, args ...string) *Worker {
	t.Helper()
	for try := 0; ; try++ {
		w, err := c.add(t, role, dir, args)
		if err == nil {
			return w
		}
		if try == 2 || !errors.Is(err, loopback.ErrExited) {
			t.Fatal(err)
		}
	}
}

func (c *Cluster) add(t testing.TB, role, dir string, extra []string) (*Worker, error) {
	t.Helper()
	i := len(c.Workers)
	addr := FreeAddr(t)
	if dir == "" {
		dir = filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d", role, i))
	}
	w := &Worker{Role: role, Addr: addr, Dir: dir, log: &syncBuffer{}, exited: make(chan struct{})}
	args := []string{"worker", "--listen", addr, "--role", role, "--slots", strconv.Itoa(c.opts.Slots), "--dir", w.Dir}
	if c.Join != "" {
		args = append(args, "--join", c.Join)
	}
	args = append(append(args, c.opts.Args...), extra...)
	w.cmd = exec.Command(c.bin, args...)
	w.cmd.Env = append(os.Environ(), c.opts.Env...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		w.Kill()
		if t.Failed() {
			t.Logf("worker %s (%s) log:\n%s", w.Addr, w.Role, w.log.String())
		}
	})
	if err := loopback.Await(context.Background(), addr, 30*time.Second, w.exited); err != nil {
		w.Kill()
		return nil, fmt.Errorf("worker %s: %w\n%s", addr, err, w.log.String())
	}
	if c.Join == "" {
		c.Join = addr
	}
	c.Workers = append(c.Workers, w)
	return w, nil
}

// Kill sends SIGKILL to the worker's process (by PID) and waits for it.
func (w *Worker) Kill() {
	w.once.Do(func() {
		w.cmd.Process.Kill()
		<-w.exited
	})
}

// PID returns the worker process's PID.
func (w *Worker) PID() int { return w.cmd.Process.Pid }

// Signal sends sig to the worker's process.
func (w *Worker) Signal(sig os.Signal) error { return w.cmd.Process.Signal(sig) }

// ExitCode returns the process's exit code once it has exited (-1 before,
// or when a signal ended it).
func (w *Worker) ExitCode() int {
	select {
	case <-w.exited:
		return w.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Exited is closed when the worker's process has ended.
func (w *Worker) Exited() <-chan struct{} { return w.exited }

// ExecutorPIDs returns the PIDs of the executors the worker started, from
// its log.
func (w *Worker) ExecutorPIDs() []int {
	var pids []int
	for _, m := range executorPID.FindAllStringSubmatch(w.Log(), -1) {
		if pid, err := strconv.Atoi(m[1]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

var executorPID = regexp.MustCompile(`msg="executor started".* pid=(\d+)`)

// Log returns what the worker printed so far.
func (w *Worker) Log() string { return w.log.String() }

// FreeAddr returns a 127.0.0.1 address whose port is free for TCP and UDP.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil // keep the first MiB: enough to debug, bounded
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PrivateConfigHome points $XDG_CONFIG_HOME at a fresh temporary directory
// for this process and the processes it starts, so that workers and
// drivers on loopback without a secret share a development secret of the
// test's own (trust.DevSecretFile) instead of the user's. Call it in
// TestMain before m.Run; the returned function removes the directory.
func PrivateConfigHome() (cleanup func()) {
	dir, err := os.MkdirTemp("", "sluice-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	return func() { os.RemoveAll(dir) }
}

// RunContext runs cmd and waits for it, killing it by PID if ctx ends
// first; then it returns ctx's error.
func RunContext(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// Once builds cmd/sluice at most once per test binary, for the packages
// whose tests start many clusters. Call Cleanup in TestMain after m.Run.
type Once struct {
	once sync.Once
	dir  string
	bin  string
}

// Path returns the binary, building it on the first call.
func (o *Once) Path(t testing.TB) string {
	t.Helper()
	o.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			t.Fatal(err)
		}
		o.dir = dir
		o.bin = BuildSluiceInto(t, dir)
	})
	if o.bin == "" {
		t.Fatal("building sluice failed")
	}
	return o.bin
}

// Cleanup removes the binary's directory.
func (o *Once) Cleanup() {
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
}
