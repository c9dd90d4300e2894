package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/sluicehq/sluice/internal/version"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/worker"
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
	closeOnce sync.Once
	ctx       context.Context // cancelled by close
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	cancels taskCancels

	mu      sync.Mutex
	workers map[string]*remote // ready or being set up, by member name
	lastErr error              // why the last worker could not be used
	counts  ClusterSummary     // what happened to workers and executors

	// forgotten is every graph the session forgot (forget.go), forgotVer
	// counts its changes, and sweepWake asks the sweeper to send it.
	forgotten worker.GraphRanges
	forgotVer int
	sweepWake chan struct{}
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
	swept      int       // the forgotVer whose map outputs the worker removed
	flap       clusterpolicy.FlapDetector
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
	c := &cluster{
		src: src, s: s, app: s.obs.app,
		client: rpc.NewClient(ccfg), creds: creds,
		sha: hex.EncodeToString(sum[:]), bin: bin, workers: map[string]*remote{},
		joinAt: o.join, min: o.minWorkers, minBy: o.minFlag, args: args, env: env,
		sweepWake: make(chan struct{}, 1),
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
	rpc.Handle(srv, worker.MethodBroadcast, func(ctx context.Context, req *worker.BroadcastRequest) (*worker.BroadcastResponse, error) {
		if req.App != c.app {
			return nil, rpc.Errorf("bad_request", "driver: broadcast request for application %s, not %s", req.App, c.app)
		}
		data, err := task.BroadcastData(rdd.Runner(s), req.ID)
		if err != nil {
			return nil, rpc.Errorf("not_found", "%v", err)
		}
		s.mu.Lock()
		s.metrics.BroadcastFetches++
		s.mu.Unlock()
		return &worker.BroadcastResponse{Data: data}, nil
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
	c.wg.Go(c.sweeper)
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

func (c *cluster) launch(spec *worker.TaskSpec, name string) {
	c.mu.Lock()
	r := c.workers[name]
	exec := ""
	var execCtx context.Context
	if r != nil {
		exec, execCtx = r.exec, r.execCtx
	}
	c.mu.Unlock()
	c.wg.Go(func() {
		// Only the workers holding what the task reads, so the spec stays
		// small however large the cluster. Listing them reads the task's
		// inputs, which costs a pass over the map outputs: here, not in
		// the loop.
		var holders []string
		for _, in := range spec.Task.Inputs {
			holders = append(holders, in.Workers()...)
		}
		addrs := make(map[string]string, len(holders))
		c.mu.Lock()
		for _, n := range holders {
			if w := c.workers[n]; w != nil {
				addrs[n] = w.rpc
			}
		}
		c.mu.Unlock()
		spec.Addrs = addrs
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
	c.mu.Lock()
	c.counts.OutputsReplicated++
	c.mu.Unlock()
	res.MapStatus.Replica = to.name
}

// close stops the application on every worker, leaves the cluster and
// waits for the backend's goroutines. Calls after the first do nothing.
func (c *cluster) close() { c.closeOnce.Do(c.closeNow) }

func (c *cluster) closeNow() {
	c.mu.Lock()
	var addrs []string
	for _, r := range c.workers {
		addrs = append(addrs, r.rpc)
	}
	c.mu.Unlock()
	slices.Sort(addrs)
	// A frozen or cut-off worker must not hold the driver's exit: it
	// removes the application itself when the driver leaves (or is
	// declared dead), so these calls are a courtesy, briefly waited for.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
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
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.node.Leave(lctx)
		lcancel()
		c.node.Shutdown()
	}
	c.wg.Wait()
	c.stopServe()
	<-c.served
	c.client.Close()
}

// debugGet copies GET path (a worker's PprofPath or under it, with query)
// from the named worker to w, through the cluster's mutual TLS: the UI's
// links to every worker's profiles.
func (c *cluster) debugGet(ctx context.Context, name, pathQuery string, w http.ResponseWriter) {
	c.mu.Lock()
	r := c.workers[name]
	c.mu.Unlock()
	if r == nil {
		http.Error(w, "no worker "+name+" in this application", http.StatusNotFound)
		return
	}
	tr := &http.Transport{TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 30 * time.Second}
	scheme := "http://"
	if c.creds != nil {
		tr.TLSClientConfig, scheme = c.creds.ClientTLS(), "https://"
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+r.rpc+pathQuery, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		http.Error(w, "worker "+name+": "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, 256<<20))
}
