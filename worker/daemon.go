package worker

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/shuffle"
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
	Dir       string   // shuffle files, cached binaries, executor scratch space
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
	drainReq chan struct{} // Drain asks Run to drain
	ready    chan struct{} // closed once Run serves and has joined
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

// validApp keeps application ids usable as directory names: no separator,
// and no leading dot, so never "." or "..".
var validApp = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$`)

// validSHA is a lowercase hex sha256, the name of a cached binary.
var validSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrBadRequest is wrapped by the errors of requests with a malformed id.
var ErrBadRequest = errors.New("worker: bad request")

func checkApp(id string) error {
	if !validApp.MatchString(id) {
		return rpc.Errorf("bad_request", "%v: application id %q is not a name of 1 to 64 letters, digits, '_', '-' and '.' that starts with a letter, digit, '_' or '-'", ErrBadRequest, truncateID(id))
	}
	return nil
}

func checkSHA(sha string) error {
	if !validSHA.MatchString(sha) {
		return rpc.Errorf("bad_request", "%v: %q is not a lowercase hex sha256", ErrBadRequest, truncateID(sha))
	}
	return nil
}

// checkOutput validates the id of a map output.
func checkOutput(app string, nums ...int) error {
	if err := checkApp(app); err != nil {
		return err
	}
	for _, n := range nums {
		if n < 0 {
			return rpc.Errorf("bad_request", "%v: negative graph, shuffle, map or partition number %d", ErrBadRequest, n)
		}
	}
	return nil
}

func truncateID(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
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
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	defer func() {
		stopServe()
		<-served
	}()

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

// diskCheckEvery is how often a worker measures its free disk.
const diskCheckEvery = 5 * time.Second

// meta is what the worker gossips now.
func (d *Daemon) meta() membership.Meta {
	d.mu.Lock()
	defer d.mu.Unlock()
	state := StateAlive
	if d.draining {
		state = StateDraining
	}
	return membership.Meta{Role: d.cfg.Role, State: state, Slots: d.cfg.Slots, RPC: d.addr, Version: d.cfg.Version, LowDisk: d.lowDisk}
}

// diskLow measures Dir's free space against MinFreeDisk, with hysteresis:
// a worker that was low stays low until it has twice the minimum.
func (d *Daemon) diskLow(wasLow bool) bool {
	if d.cfg.MinFreeDisk <= 0 {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.cfg.Dir, &st); err != nil {
		return wasLow
	}
	free := int64(st.Bavail) * st.Bsize
	if wasLow {
		return free < 2*d.cfg.MinFreeDisk
	}
	return free < d.cfg.MinFreeDisk
}

// checkDisk gossips a change of lowDisk.
func (d *Daemon) checkDisk(ctx context.Context) {
	d.mu.Lock()
	was := d.lowDisk
	d.mu.Unlock()
	low := d.diskLow(was)
	if low == was {
		return
	}
	d.mu.Lock()
	d.lowDisk = low
	d.mu.Unlock()
	if low {
		d.log.Warn("low on disk: taking no new map tasks", "dir", d.cfg.Dir, "min_free", d.cfg.MinFreeDisk)
	} else {
		d.log.Info("disk space back", "dir", d.cfg.Dir)
	}
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.node.UpdateMeta(uctx, d.meta()); err != nil {
		d.log.Warn("announcing a change of disk space", "err", err)
	}
}

// Drain asks a running daemon to decommission gracefully, as on a spot
// interruption notice: it turns draining in gossip and takes no new
// applications, each driver stops giving it tasks, lets its running tasks
// finish and copies the map outputs it needs to core workers, then says
// so; when every driver has (or DrainTimeout passed) the worker leaves the
// cluster and Run returns nil.
func (d *Daemon) Drain() {
	select {
	case d.drainReq <- struct{}{}:
	default:
	}
}

// drain turns the worker draining and returns a channel closed when every
// application was drained or the timeout passed.
func (d *Daemon) drain(ctx context.Context) <-chan struct{} {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	meta := d.meta()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := d.node.UpdateMeta(uctx, meta); err != nil {
		d.log.Warn("announcing draining", "err", err)
	}
	cancel()
	d.log.Info("draining", "worker", d.node.Name(), "timeout", d.cfg.DrainTimeout)
	done := make(chan struct{})
	d.wg.Go(func() {
		defer close(done)
		deadline := time.NewTimer(d.cfg.DrainTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !d.allDrained() {
			select {
			case <-deadline.C:
				d.log.Warn("drain timeout: leaving with work still here", "worker", d.node.Name())
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return done
}

func (d *Daemon) allDrained() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.apps {
		if !a.drained {
			return false
		}
	}
	return true
}

// shutdown stops the executors, leaves the cluster and waits.
func (d *Daemon) shutdown() error {
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
	rpc.HandleStream(srv, MethodFetch, d.fetch)
	rpc.HandleStream(srv, MethodFetchFile, d.fetchFile)
	rpc.Handle(srv, MethodPullMapOutput, func(ctx context.Context, req *PullMapOutputRequest) (*Empty, error) {
		return &Empty{}, d.pull(ctx, req)
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

// binPath is where the binary with a checked sha256 is cached.
func (d *Daemon) binPath(sha string) string {
	return filepath.Join(d.cfg.Dir, "bin", sha)
}

// putBinary streams a driver's binary to a temporary file, checks its
// size and sha256, and renames it into place, so a partial or altered
// upload never looks cached and never sits in memory.
func (d *Daemon) putBinary(req *UploadBinaryRequest, payload io.Reader) error {
	if err := checkSHA(req.SHA256); err != nil {
		return err
	}
	if req.Size < 0 || req.Size > d.cfg.MaxBinary {
		return rpc.Errorf("too_large", "worker: a binary of %d bytes is over this worker's limit of %d", req.Size, d.cfg.MaxBinary)
	}
	path := d.binPath(req.SHA256)
	f, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(payload, req.Size+1))
	if err == nil && n != req.Size {
		err = fmt.Errorf("worker: uploaded binary has %d bytes, not the %d announced", n, req.Size)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != req.SHA256 {
		err = fmt.Errorf("worker: uploaded binary does not match its sha256 %s", req.SHA256)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// startApp starts the executor of an application, once, and returns its
// address.
func (d *Daemon) startApp(ctx context.Context, req *StartExecutorRequest) (string, error) {
	if err := checkApp(req.App); err != nil {
		return "", err
	}
	if err := checkSHA(req.SHA256); err != nil {
		return "", err
	}
	if err := checkExecEnv(req.Args, req.Env); err != nil {
		return "", err
	}
	bin := d.binPath(req.SHA256)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("worker: no binary %s: upload it first", req.SHA256)
	}
	if err := checkBinary(bin, req.SHA256); err != nil {
		d.log.Warn("refusing to run a cached binary", "err", err)
		os.Remove(bin) // the driver uploads it again
		return "", err
	}
	d.mu.Lock()
	if d.draining {
		d.mu.Unlock()
		return "", fmt.Errorf("worker: %s is draining and takes no new applications", d.cfg.Name)
	}
	a := d.apps[req.App]
	if a != nil && req.Replace != "" && a.addr == req.Replace {
		// The driver found this executor frozen: kill it (SIGKILL stops a
		// stopped process too) and start another in its place.
		d.mu.Unlock()
		d.log.Warn("replacing an executor its driver found frozen", "app", a.id)
		d.stop(a, 0)
		d.mu.Lock()
		if d.apps[req.App] == a {
			delete(d.apps, req.App)
		}
		a = d.apps[req.App]
	}
	if a == nil {
		a = &app{id: req.App, dir: filepath.Join(d.cfg.Dir, "apps", req.App), ready: make(chan struct{}), done: make(chan struct{})}
		d.apps[req.App] = a
		d.wg.Add(1)
		go d.runExecutor(a, bin, req)
	}
	d.mu.Unlock()
	select {
	case <-a.ready:
		return a.addr, a.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// runExecutor starts and waits for an executor process. It keeps its OS
// thread locked: Pdeathsig fires when the thread that started the child
// exits, and the child must die with the worker, not with a thread.
func (d *Daemon) runExecutor(a *app, bin string, req *StartExecutorRequest) {
	defer d.wg.Done()
	runtime.LockOSThread()
	defer close(a.done)
	fail := func(err error) {
		a.err = err
		close(a.ready)
		d.mu.Lock()
		delete(d.apps, a.id)
		d.mu.Unlock()
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		fail(err)
		return
	}
	cmd, out, err := d.startProcess(a, bin, req)
	if err != nil {
		fail(fmt.Errorf("worker: starting executor: %w", err))
		return
	}
	d.mu.Lock()
	a.cmd = cmd
	d.mu.Unlock()
	d.log.Info("executor started", "app", a.id, "pid", cmd.Process.Pid)

	// The executor says on stdout whether it serves. The program's main
	// runs up to driver.Main first and may print before that: its lines,
	// like any after, are relayed to stderr.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		told := false
		for sc.Scan() {
			line := sc.Text()
			if !told && (strings.HasPrefix(line, listeningPrefix) || strings.HasPrefix(line, failedPrefix)) {
				lines <- line
				told = true
				continue
			}
			fmt.Fprintf(os.Stderr, "executor %s: %s\n", a.id, line)
		}
		if !told {
			close(lines)
		}
		io.Copy(io.Discard, out)
	}()
	timer := time.NewTimer(d.cfg.StartTimeout)
	select {
	case line, ok := <-lines:
		timer.Stop()
		addr, found := strings.CutPrefix(line, listeningPrefix)
		switch reason, failed := strings.CutPrefix(line, failedPrefix); {
		case ok && found:
			a.addr = addr
			close(a.ready)
		case ok && failed:
			cmd.Process.Kill()
			fail(fmt.Errorf("worker: executor for %s refused to start: %s", a.id, reason))
		default:
			cmd.Process.Kill()
			fail(fmt.Errorf("worker: executor for %s exited before serving (see the worker's log)", a.id))
		}
	case <-timer.C:
		cmd.Process.Kill()
		fail(fmt.Errorf("worker: executor for %s did not start within %v", a.id, d.cfg.StartTimeout))
	}
	err = cmd.Wait()
	d.log.Info("executor exited", "app", a.id, "err", err)
	d.mu.Lock()
	if d.apps[a.id] == a {
		delete(d.apps, a.id)
	}
	d.mu.Unlock()
}

// startProcess starts an executor process and returns it with its
// standard output. Starting is retried while the binary is "text file
// busy": a process forked meanwhile from this one (another executor
// starting) holds, until it execs, a copy of the descriptor that an upload
// of this binary wrote with (golang.org/issue/22315). Within one worker
// process that takes two applications starting at once; --local-cluster,
// with several daemons in one process, meets it often.
func (d *Daemon) startProcess(a *app, bin string, req *StartExecutorRequest) (*exec.Cmd, io.ReadCloser, error) {
	host, _, _ := net.SplitHostPort(d.addr)
	for try := 1; ; try++ {
		// The driver's arguments and environment, not the worker's: the
		// executor runs the driver's program, whose flags and variables
		// must hold what they hold in the driver.
		cmd := exec.Command(bin, req.Args...)
		cmd.Dir = a.dir
		if st, err := os.Stat(req.WorkDir); err == nil && st.IsDir() && filepath.IsAbs(req.WorkDir) {
			cmd.Dir = req.WorkDir
		}
		cmd.Env = append(UserEnv(req.Env),
			EnvExecutor+"=1", envApp+"="+req.App, envDir+"="+a.dir, envDriver+"="+req.Driver,
			envWorker+"="+d.node.Name(), envHost+"="+host, envCodec+"="+req.Codec,
			envTaskMemory+"="+strconv.FormatInt(req.TaskMemory, 10), envCacheMemory+"="+strconv.FormatInt(req.CacheMemory, 10),
			envRegistryDigest+"="+req.RegistryDigest)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		// The credentials go through a pipe, never the environment or the
		// command line, where other processes could see them.
		credsRead, err := d.passCreds(cmd)
		if err != nil {
			return nil, nil, err
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		credsRead.Close() // the child has its copy
		if err == nil {
			return cmd, out, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || try == 10 {
			return nil, nil, err
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond) // the forked process execs within moments
	}
}

// passCreds gives an executor the worker's credentials through a pipe on
// its file descriptor 3, and returns the read end for the caller to close
// once the executor started.
func (d *Daemon) passCreds(cmd *exec.Cmd) (*os.File, error) {
	if d.cfg.Creds == nil {
		cmd.Env = append(cmd.Env, envInsecure+"=1")
		return os.Open(os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A few hundred bytes: the pipe's buffer takes them without a reader.
	_, err = w.Write(d.cfg.Creds.Export())
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(cmd.Env, envCredsFD+"=3")
	return r, nil
}

// UserEnv returns env without Sluice's own cluster variables: those that
// carry the cluster secret (executors get credentials through a pipe, and
// user code they run must not find the secret in its environment) and
// those a worker gives an executor, which only the worker may set.
func UserEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == trust.EnvSecret || k == trust.EnvSecretFile || slices.Contains(executorVars, k)
	})
}

// checkExecEnv refuses arguments and an environment that an executor
// cannot be started with: over MaxExecEnv, a NUL byte, a variable that is
// not NAME=VALUE.
func checkExecEnv(args, env []string) error {
	if n := ExecEnvSize(args, env); n > MaxExecEnv {
		return rpc.Errorf("too_large", "worker: the driver's command line and environment are %d bytes, over the %d an executor is started with", n, MaxExecEnv)
	}
	for _, s := range args {
		if strings.IndexByte(s, 0) >= 0 {
			return rpc.Errorf("bad_request", "%v: an argument holds a NUL byte", ErrBadRequest)
		}
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return rpc.Errorf("bad_request", "%v: environment entry %q is not NAME=VALUE", ErrBadRequest, truncateID(kv))
		}
	}
	return nil
}

// stopApp stops an application's executor and removes its files.
func (d *Daemon) stopApp(id string) {
	d.mu.Lock()
	a := d.apps[id]
	delete(d.apps, id)
	d.mu.Unlock()
	if a != nil {
		d.stop(a, 5*time.Second)
	}
	// Also when the executor had already exited (crashed): its files go.
	if checkApp(id) == nil {
		os.RemoveAll(filepath.Join(d.cfg.Dir, "apps", id))
	}
}

// stop ends an executor with its process group (so processes user code
// started go too) and waits for it: SIGTERM and grace to finish, then
// SIGKILL; with no grace, SIGKILL at once, which also ends a stopped
// process.
func (d *Daemon) stop(a *app, grace time.Duration) {
	<-a.ready
	d.mu.Lock()
	cmd := a.cmd
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	group := -cmd.Process.Pid
	if grace > 0 {
		syscall.Kill(group, syscall.SIGTERM)
		select {
		case <-a.done:
			return
		case <-time.After(grace):
		}
	}
	syscall.Kill(group, syscall.SIGKILL)
	<-a.done
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	ids := make([]string, 0, len(d.apps))
	for id := range d.apps {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	for _, id := range ids {
		d.stopApp(id)
	}
}

// fetch streams one reduce partition of a map output this worker holds.
func (d *Daemon) fetch(ctx context.Context, req *FetchRequest, w io.Writer) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map, req.Part); err != nil {
		return err
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	offsets, err := shuffle.ReadIndex(index)
	if err != nil {
		return err
	}
	if req.Part < 0 || req.Part+1 >= len(offsets) {
		return fmt.Errorf("worker: partition %d out of range", req.Part)
	}
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, io.NewSectionReader(f, offsets[req.Part], offsets[req.Part+1]-offsets[req.Part]))
	return err
}

// fetchFile streams a whole map output file, for copying it elsewhere.
func (d *Daemon) fetchFile(ctx context.Context, req *FetchFileRequest, w io.Writer) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map); err != nil {
		return err
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	path := data
	if req.Index {
		path = index
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// pull copies a map output from another worker into this one's storage:
// data, then index, each through a temporary file renamed into place, the
// index last, so a reader never sees a partial output.
func (d *Daemon) pull(ctx context.Context, req *PullMapOutputRequest) error {
	if err := checkOutput(req.App, req.Graph, req.Shuffle, req.Map); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(req.From); err != nil {
		return rpc.Errorf("bad_request", "%v: From %q is not host:port", ErrBadRequest, truncateID(req.From))
	}
	data, index := MapOutputPaths(filepath.Join(d.cfg.Dir, "apps", req.App), req.Graph, req.Shuffle, req.Map)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return err
	}
	copyFile := func(dst string, isIndex bool) (int64, error) {
		rc, err := d.client.Stream(ctx, req.From, MethodFetchFile, &FetchFileRequest{App: req.App, Graph: req.Graph, Shuffle: req.Shuffle, Map: req.Map, Index: isIndex})
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		f, err := os.CreateTemp(filepath.Dir(dst), ".pull-*")
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(f, rc)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), dst)
		}
		if err != nil {
			os.Remove(f.Name())
		}
		return n, err
	}
	size, err := copyFile(data, false)
	if err != nil {
		return fmt.Errorf("worker: copying map output from %s: %w", req.From, err)
	}
	if _, err := copyFile(index, true); err != nil {
		return fmt.Errorf("worker: copying map output index from %s: %w", req.From, err)
	}
	offsets, err := shuffle.ReadIndex(index)
	if err != nil || offsets[len(offsets)-1] != size {
		os.Remove(index)
		return fmt.Errorf("worker: copied map output from %s does not match its index (%d bytes): %v", req.From, size, err)
	}
	return nil
}
