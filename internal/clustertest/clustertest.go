// Package clustertest starts real `sluice worker` processes on loopback
// for tests (with internal/localcluster, as `sluice up` and `sluice chaos`
// do): each on a free port, each killed by its PID when the test ends,
// each asked for its state by its Status route.
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
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/localcluster"
	"github.com/sluicehq/sluice/internal/loopback"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/worker"
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

// Cluster is a set of running worker processes (internal/localcluster),
// each killed by its PID when the test ends.
type Cluster struct {
	Join    string // the first worker's gossip address
	Workers []*Worker
	lc      *localcluster.Cluster
	opts    Options

	mu     sync.Mutex
	logs   map[string]*syncBuffer // by worker name, until Add wraps the worker
	client *rpc.Client            // for Status; made on first use
}

// Worker is one `sluice worker` process.
type Worker struct {
	*localcluster.Worker
	c   *Cluster
	log *syncBuffer
}

// Start starts the workers, one after another, each joining the first,
// and registers cleanups that kill them by PID.
func Start(t testing.TB, bin string, o Options) *Cluster {
	t.Helper()
	if o.Slots == 0 {
		o.Slots = 2
	}
	c := &Cluster{opts: o, logs: map[string]*syncBuffer{}}
	lc, err := localcluster.New(localcluster.Options{
		Bin: bin, Dir: t.TempDir(), Slots: o.Slots, Args: o.Args, Env: o.Env, Output: c.output,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.lc = lc
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.client != nil {
			c.client.Close()
		}
	})
	for i := range o.Core + o.Task {
		role := "core"
		if i >= o.Core {
			role = "task"
		}
		c.Add(t, role)
	}
	return c
}

func (c *Cluster) output(w *localcluster.Worker) (io.Writer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &syncBuffer{}
	c.logs[w.Name] = b
	return b, nil
}

// Add starts one more worker with role, joining the cluster.
func (c *Cluster) Add(t testing.TB, role string) *Worker {
	t.Helper()
	return c.AddAt(t, role, "")
}

// AddAt is Add with the worker's --dir at dir (empty: a new temporary
// directory) and more `sluice worker` flags.
func (c *Cluster) AddAt(t testing.TB, role, dir string, args ...string) *Worker {
	t.Helper()
	lw, err := c.lc.Add(context.Background(), role, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	w := &Worker{Worker: lw, c: c, log: c.logs[lw.Name]}
	delete(c.logs, lw.Name)
	c.mu.Unlock()
	t.Cleanup(func() {
		w.Kill()
		if t.Failed() {
			t.Logf("worker %s (%s) log:\n%s", w.Addr, w.Role, w.Log())
		}
	})
	c.Join = c.lc.Join
	c.Workers = append(c.Workers, w)
	return w
}

// Status asks the worker's Status route, at the RPC address it wrote to
// worker.json in its --dir, with the credentials the workers resolve
// (their --secret-file or environment given in Options, else the
// development secret on loopback).
func (w *Worker) Status(ctx context.Context) (worker.Status, error) {
	addr, err := worker.ReadAddress(w.Dir)
	if err != nil {
		return worker.Status{}, err
	}
	if addr.PID != w.PID() {
		return worker.Status{}, fmt.Errorf("clustertest: %s/worker.json is from process %d, not %d: %w", w.Dir, addr.PID, w.PID(), worker.ErrNoAddress)
	}
	client, err := w.c.rpcClient(w)
	if err != nil {
		return worker.Status{}, err
	}
	st, err := rpc.Call[worker.StatusRequest, worker.Status](ctx, client, addr.RPC, worker.MethodStatus, &worker.StatusRequest{})
	if err != nil {
		return worker.Status{}, err
	}
	return *st, nil
}

func (c *Cluster) rpcClient(w *Worker) (*rpc.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	opts := trust.Options{Addrs: []string{w.Addr}, Getenv: func(k string) string {
		for _, kv := range slices.Backward(c.opts.Env) {
			if name, v, ok := strings.Cut(kv, "="); ok && name == k {
				return v
			}
		}
		return os.Getenv(k)
	}}
	if i := slices.Index(c.opts.Args, "--secret-file"); i >= 0 && i+1 < len(c.opts.Args) {
		opts.SecretFile = c.opts.Args[i+1]
	}
	opts.Insecure = slices.Contains(c.opts.Args, "--insecure")
	creds, _, err := trust.Resolve(opts)
	if err != nil {
		return nil, err
	}
	cfg := rpc.ClientConfig{}
	if creds != nil {
		cfg.TLS = creds.ClientTLS()
	}
	c.client = rpc.NewClient(cfg)
	return c.client, nil
}

// ExecutorPIDs returns the PIDs of the executors the worker runs now, by
// its Status route; none while it cannot be asked.
func (w *Worker) ExecutorPIDs() []int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := w.Status(ctx)
	if err != nil {
		return nil
	}
	var pids []int
	for _, a := range st.Apps {
		if a.PID > 0 {
			pids = append(pids, a.PID)
		}
	}
	return pids
}

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

// ExampleMain is the TestMain of an example program's tests: the test
// binary runs the example's main instead of its tests when the variable
// asMain is "1" (a test running the program as a driver) or a worker
// started it as an executor; otherwise it runs the tests with a private
// configuration home (PrivateConfigHome).
func ExampleMain(m *testing.M, asMain string, main func()) {
	if os.Getenv(asMain) == "1" || worker.IsExecutor() {
		main()
		return
	}
	cleanup := PrivateConfigHome()
	code := m.Run()
	cleanup()
	os.Exit(code)
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
