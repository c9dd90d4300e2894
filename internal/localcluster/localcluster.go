// Package localcluster starts `sluice worker` processes on loopback: the
// one implementation behind `sluice up`, `sluice chaos` and the tests'
// clusters (internal/clustertest). Each worker listens on a free port,
// joins the first, and is tracked by its PID: stopped, killed and reaped
// by PID, never by name.
//
//	c, err := localcluster.Start(ctx, localcluster.Options{Bin: sluice, Dir: dir, Core: 1, Task: 2})
//	defer c.Kill()
//	// run a driver with --join c.Join
//	c.Workers[1].Signal(syscall.SIGTERM)
//
// (This package is separate from driver's --local-cluster, which runs
// worker daemons inside the driver's own process.)
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/loopback"
)

// The roles of workers, as `sluice worker --role` takes them.
const (
	RoleCore = "core"
	RoleTask = "task"
)

// Options say what cluster to start.
type Options struct {
	Bin        string   // the sluice binary, run as `sluice worker`
	Dir        string   // parent of each worker's --dir, ROLE-N
	Core, Task int      // workers of each role, started by Start
	Slots      int      // --slots of every worker; at least 1
	Args       []string // more `sluice worker` flags for every worker
	Env        []string // added to this process's environment
	// Output gives the writer of a worker's standard output and error,
	// called before it starts; nil means this process's standard error.
	// An *os.File is handed to the worker itself, and closed here once
	// the worker has started with its copy.
	Output func(w *Worker) (io.Writer, error)
	// DeathSignal is what a worker gets when the thread that started it
	// exits (Pdeathsig): a caller that outlives its workers on purpose
	// keeps that thread (runtime.LockOSThread). Zero means SIGKILL.
	DeathSignal syscall.Signal
	// StartTimeout bounds the wait for each worker to listen; zero means
	// 30 s, enough for a cold binary on a busy machine.
	StartTimeout time.Duration
}

// Cluster is a set of running worker processes.
type Cluster struct {
	Join    string // the first worker's gossip address
	Workers []*Worker
	opts    Options
}

// Worker is one `sluice worker` process.
type Worker struct {
	Name string // ROLE-N, also the last element of Dir by default
	Role string
	Addr string // its gossip address (--listen)
	Dir  string // its --dir
	cmd  *exec.Cmd

	once   sync.Once
	exited chan struct{}
}

// New returns a cluster of no workers yet, for Add.
func New(o Options) (*Cluster, error) {
	if o.Slots < 1 {
		return nil, fmt.Errorf("localcluster: Slots %d: need at least 1", o.Slots)
	}
	if o.Bin == "" {
		return nil, errors.New("localcluster: no sluice binary")
	}
	return &Cluster{opts: o}, nil
}

// Start starts o.Core core workers, then o.Task task workers, one after
// another, each joining the first. On an error it kills those it started.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Core+o.Task < 1 {
		return nil, errors.New("localcluster: no workers to start")
	}
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	for i := range o.Core + o.Task {
		role := RoleCore
		if i >= o.Core {
			role = RoleTask
		}
		if _, err := c.Add(ctx, role, ""); err != nil {
			c.Kill()
			return nil, err
		}
	}
	return c, nil
}

// Add starts one more worker with role, its --dir at dir (empty: under
// Options.Dir) and extra flags, joining the cluster, and waits until it
// listens. A free port can be taken by another process before the worker
// binds it; the worker then exits at once and another port is tried.
func (c *Cluster) Add(ctx context.Context, role, dir string, extra ...string) (*Worker, error) {
	for try := 0; ; try++ {
		w, err := c.add(ctx, role, dir, extra)
		if err == nil {
			return w, nil
		}
		if try == 2 || !errors.Is(err, loopback.ErrExited) {
			return nil, err
		}
	}
}

func (c *Cluster) add(ctx context.Context, role, dir string, extra []string) (*Worker, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%d", role, len(c.Workers))
	if dir == "" {
		dir = filepath.Join(c.opts.Dir, name)
	}
	w := &Worker{Name: name, Role: role, Addr: addr, Dir: dir, exited: make(chan struct{})}
	args := []string{"worker", "--listen", addr, "--role", role, "--slots", strconv.Itoa(c.opts.Slots), "--dir", dir}
	if c.Join != "" {
		args = append(args, "--join", c.Join)
	}
	args = append(append(args, c.opts.Args...), extra...)
	w.cmd = exec.Command(c.opts.Bin, args...)
	w.cmd.Env = append(os.Environ(), c.opts.Env...)
	var out io.Writer = os.Stderr
	if c.opts.Output != nil {
		if out, err = c.opts.Output(w); err != nil {
			return nil, err
		}
	}
	w.cmd.Stdout, w.cmd.Stderr = out, out
	sig := c.opts.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: sig}
	err = w.cmd.Start()
	if f, ok := out.(*os.File); ok && c.opts.Output != nil {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("localcluster: starting worker %s: %w", name, err)
	}
	go func() { w.cmd.Wait(); close(w.exited) }()
	limit := c.opts.StartTimeout
	if limit <= 0 {
		limit = 30 * time.Second
	}
	if err := loopback.Await(ctx, addr, limit, w.exited); err != nil {
		w.Kill()
		return nil, fmt.Errorf("localcluster: worker %s at %s: %w", name, addr, err)
	}
	if c.Join == "" {
		c.Join = addr
	}
	c.Workers = append(c.Workers, w)
	return w, nil
}

// Kill sends SIGKILL to every worker by its PID and waits for all; their
// executors die with them (Pdeathsig).
func (c *Cluster) Kill() {
	for _, w := range c.Workers {
		w.cmd.Process.Kill()
	}
	for _, w := range c.Workers {
		w.Kill()
	}
}

// Stop sends SIGTERM to every worker, which drains and leaves, then
// SIGKILL to those still running after grace, and waits for all.
func (c *Cluster) Stop(grace time.Duration) {
	for _, w := range c.Workers {
		w.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for _, w := range c.Workers {
		select {
		case <-w.exited:
		case <-deadline.C:
			c.Kill()
			return
		}
	}
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

// Signal sends sig to the worker's process, by PID. After it exited (and
// was reaped) it returns os.ErrProcessDone.
func (w *Worker) Signal(sig os.Signal) error { return w.cmd.Process.Signal(sig) }

// Exited is closed when the worker's process has ended.
func (w *Worker) Exited() <-chan struct{} { return w.exited }

// Running reports whether the worker's process has not exited.
func (w *Worker) Running() bool {
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

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
