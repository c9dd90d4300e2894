package driver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/sluicehq/sluice/internal/version"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// cluster runs tasks on the executors of workers found by gossip. The
// driver joins the cluster as a member with role driver, uploads its own
// binary to each worker once (by sha256), has each start one executor for
// this application, and calls RunTask on the executors.
type cluster struct {
	s      *Session
	app    string
	node   *membership.Node
	client *rpc.Client
	creds  *trust.Creds // nil with --insecure
	src    trust.Source // where creds came from
	sha    string
	bin    []byte
	addr   string // the driver's RPC address
	joinAt []string
	min    int      // workers to wait for
	minBy  string   // the setting min comes from
	args   []string // the executors' command line and environment: the driver's
	env    []string

	stopServe context.CancelFunc
	served    chan error
	ctx       context.Context // cancelled by close
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	cancels taskCancels

	mu      sync.Mutex
	workers map[string]*remote // ready or being set up, by member name
	lastErr error              // why the last worker could not be used
}

// remote is one worker's executor.
type remote struct {
	name      string
	role      string
	slots     int
	draining  bool
	everReady bool   // the scheduler was told of it
	rpc       string // the worker's address: shuffle fetches
	exec      string // the executor's address: tasks
	// execCtx is cancelled, with errFrozen, when the executor at exec stops
	// answering heartbeats: the calls of its tasks end and they are lost.
	execCtx    context.Context
	execCancel context.CancelCauseFunc
	beat       time.Time // the executor's last answered heartbeat
	replace    string    // a frozen executor the worker must replace
	lowDisk    bool      // the worker gossips that its disk is nearly full
	flap       flapDetector
	ctx        context.Context
	cancel     context.CancelFunc
}

// clusterOpts say which cluster to join.
type clusterOpts struct {
	join       []string
	minWorkers int
	minFlag    string // the setting minWorkers comes from, for messages
	// creds, when set, are the cluster's (--local-cluster's, made for the
	// session); otherwise they come from the secret flags (trust.Resolve).
	creds *trust.Creds
}

// usageError is a mistake on the command line: Main exits 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// checkJoin checks --join before the driver tries it: one line per bad
// entry, at once, where joining would wait --wait and flood the log.
func checkJoin(addrs []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := membership.CheckAddrs(ctx, addrs, nil)
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var lines []error
	for _, e := range multi.Unwrap() {
		lines = append(lines, fmt.Errorf("--join %w", e))
	}
	return usageError{errors.Join(lines...)}
}

func newCluster(s *Session, o clusterOpts) (*cluster, error) {
	cfg := s.cfg
	if o.creds == nil {
		if err := checkJoin(o.join); err != nil {
			return nil, err
		}
	}
	args, env := os.Args[1:], worker.UserEnv(os.Environ())
	if n := worker.ExecEnvSize(args, env); n > worker.MaxExecEnv {
		return nil, fmt.Errorf("driver: this program's command line and environment are %s, over the %s its executors can start with: pass large values in a file", units.FormatBytes(int64(n)), units.FormatBytes(worker.MaxExecEnv))
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("driver: finding this program's binary: %w", err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		return nil, fmt.Errorf("driver: reading this program's binary: %w", err)
	}
	if len(bin) > worker.MaxBinary {
		return nil, fmt.Errorf("driver: this program's binary %s is %s, over the %s workers accept", self, units.FormatBytes(int64(len(bin))), units.FormatBytes(worker.MaxBinary))
	}
	host := listenHost(cfg.Listen, o.join)
	creds := o.creds
	var src trust.Source
	if creds == nil {
		addrs := append([]string{cfg.Listen}, o.join...)
		if cfg.Listen == "" {
			addrs[0] = host
		}
		if creds, src, err = trust.Resolve(trust.Options{SecretFile: cfg.SecretFile, TLS: cfg.TLSFiles, Insecure: cfg.Insecure, Addrs: addrs}); err != nil {
			return nil, fmt.Errorf("driver: %w", err)
		}
	}
	if src == trust.FromInsecure {
		s.log.Warn("--insecure: no cluster secret; this driver's gossip and RPC are neither authenticated nor encrypted")
	}
	ccfg := rpc.ClientConfig{Logger: s.log, MaxBody: worker.MaxBinary}
	scfg := rpc.ServerConfig{Logger: s.log}
	if creds != nil {
		ccfg.TLS, scfg.TLS = creds.ClientTLS(), creds.ServerTLS()
	}
	sum := sha256.Sum256(bin)
	var id [6]byte
	rand.Read(id[:])
	c := &cluster{
		src: src, s: s, app: fmt.Sprintf("app-%s-%s", time.Now().UTC().Format("20060102T150405"), hex.EncodeToString(id[:])),
		client: rpc.NewClient(ccfg), creds: creds,
		sha: hex.EncodeToString(sum[:]), bin: bin, workers: map[string]*remote{},
		joinAt: o.join, min: o.minWorkers, minBy: o.minFlag, args: args, env: env,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	ln, err := rpc.Listen(net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	c.addr = ln.Addr().String()
	// Listening on every interface: workers on other hosts reach this
	// driver at the address that routes to the cluster, never at [::].
	advertise := ""
	if membership.IsUnspecified(c.addr) && len(cfg.Join) > 0 {
		ip, err := membership.LocalIPFor(cfg.Join[0])
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("driver: %w; give --listen HOST:PORT with an address the workers can reach", err)
		}
		_, port, _ := net.SplitHostPort(c.addr)
		c.addr = net.JoinHostPort(ip, port)
		advertise = ip
	}
	srv := rpc.NewServer(scfg)
	rpc.Handle(srv, worker.MethodCanCommit, func(ctx context.Context, req *worker.CanCommitRequest) (*worker.CanCommitResponse, error) {
		if req.App != c.app {
			return nil, fmt.Errorf("driver: commit request for application %s, not %s", req.App, c.app)
		}
		ok, err := committer{s}.CanCommit(ctx, req.Stage, req.Part, req.Attempt)
		return &worker.CanCommitResponse{OK: ok}, err
	})
	serveCtx, stopServe := context.WithCancel(context.Background())
	c.stopServe, c.served = stopServe, make(chan error, 1)
	go func() { c.served <- srv.Serve(serveCtx, ln) }()

	mcfg := membership.DefaultConfig()
	mcfg.Name = "driver-" + c.app
	mcfg.BindAddr = cfg.Listen
	if mcfg.BindAddr == "" {
		mcfg.BindAddr = net.JoinHostPort(host, "0")
	}
	if advertise != "" && membership.IsUnspecified(mcfg.BindAddr) {
		// Port 0 here advertises the port memberlist binds.
		mcfg.AdvertiseAddr = net.JoinHostPort(advertise, "0")
	}
	mcfg.Logger = s.log
	if creds != nil {
		mcfg.Keys = creds.GossipKeys()
	}
	mcfg.Meta = membership.Meta{Role: worker.RoleDriver, State: worker.StateAlive, RPC: c.addr, Version: version.Version, App: c.app}
	if c.node, err = membership.Start(mcfg); err != nil {
		c.close()
		return nil, err
	}
	if err := c.join(); err != nil {
		c.close()
		return nil, err
	}
	c.wg.Go(c.watch)
	c.wg.Go(c.heartbeats)
	if err := c.awaitWorkers(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// listenHost picks the driver's address: loopback when the cluster is on
// loopback, so that a local cluster never talks over a real interface.
func listenHost(listen string, join []string) string {
	if listen != "" {
		h, _, _ := net.SplitHostPort(listen)
		return h
	}
	for _, j := range join {
		h, _, err := net.SplitHostPort(j)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
			return "127.0.0.1"
		}
	}
	return "0.0.0.0"
}

// join retries until a member answers or --wait passes.
func (c *cluster) join() error {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.Wait)
	defer cancel()
	var err error
	for {
		if _, err = c.node.Join(ctx, c.joinAt); err == nil {
			return nil
		}
		if errors.Is(err, membership.ErrNotMember) {
			return fmt.Errorf("driver: %w; --join takes the gossip address a worker listens on (its --listen), not its RPC port", err)
		}
		if errors.Is(err, membership.ErrKeyMismatch) {
			// A different secret does not heal by waiting.
			return c.keyMismatch()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("driver: cannot join the cluster at %v within --wait %v: %w", c.joinAt, c.s.cfg.Wait, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// keyMismatch is the error of a driver whose gossip the cluster refused:
// one line that names the members tried and the setting to change.
func (c *cluster) keyMismatch() error {
	at := strings.Join(c.joinAt, ",")
	switch c.src {
	case trust.FromInsecure:
		return fmt.Errorf("driver: the cluster at %s has a cluster secret and this driver runs --insecure: give --secret-file FILE (or $%s) with the workers' secret", at, trust.EnvSecretFile)
	case trust.FromDev:
		dev, _ := trust.DevSecretFile()
		return fmt.Errorf("driver: the cluster at %s refused this driver's cluster secret (no --secret-file was given, so it used the development secret %s): give --secret-file FILE (or $%s) with the workers' secret, or --insecure if they run without one", at, dev, trust.EnvSecretFile)
	}
	return fmt.Errorf("driver: the cluster at %s refused this driver's cluster secret %s: check --secret-file (or $%s): it must hold the workers' secret, or give --insecure if they run without one", at, c.creds.Fingerprint(), trust.EnvSecretFile)
}

// awaitWorkers waits until --min-workers executors are ready.
func (c *cluster) awaitWorkers() error {
	deadline := time.NewTimer(c.s.cfg.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := c.ready(); n >= c.min {
			return nil
		}
		select {
		case <-deadline.C:
			c.mu.Lock()
			last := c.lastErr
			c.mu.Unlock()
			err := fmt.Errorf("driver: %d of %s %d workers ready at %v after --wait %v",
				c.ready(), c.minBy, c.min, c.joinAt, c.s.cfg.Wait)
			if last != nil {
				err = fmt.Errorf("%w; last failure: %w", err, last)
			}
			return err
		case <-tick.C:
		}
	}
}

func (c *cluster) ready() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.workers {
		if r.exec != "" {
			n++
		}
	}
	return n
}

// watch follows membership: workers that appear get an executor, workers
// that go are withdrawn from the scheduler.
func (c *cluster) watch() {
	for _, m := range c.node.Members() {
		c.added(m)
	}
	for {
		select {
		case ev := <-c.node.Events():
			switch ev.Kind {
			case membership.Joined, membership.Updated:
				if ev.Member.Meta.State == worker.StateDraining {
					c.draining(ev.Member.Name)
				} else {
					c.added(ev.Member)
				}
			case membership.Left, membership.Failed:
				c.goneName(ev.Member.Name, "it "+ev.Kind.String())
			}
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *cluster) added(m membership.Member) {
	if m.Meta.Role != worker.RoleCore && m.Meta.Role != worker.RoleTask {
		return
	}
	c.mu.Lock()
	if old := c.workers[m.Name]; old != nil {
		if old.rpc == m.Meta.RPC {
			changed := old.lowDisk != m.Meta.LowDisk
			old.lowDisk = m.Meta.LowDisk
			ready := old.everReady
			c.mu.Unlock()
			if changed && ready {
				c.send(memberChange{worker: m.Name, disk: true, lowDisk: m.Meta.LowDisk})
			}
			return
		}
		// Restarted under the same name: the old instance is gone.
		c.mu.Unlock()
		c.gone(old, "it restarted")
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	ctx, cancel := context.WithCancel(c.ctx)
	r := &remote{name: m.Name, role: m.Meta.Role, slots: m.Meta.Slots, rpc: m.Meta.RPC, ctx: ctx, cancel: cancel, lowDisk: m.Meta.LowDisk}
	c.workers[m.Name] = r
	c.wg.Go(func() { c.setup(r, m.Meta.Slots) })
}

// setup ships the binary if the worker lacks it and starts the executor.
func (c *cluster) setup(r *remote, slots int) {
	ctx, cancel := context.WithTimeout(r.ctx, c.s.cfg.Wait+time.Minute)
	defer cancel()
	addr, err := c.startExecutor(ctx, r)
	// A lossy link can fail a call to a worker that still gossips; the
	// calls are idempotent (a worker runs one executor per application).
	for try := 1; try < setupTries && errors.Is(err, rpc.ErrUnavailable); try++ {
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		addr, err = c.startExecutor(ctx, r)
	}
	if err != nil {
		c.s.log.Warn("cannot use worker", "worker", r.name, "err", err)
		c.mu.Lock()
		if r.ctx.Err() == nil {
			c.lastErr = fmt.Errorf("worker %s: %w", r.name, err)
		}
		c.mu.Unlock()
		c.gone(r, err.Error())
		return
	}
	c.mu.Lock()
	if c.workers[r.name] != r {
		c.mu.Unlock()
		return
	}
	r.exec, r.everReady, r.beat, r.replace = addr, true, time.Now(), ""
	r.execCtx, r.execCancel = context.WithCancelCause(r.ctx)
	low := r.lowDisk
	c.mu.Unlock()
	c.send(memberChange{worker: r.name, slots: slots})
	if low {
		c.send(memberChange{worker: r.name, disk: true, lowDisk: true})
	}
}

// setupTries bounds the tries to start an executor on a worker that
// cannot be reached, a second more apart each time (1+2+3 s in all).
const setupTries = 4

func (c *cluster) startExecutor(ctx context.Context, r *remote) (string, error) {
	has, err := rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctx, c.client, r.rpc, worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: c.sha})
	if err != nil {
		return "", err
	}
	if !has.Have {
		c.s.log.Info("uploading binary", "worker", r.name, "size", units.FormatBytes(int64(len(c.bin))))
		if _, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, c.client, r.rpc, worker.MethodUploadBinary,
			&worker.UploadBinaryRequest{SHA256: c.sha, Size: int64(len(c.bin))}, bytes.NewReader(c.bin), int64(len(c.bin))); err != nil {
			return "", err
		}
	}
	cfg := c.s.cfg
	wd, _ := os.Getwd()
	c.mu.Lock()
	replace := r.replace
	c.mu.Unlock()
	resp, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, c.client, r.rpc, worker.MethodStartExecutor,
		&worker.StartExecutorRequest{
			App: c.app, SHA256: c.sha, Driver: c.addr, Codec: cfg.ShuffleCodec.String(), Replace: replace,
			TaskMemory: cfg.Memory, CacheMemory: cfg.CacheMemory, RegistryDigest: task.RegistryDigest(), WorkDir: wd,
			Args: c.args, Env: c.env,
		})
	if err != nil {
		return "", err
	}
	return resp.Addr, nil
}

// gone withdraws a worker instance: its running calls are cancelled
// (their tasks are lost) and the scheduler stops offering it tasks. A
// newer instance under the same name is left alone.
func (c *cluster) gone(r *remote, reason string) {
	c.mu.Lock()
	if c.workers[r.name] != r {
		c.mu.Unlock()
		return
	}
	delete(c.workers, r.name)
	ready := r.exec != "" || r.everReady
	c.mu.Unlock()
	r.cancel()
	if !ready {
		return // the scheduler never heard of it
	}
	c.workerLost(r.name)
	c.send(memberChange{worker: r.name, reason: reason})
}

// workerLost tells every executor that a worker is gone, so that fetches
// from it fail at once instead of waiting on a frozen peer.
func (c *cluster) workerLost(name string) {
	c.mu.Lock()
	var execs []string
	for _, r := range c.workers {
		if r.exec != "" {
			execs = append(execs, r.exec)
		}
	}
	c.mu.Unlock()
	for _, addr := range execs {
		c.wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			defer cancel()
			if _, err := rpc.Call[worker.WorkerLostRequest, worker.Empty](ctx, c.client, addr, worker.MethodWorkerLost, &worker.WorkerLostRequest{Worker: name}); err != nil {
				c.s.log.Debug("telling an executor a worker is lost", "worker", name, "executor", addr, "err", err)
			}
		})
	}
}

// errFrozen ends the task calls of an executor that stopped answering
// heartbeats.
var errFrozen = errors.New("driver: the executor stopped answering heartbeats")

// heartbeats asks every ready executor, each interval, what it is
// running. An executor that has not answered for --heartbeat-timeout is
// frozen (a stopped or wedged process whose worker still gossips): its
// tasks are lost, and its worker is asked to replace it.
func (c *cluster) heartbeats() {
	timeout := c.s.cfg.HeartbeatTimeout
	if timeout <= 0 {
		timeout = DefaultConfig().HeartbeatTimeout
	}
	interval := max(timeout/5, 100*time.Millisecond)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		var ready []*remote
		for _, r := range c.workers {
			if r.exec != "" {
				ready = append(ready, r)
			}
		}
		c.mu.Unlock()
		for _, r := range ready {
			c.mu.Lock()
			exec, execCtx, beat := r.exec, r.execCtx, r.beat
			c.mu.Unlock()
			if time.Since(beat) > timeout {
				c.frozen(r, exec)
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(execCtx, interval)
				defer cancel()
				resp, err := rpc.Call[worker.Empty, worker.HeartbeatResponse](ctx, c.client, exec, worker.MethodHeartbeat, nil)
				c.mu.Lock()
				flapping := r.exec == exec && r.flap.beat(err == nil, time.Now())
				c.mu.Unlock()
				if flapping {
					c.s.log.Warn("executor flapping: no new tasks for a while", "worker", r.name, "for", flapExclude)
					c.send(memberChange{worker: r.name, flapping: true})
				}
				if err != nil {
					return
				}
				if len(resp.Tasks) > 0 {
					select {
					case c.s.progress <- resp.Tasks:
					default: // the loop is busy: the next beat reports again
					}
				}
				c.mu.Lock()
				if r.exec == exec {
					r.beat = time.Now()
				}
				c.mu.Unlock()
			})
		}
	}
}

// frozen withdraws an executor that stopped answering: its running task
// calls end (the tasks are lost and go elsewhere) and its worker is asked
// to kill it and start another. Map outputs stay: the worker serves them.
func (c *cluster) frozen(r *remote, exec string) {
	c.mu.Lock()
	if c.workers[r.name] != r || r.exec != exec {
		c.mu.Unlock()
		return
	}
	r.exec, r.replace = "", exec
	r.execCancel(errFrozen)
	c.mu.Unlock()
	c.s.log.Warn("executor frozen: no heartbeat; replacing it", "worker", r.name, "executor", exec, "timeout", c.s.cfg.HeartbeatTimeout)
	c.wg.Go(func() { c.setup(r, r.slots) })
}

// goneName withdraws whatever instance of a worker is current.
func (c *cluster) goneName(name, reason string) {
	c.mu.Lock()
	r := c.workers[name]
	c.mu.Unlock()
	if r != nil {
		c.gone(r, reason)
	}
}

// send hands a membership change to the session loop, in order.
func (c *cluster) send(m memberChange) {
	select {
	case c.s.members <- m:
	case <-c.s.quit:
	case <-c.ctx.Done():
	}
}

// suspect pauses a worker whose executor refused a connection (it crashed,
// or the worker is dying): no new tasks go there, and its executor is
// started again. Its map outputs stay registered: the worker daemon, not
// the executor, serves them. If the worker is really gone, gossip says so
// within seconds and it is withdrawn then.
func (c *cluster) suspect(r *remote, slots int) {
	c.mu.Lock()
	if c.workers[r.name] != r || r.exec == "" {
		c.mu.Unlock()
		return
	}
	r.exec = ""
	c.mu.Unlock()
	c.wg.Go(func() { c.setup(r, slots) })
}

func (c *cluster) launch(spec *worker.TaskSpec, name string) {
	c.mu.Lock()
	r := c.workers[name]
	exec := ""
	var execCtx context.Context
	if r != nil {
		exec, execCtx = r.exec, r.execCtx
	}
	addrs := make(map[string]string, len(c.workers))
	for n, w := range c.workers {
		addrs[n] = w.rpc
	}
	c.mu.Unlock()
	spec.Addrs = addrs
	c.wg.Go(func() {
		var res worker.TaskResult
		if exec == "" {
			res = worker.TaskResult{TaskID: spec.Task.ID, Worker: name, Status: worker.TaskLost, WorkerLost: true, Err: "worker " + name + " is gone"}
		} else {
			ctx, cancel := context.WithTimeout(execCtx, c.s.cfg.TaskTimeout)
			c.cancels.add(spec.Task.ID, cancel)
			out, err := rpc.Call[worker.TaskSpec, worker.TaskResult](ctx, c.client, exec, worker.MethodRunTask, spec)
			c.cancels.done(spec.Task.ID)
			killed := ctx.Err() != nil && r.ctx.Err() == nil
			cancel()
			switch {
			case err == nil:
				res = *out
				if res.Status == worker.TaskSucceeded && res.MapStatus != nil && c.s.cfg.ShuffleReplicas > 0 && r.role == worker.RoleTask {
					c.replicate(r, spec, &res)
				}
			default:
				res = worker.TaskResult{TaskID: spec.Task.ID, Worker: name, Status: worker.TaskLost, Err: err.Error()}
				switch {
				case errors.Is(context.Cause(execCtx), errFrozen):
					res.WorkerLost, res.Err = true, context.Cause(execCtx).Error()
				case killed:
				case r.ctx.Err() != nil:
					res.WorkerLost = true // withdrawn while the task ran
				case errors.Is(err, rpc.ErrRefused):
					// Suspect at once: pause it, restart its executor.
					c.suspect(r, r.slots)
					res.WorkerLost = true
				}
			}
		}
		select {
		case c.s.done <- taskDone{res: res}:
		case <-c.s.quit:
		}
	})
}

func (c *cluster) kill(id int64) { c.cancels.kill(id) }

// replicate copies a map output just written on a task worker to a core
// worker before the task counts as done (--shuffle-replicas 1). Without a
// core worker, or when the copy fails, the output has no replica and is
// recomputed if its worker is lost.
func (c *cluster) replicate(r *remote, spec *worker.TaskSpec, res *worker.TaskResult) {
	to := c.core(spec.Task.Partition, r.name)
	if to == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	if err := c.copyOutput(ctx, r, to, spec.Task.Graph, spec.Task.Shuffle, spec.Task.Partition); err != nil {
		c.s.log.Warn("replicating a map output", "worker", r.name, "to", to.name, "err", err)
		return
	}
	res.MapStatus.Replica = to.name
}

// draining tells the loop that a worker is decommissioning.
func (c *cluster) draining(name string) {
	c.mu.Lock()
	r := c.workers[name]
	c.mu.Unlock()
	if r == nil {
		return
	}
	c.mu.Lock()
	r.draining = true
	ready := r.everReady
	c.mu.Unlock()
	if ready {
		c.send(memberChange{worker: name, draining: true})
	}
}

// core picks a live core worker for a copy of map output i, spreading
// copies over the core workers; "" when there is none.
func (c *cluster) core(i int, not string) *remote {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cores []*remote
	for _, r := range c.workers {
		if r.role == worker.RoleCore && r.exec != "" && !r.draining && r.name != not {
			cores = append(cores, r)
		}
	}
	if len(cores) == 0 {
		return nil
	}
	slices.SortFunc(cores, func(a, b *remote) int { return strings.Compare(a.name, b.name) })
	return cores[i%len(cores)]
}

// copyOutput has a core worker pull a map output from the worker holding it.
func (c *cluster) copyOutput(ctx context.Context, from *remote, to *remote, graph, shuffle, mapPart int) error {
	_, err := rpc.Call[worker.PullMapOutputRequest, worker.Empty](ctx, c.client, to.rpc, worker.MethodPullMapOutput,
		&worker.PullMapOutputRequest{App: c.app, Graph: graph, Shuffle: shuffle, Map: mapPart, From: from.rpc})
	return err
}

// drain moves a draining worker's map outputs to core workers, then lets
// the worker go. An output that cannot be moved stays: if the worker
// leaves, it is recomputed like any lost output.
func (c *cluster) drain(name string, outputs []scheduler.OutputRef) {
	c.mu.Lock()
	from := c.workers[name]
	c.mu.Unlock()
	if from == nil {
		return
	}
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(from.ctx, 5*time.Minute)
		defer cancel()
		moved := 0
		for _, ref := range outputs {
			to := c.core(ref.Map, name)
			if to == nil {
				c.s.log.Warn("no core worker to move map outputs to", "worker", name)
				break
			}
			if err := c.copyOutput(ctx, from, to, ref.Graph, ref.Shuffle, ref.Map); err != nil {
				c.s.log.Warn("moving a map output", "worker", name, "to", to.name, "err", err)
				continue
			}
			moved++
			// The loop applies the move before Drained goes out, so the
			// worker's departure can never find the output still there.
			done := make(chan struct{})
			select {
			case c.s.moves <- moveReq{scheduler.MapOutputMoved{Output: ref, From: name, To: to.name}, done}:
			case <-c.s.quit:
				return
			}
			select {
			case <-done:
			case <-c.s.quit:
				return
			}
		}
		c.s.log.Info("worker drained", "worker", name, "outputs_moved", moved, "outputs", len(outputs))
		if _, err := rpc.Call[worker.DrainedRequest, worker.Empty](ctx, c.client, from.rpc, worker.MethodDrained, &worker.DrainedRequest{App: c.app}); err != nil {
			c.s.log.Warn("telling a worker it is drained", "worker", name, "err", err)
		}
	})
}

// forgetGraph leaves a dropped lineage's map outputs on the workers; they
// go with the application's directory when the driver ends.
func (c *cluster) forgetGraph(int) {}

// close stops the application on every worker, leaves the cluster and
// waits for the backend's goroutines.
func (c *cluster) close() {
	c.mu.Lock()
	var addrs []string
	for _, r := range c.workers {
		addrs = append(addrs, r.rpc)
	}
	c.mu.Unlock()
	slices.Sort(addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Go(func() {
			rpc.Call[worker.StopAppRequest, worker.Empty](ctx, c.client, a, worker.MethodStopApp, &worker.StopAppRequest{App: c.app})
		})
	}
	wg.Wait()
	c.cancel()
	if c.node != nil {
		c.node.Leave(ctx)
		c.node.Shutdown()
	}
	c.wg.Wait()
	c.stopServe()
	<-c.served
	c.client.Close()
}
