package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
)

// The roles of cluster members.
const (
	RoleCore   = "core"   // runs tasks and keeps data that must survive
	RoleTask   = "task"   // runs tasks only; may vanish at any moment
	RoleDriver = "driver" // a driver program: never given tasks
)

// MaxBinary is the largest driver binary a worker accepts by default.
const MaxBinary = 512 << 20

// MaxTaskSpec bounds an encoded task on the wire: a task with its encoded
// arguments and map-output table.
const MaxTaskSpec = 64 << 20

// The states a worker gossips.
const (
	StateAlive    = "alive"
	StateDraining = "draining"
)

// DaemonConfig configures a worker daemon.
type DaemonConfig struct {
	Name      string   // unique member name; default: host:port of Listen
	Listen    string   // gossip address, TCP and UDP
	Advertise string   // gossip address others use; empty: Listen
	Join      []string // members to join; empty: start a new cluster
	Role      string   // RoleCore or RoleTask
	Slots     int      // task slots
	Dir       string   // shuffle files, cached binaries, executor scratch space, and worker.json (ReadAddress)
	// Creds authenticate and encrypt gossip and RPC (trust.Resolve). Nil
	// runs with neither, which only Insecure allows.
	Creds     *trust.Creds
	Insecure  bool  // --insecure: Creds may be nil; warned about at start and every InsecureWarnEvery
	MaxBinary int64 // the largest driver binary accepted; 0 means MaxBinary
	// MinFreeDisk is the free space of Dir below which the worker gossips
	// that it is low on disk, and takes no new map tasks, until it has
	// twice as much again. Zero disables the check.
	MinFreeDisk  int64
	Version      string        // gossiped so drivers can tell versions apart
	StartTimeout time.Duration // how long an executor may take to start serving
	JoinTimeout  time.Duration // how long to keep trying Join
	DrainTimeout time.Duration // how long a draining worker waits for drivers to move its work off
	Logger       *slog.Logger  // nil discards
	// Metrics, when set, is a plain-HTTP address for GET /metrics, for a
	// scraper without the cluster's certificates (--metrics). A
	// non-loopback one needs Insecure. /metrics is always served on the
	// RPC port too, behind mutual TLS.
	Metrics string
}

// DefaultDaemonConfig returns the defaults of `sluice worker`.
func DefaultDaemonConfig() DaemonConfig {
	return DaemonConfig{
		Listen:       "127.0.0.1:7946",
		Role:         RoleTask,         // the safe assumption: may vanish
		Slots:        runtime.NumCPU(), // one per core
		StartTimeout: 30 * time.Second, // a large binary on a slow disk still starts well within this
		JoinTimeout:  30 * time.Second, // covers seeds that start a little after this worker
		DrainTimeout: 90 * time.Second, // under the two minutes a spot instance gets after its notice
		MaxBinary:    MaxBinary,        // a large Go binary is 100 MiB; room to spare, bounded
		MinFreeDisk:  512 << 20,        // a map task writes up to its input split (32 MiB) times a few; room for a slot's worth
	}
}

// InsecureWarnEvery is how often a worker without credentials says so.
const InsecureWarnEvery = 5 * time.Minute

func (c *DaemonConfig) validate() error {
	switch {
	case c.Role != RoleCore && c.Role != RoleTask:
		return fmt.Errorf("--role must be core or task, not %q", c.Role)
	case c.Slots < 1:
		return fmt.Errorf("--slots must be at least 1, not %d", c.Slots)
	case c.Dir == "":
		return errors.New("--dir is required")
	case c.Creds == nil && !c.Insecure:
		return errors.New("no cluster credentials: give --secret-file FILE, or --insecure to run without")
	}
	if c.MaxBinary <= 0 {
		c.MaxBinary = MaxBinary
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: %v", c.Listen, err)
	}
	if c.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Metrics); err != nil {
			return fmt.Errorf("--metrics %q: %v", c.Metrics, err)
		}
		if !trust.IsLoopback(c.Metrics) && !c.Insecure {
			return fmt.Errorf("--metrics %s is not loopback: it has no authentication; scrape the RPC port's /metrics with the cluster's certificates, or add --insecure", c.Metrics)
		}
	}
	return nil
}

// Daemon is a worker: a cluster member that starts one executor per
// application, stores map outputs and serves them to reducers.
type Daemon struct {
	cfg  DaemonConfig
	log  *slog.Logger
	node *membership.Node
	addr string // the RPC address

	mu       sync.Mutex
	lowDisk  bool // gossiped: Dir has less than MinFreeDisk free
	apps     map[string]*app
	wg       sync.WaitGroup
	client   *rpc.Client
	draining bool
	stopping bool          // shutdown began: no new executors
	drainReq chan struct{} // Drain asks Run to drain
	ready    chan struct{} // closed once Run serves and has joined

	served atomic.Int64 // shuffle bytes sent to fetching tasks
}

type app struct {
	id      string
	dir     string
	addr    string
	cmd     *exec.Cmd
	ready   chan struct{} // closed once addr or err is set
	err     error
	done    chan struct{} // closed when the process has exited
	drained bool          // its driver moved what it needed off this worker
}

// NewDaemon checks cfg and prepares a daemon; Run starts it.
func NewDaemon(cfg DaemonConfig) (*Daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := privateDir(cfg.Dir); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ccfg := rpc.ClientConfig{Logger: log}
	if cfg.Creds != nil {
		ccfg.TLS = cfg.Creds.ClientTLS()
	}
	return &Daemon{cfg: cfg, log: log, apps: map[string]*app{}, drainReq: make(chan struct{}, 1),
		ready: make(chan struct{}), client: rpc.NewClient(ccfg)}, nil
}

// Run joins the cluster and serves until ctx is done, then stops its
// executors, leaves the cluster and returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.removeStaleApps()
	if membership.IsUnspecified(d.cfg.Listen) && d.cfg.Advertise == "" {
		// Listening on every interface: advertise the address that routes
		// to the cluster (or the host's first private address), which also
		// names the worker uniquely.
		adv, err := advertiseFor(d.cfg.Listen, d.cfg.Join)
		if err != nil {
			return err
		}
		d.cfg.Advertise = adv
	}
	host, _, _ := net.SplitHostPort(d.cfg.Listen)
	ln, err := rpc.Listen(net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	d.addr = ln.Addr().String()
	if d.cfg.Advertise != "" {
		ahost, _, _ := net.SplitHostPort(d.cfg.Advertise)
		_, port, _ := net.SplitHostPort(d.addr)
		d.addr = net.JoinHostPort(ahost, port)
	}
	scfg := rpc.ServerConfig{Logger: d.log}
	if d.cfg.Creds != nil {
		scfg.TLS = d.cfg.Creds.ServerTLS()
	}
	srv := rpc.NewServer(scfg)
	d.register(srv)
	srv.HandleGet(MetricsPath, d.metricsHandler())
	srv.HandleGet(PprofPath, pprofHandler())
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	defer func() {
		stopServe()
		<-served
	}()
	if d.cfg.Metrics != "" {
		stop, err := d.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}

	mcfg := membership.DefaultConfig()
	mcfg.Name = d.cfg.Name
	if mcfg.Name == "" {
		mcfg.Name = d.cfg.Listen
		if d.cfg.Advertise != "" {
			mcfg.Name = d.cfg.Advertise
		}
	}
	mcfg.BindAddr, mcfg.AdvertiseAddr, mcfg.Logger = d.cfg.Listen, d.cfg.Advertise, d.log
	if d.cfg.Creds != nil {
		mcfg.Keys = d.cfg.Creds.GossipKeys()
	}
	d.lowDisk = d.diskLow(false)
	mcfg.Meta = d.meta()
	d.node, err = membership.Start(mcfg)
	if err != nil {
		return err
	}
	defer d.node.Shutdown()
	if len(d.cfg.Join) > 0 {
		if err := d.join(ctx); err != nil {
			return err
		}
	}
	if err := d.writeAddress(); err != nil {
		// A full disk must not stop a worker that can say it is full.
		d.log.Warn("cannot write "+addressFile+": tools cannot find this worker's Status route", "dir", d.cfg.Dir, "err", err)
	}
	d.log.Info("worker up", "worker", d.node.Name(), "gossip", d.node.Addr(), "rpc", d.addr, "role", d.cfg.Role, "slots", d.cfg.Slots)
	close(d.ready)

	disk := time.NewTicker(diskCheckEvery)
	defer disk.Stop()
	var insecure <-chan time.Time
	if d.cfg.Creds == nil {
		t := time.NewTicker(InsecureWarnEvery)
		defer t.Stop()
		insecure = t.C
	}
	var drained <-chan struct{}
	for {
		select {
		case <-disk.C:
			d.checkDisk(ctx)
		case <-insecure:
			d.log.Warn("--insecure: this worker has no cluster secret; anyone who can reach it can run code through it", "worker", d.node.Name())
		case ev := <-d.node.Events():
			// An application ends with its driver.
			if ev.Member.Meta.Role == RoleDriver && (ev.Kind == membership.Left || ev.Kind == membership.Failed) {
				d.stopApp(ev.Member.Meta.App)
			}
		case <-d.drainReq:
			if drained == nil {
				drained = d.drain(ctx)
			}
		case <-drained:
			d.log.Info("drained", "worker", d.node.Name())
			return d.shutdown()
		case <-ctx.Done():
			return d.shutdown()
		}
	}
}

// shutdown stops the executors, leaves the cluster and waits.
func (d *Daemon) shutdown() error {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.stopAll()
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	d.node.Leave(lctx)
	cancel()
	d.wg.Wait()
	d.client.Close()
	return nil
}

// join retries until a member answers or JoinTimeout passes: seeds may
// start a moment after this worker.
func (d *Daemon) join(ctx context.Context) error {
	jctx, cancel := context.WithTimeout(ctx, d.cfg.JoinTimeout)
	defer cancel()
	for {
		_, err := d.node.Join(jctx, d.cfg.Join)
		if err == nil {
			return nil
		}
		if errors.Is(err, membership.ErrNameTaken) || errors.Is(err, membership.ErrKeyMismatch) {
			return fmt.Errorf("worker: %w", err) // waiting will not change it
		}
		if errors.Is(err, membership.ErrNotMember) {
			return fmt.Errorf("worker: %w; --join takes the gossip address of a member (its --listen), not a worker's RPC port", err)
		}
		select {
		case <-jctx.Done():
			return fmt.Errorf("worker: cannot join %v within %v: %w", d.cfg.Join, d.cfg.JoinTimeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// advertiseFor picks the address to advertise for a worker listening on
// every interface at listen: the local address that routes to the first
// member it joins, else the host's first private IPv4 address.
func advertiseFor(listen string, join []string) (string, error) {
	_, port, _ := net.SplitHostPort(listen)
	if len(join) > 0 {
		ip, err := membership.LocalIPFor(join[0])
		if err != nil {
			return "", fmt.Errorf("worker: --listen %s: %w; give --advertise HOST:PORT", listen, err)
		}
		return net.JoinHostPort(ip, port), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("worker: --listen %s: %w; give --advertise HOST:PORT", listen, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return net.JoinHostPort(n.IP.String(), port), nil
		}
	}
	return "", fmt.Errorf("worker: --listen %s: this host has no address to advertise; give --advertise HOST:PORT", listen)
}

// Addr returns the daemon's RPC address once Run has started serving.
func (d *Daemon) Addr() string { return d.addr }

// Ready is closed once Run serves and has joined the cluster; then Addr
// and GossipAddr hold. It stays open if Run fails first.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// GossipAddr returns the address other members join, once Ready.
func (d *Daemon) GossipAddr() string { return d.node.Addr() }

func (d *Daemon) register(srv *rpc.Server) {
	rpc.Handle(srv, MethodHasBinary, func(ctx context.Context, req *HasBinaryRequest) (*HasBinaryResponse, error) {
		if err := checkSHA(req.SHA256); err != nil {
			return nil, err
		}
		_, err := os.Stat(d.binPath(req.SHA256))
		return &HasBinaryResponse{Have: err == nil}, nil
	})
	rpc.HandleUpload(srv, MethodUploadBinary, func(ctx context.Context, req *UploadBinaryRequest, payload io.Reader) (*Empty, error) {
		return &Empty{}, d.putBinary(req, payload)
	}, rpc.Limit(d.cfg.MaxBinary+64<<10))
	rpc.Handle(srv, MethodStartExecutor, func(ctx context.Context, req *StartExecutorRequest) (*StartExecutorResponse, error) {
		addr, err := d.startApp(ctx, req)
		if err != nil {
			return nil, err
		}
		return &StartExecutorResponse{Addr: addr, Slots: d.cfg.Slots}, nil
	}, rpc.Limit(MaxExecEnv+64<<10))
	rpc.Handle(srv, MethodStopApp, func(ctx context.Context, req *StopAppRequest) (*Empty, error) {
		if err := checkApp(req.App); err != nil {
			return nil, err
		}
		d.stopApp(req.App)
		return &Empty{}, nil
	})
	d.registerStatus(srv)
	rpc.HandleStream(srv, MethodFetch, d.fetch)
	rpc.HandleStream(srv, MethodFetchFile, d.fetchFile)
	rpc.Handle(srv, MethodPullMapOutput, func(ctx context.Context, req *PullMapOutputRequest) (*Empty, error) {
		return &Empty{}, d.pull(ctx, req)
	})
	rpc.Handle(srv, MethodForgetGraphs, func(ctx context.Context, req *ForgetGraphsRequest) (*Empty, error) {
		return &Empty{}, d.forgetGraphs(req)
	})
	rpc.Handle(srv, MethodDrained, func(ctx context.Context, req *DrainedRequest) (*Empty, error) {
		if err := checkApp(req.App); err != nil {
			return nil, err
		}
		d.mu.Lock()
		if a := d.apps[req.App]; a != nil {
			a.drained = true
		}
		d.mu.Unlock()
		return &Empty{}, nil
	})
}
