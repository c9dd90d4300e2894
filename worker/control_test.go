package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/shuffle"
	"github.com/sluicehq/sluice/worker"
)

// The worker daemon's control plane, in this process: real daemons on
// 127.0.0.1 with mutual TLS, real gossip, and executors that are this test
// binary started as a worker starts any driver's binary (TestMain). No
// test here starts a `sluice worker` process.

// testDaemon is a daemon running in this test.
type testDaemon struct {
	*worker.Daemon
	creds  *trust.Creds
	client *rpc.Client
	ran    chan error // Run's result
	cancel context.CancelFunc
}

func newCreds(t *testing.T) *trust.Creds {
	t.Helper()
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// startDaemon starts a daemon named name with creds, changed by set, and
// waits until it serves; the test's cleanup stops it.
func startDaemon(t *testing.T, name string, creds *trust.Creds, set func(*worker.DaemonConfig)) *testDaemon {
	t.Helper()
	td, err := runDaemon(t, name, creds, set)
	if err != nil {
		t.Fatalf("daemon %s: %v", name, err)
	}
	return td
}

// runDaemon is startDaemon returning Run's error when it fails before
// it serves.
func runDaemon(t *testing.T, name string, creds *trust.Creds, set func(*worker.DaemonConfig)) (*testDaemon, error) {
	t.Helper()
	cfg := worker.DefaultDaemonConfig()
	cfg.Name, cfg.Listen, cfg.Role, cfg.Slots, cfg.Dir, cfg.Creds = name, "127.0.0.1:0", worker.RoleCore, 1, t.TempDir(), creds
	cfg.Version = "test"
	if set != nil {
		set(&cfg)
	}
	d, err := worker.NewDaemon(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &testDaemon{Daemon: d, creds: creds, ran: make(chan error, 1), cancel: cancel}
	go func() { td.ran <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-td.ran:
		cancel()
		return nil, err
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("daemon %s not ready within a minute", name)
	}
	td.client = rpc.NewClient(rpc.ClientConfig{TLS: creds.ClientTLS()})
	t.Cleanup(func() {
		td.stop(t)
		td.client.Close()
	})
	return td, nil
}

// stop ends Run, if it has not ended, and waits for it.
func (td *testDaemon) stop(t *testing.T) {
	td.cancel()
	select {
	case <-td.ran:
		td.ran <- nil // for a second stop
	case <-time.After(time.Minute):
		t.Errorf("daemon did not stop within a minute")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// status asks the daemon's Status route.
func (td *testDaemon) status(t *testing.T) worker.Status {
	t.Helper()
	st, err := rpc.Call[worker.StatusRequest, worker.Status](ctxT(t), td.client, td.Addr(), worker.MethodStatus, &worker.StatusRequest{})
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return *st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func remoteCode(err error) string {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// The Status route says what the daemon gossips and holds, and the
// daemon's worker.json says where to ask; both match what Run set up.
// Only a peer with the cluster's credentials gets an answer.
func TestStatusRoute(t *testing.T) {
	creds := newCreds(t)
	d := startDaemon(t, "w1", creds, func(c *worker.DaemonConfig) { c.Role, c.Slots = worker.RoleTask, 3 })
	st := d.status(t)
	if st.Name != "w1" || st.Role != worker.RoleTask || st.State != worker.StateAlive || st.Slots != 3 || st.Version != "test" ||
		st.RPC != d.Addr() || st.Gossip != d.GossipAddr() || st.PID != os.Getpid() || len(st.Apps) != 0 || st.Disk.Free <= 0 || st.Disk.Low {
		t.Fatalf("status %+v", st)
	}
	addr, err := worker.ReadAddress(st.Disk.Dir)
	if err != nil || addr != (worker.Address{Name: "w1", PID: os.Getpid(), Gossip: d.GossipAddr(), RPC: d.Addr()}) {
		t.Fatalf("worker.json: %+v, %v", addr, err)
	}
	if _, err := worker.ReadAddress(t.TempDir()); !errors.Is(err, worker.ErrNoAddress) {
		t.Fatalf("ReadAddress of an empty directory: %v, want ErrNoAddress", err)
	}

	// Another cluster's credentials, and none at all.
	other := rpc.NewClient(rpc.ClientConfig{TLS: newCreds(t).ClientTLS()})
	defer other.Close()
	if _, err := rpc.Call[worker.StatusRequest, worker.Status](ctxT(t), other, d.Addr(), worker.MethodStatus, &worker.StatusRequest{}); !errors.Is(err, rpc.ErrUnauthorized) {
		t.Errorf("Status with another cluster's secret: %v, want ErrUnauthorized", err)
	}
	plain := rpc.NewClient(rpc.ClientConfig{})
	defer plain.Close()
	if _, err := rpc.Call[worker.StatusRequest, worker.Status](ctxT(t), plain, d.Addr(), worker.MethodStatus, &worker.StatusRequest{}); err == nil {
		t.Error("Status without credentials answered")
	}
	// The request carries nothing: a large body is refused unread.
	type padded struct{ Pad []byte }
	if _, err := rpc.Call[padded, worker.Status](ctxT(t), d.client, d.Addr(), worker.MethodStatus, &padded{Pad: make([]byte, 8<<10)}); !errors.Is(err, rpc.ErrTooLarge) {
		t.Errorf("Status with an 8 KiB body: %v, want ErrTooLarge", err)
	}
	// With less than MinFreeDisk free the worker says it is low.
	low := startDaemon(t, "w2", creds, func(c *worker.DaemonConfig) { c.MinFreeDisk = 1 << 62 })
	if st := low.status(t); !st.Disk.Low || st.Disk.MinFree != 1<<62 {
		t.Fatalf("a worker short of disk: %+v", st.Disk)
	}
}

// A second daemon joins the first; a member that joins either sees both,
// with the roles and RPC addresses they gossip. A daemon with another
// cluster's secret, or given an RPC port to join, fails at once with an
// error that says what to change.
func TestDaemonsJoin(t *testing.T) {
	creds := newCreds(t)
	d1 := startDaemon(t, "w1", creds, nil)
	d2 := startDaemon(t, "w2", creds, func(c *worker.DaemonConfig) {
		c.Role, c.Join = worker.RoleTask, []string{d1.GossipAddr()}
	})

	mcfg := membership.DefaultConfig()
	mcfg.Name, mcfg.BindAddr, mcfg.Keys = "observer", "127.0.0.1:0", creds.GossipKeys()
	mcfg.Meta = membership.Meta{Role: worker.RoleDriver, State: worker.StateAlive}
	node, err := membership.Start(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown()
	if _, err := node.Join(ctxT(t), []string{d2.GossipAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both workers in the member list", func() bool {
		seen := map[string]membership.Meta{}
		for _, m := range node.Members() {
			seen[m.Name] = m.Meta
		}
		return seen["w1"].Role == worker.RoleCore && seen["w1"].RPC == d1.Addr() &&
			seen["w2"].Role == worker.RoleTask && seen["w2"].RPC == d2.Addr()
	})

	join := func(c *worker.DaemonConfig) { c.Join, c.JoinTimeout = []string{d1.GossipAddr()}, 10*time.Second }
	start := time.Now()
	if _, err := runDaemon(t, "w3", newCreds(t), join); !errors.Is(err, membership.ErrKeyMismatch) {
		t.Errorf("joining with another secret: %v, want ErrKeyMismatch", err)
	}
	if _, err := runDaemon(t, "w4", creds, func(c *worker.DaemonConfig) {
		c.Join, c.JoinTimeout = []string{d1.Addr()}, 10*time.Second
	}); !errors.Is(err, membership.ErrNotMember) || !strings.Contains(err.Error(), "gossip address") {
		t.Errorf("joining a worker's RPC port: %v, want ErrNotMember naming the gossip address", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the refused joins took %v: they waited for JoinTimeout", d)
	}
}

// upload sends payload as a binary announced with sha and size.
func upload(t *testing.T, d *testDaemon, sha string, size int64, payload []byte) error {
	_, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctxT(t), d.client, d.Addr(), worker.MethodUploadBinary,
		&worker.UploadBinaryRequest{SHA256: sha, Size: size}, bytes.NewReader(payload), int64(len(payload)))
	return err
}

func has(t *testing.T, d *testDaemon, sha string) bool {
	t.Helper()
	resp, err := rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctxT(t), d.client, d.Addr(), worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: sha})
	if err != nil {
		t.Fatalf("HasBinary: %v", err)
	}
	return resp.Have
}

// An upload is cached under its sha256 only when it has the size and the
// sha256 announced, within the worker's limit; otherwise nothing is left.
func TestUploadBinary(t *testing.T) {
	d := startDaemon(t, "w1", newCreds(t), func(c *worker.DaemonConfig) { c.MaxBinary = 1 << 10 })
	bin := []byte("#!/bin/false\n")
	sum := sha256.Sum256(bin)
	sha := hex.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))

	if err := upload(t, d, hex.EncodeToString(other[:]), int64(len(bin)), bin); err == nil || !strings.Contains(err.Error(), "does not match its sha256") {
		t.Errorf("an upload that is not what its sha256 says: %v", err)
	}
	if err := upload(t, d, sha, int64(len(bin))-1, bin); err == nil || !strings.Contains(err.Error(), "announced") {
		t.Errorf("an upload longer than announced: %v", err)
	}
	if err := upload(t, d, sha, int64(len(bin))+1, bin); err == nil || !strings.Contains(err.Error(), "announced") {
		t.Errorf("an upload shorter than announced: %v", err)
	}
	if err := upload(t, d, sha, 2<<10, bytes.Repeat([]byte("x"), 2<<10)); remoteCode(err) != "too_large" {
		t.Errorf("an upload over MaxBinary: %v, want too_large", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.ToUpper(sha), sha + "0"} {
		if err := upload(t, d, bad, int64(len(bin)), bin); remoteCode(err) != "bad_request" {
			t.Errorf("an upload named %q: %v, want bad_request", bad, err)
		}
		_, err := rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctxT(t), d.client, d.Addr(), worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: bad})
		if remoteCode(err) != "bad_request" {
			t.Errorf("HasBinary %q: %v, want bad_request", bad, err)
		}
	}
	if has(t, d, sha) {
		t.Fatal("a refused upload is cached")
	}
	ents, _ := os.ReadDir(filepath.Join(d.status(t).Disk.Dir, "bin"))
	if len(ents) != 0 {
		t.Fatalf("refused uploads left %d files", len(ents))
	}
	if err := upload(t, d, sha, int64(len(bin)), bin); err != nil {
		t.Fatal(err)
	}
	if !has(t, d, sha) {
		t.Fatal("an upload is not cached")
	}
	// StartExecutor runs only what was uploaded.
	_, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor,
		startRequest(hex.EncodeToString(other[:]), nil, nil))
	if err == nil || !strings.Contains(err.Error(), "upload it first") {
		t.Errorf("starting a binary never uploaded: %v", err)
	}
}

// startApp starts app's executor, this test binary, on d, and returns its
// status.
func startApp(t *testing.T, d *testDaemon, app string) worker.AppStatus {
	t.Helper()
	sha := uploadSelf(t, d.client, d.Addr())
	req := startRequest(sha, nil, nil)
	req.App = app
	resp, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor, req)
	if err != nil {
		t.Fatalf("StartExecutor %s: %v", app, err)
	}
	for _, a := range d.status(t).Apps {
		if a.ID == app {
			if a.Executor != resp.Addr || a.PID <= 0 {
				t.Fatalf("status of %s: %+v; started at %s", app, a, resp.Addr)
			}
			return a
		}
	}
	t.Fatalf("%s not in the status after it started", app)
	return worker.AppStatus{}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// An executor is started once per application; one the driver found
// frozen is replaced; StopApp stops it and removes its files; an executor
// that crashes leaves the application's slot free for a new one.
func TestExecutorLifecycle(t *testing.T) {
	d := startDaemon(t, "w1", newCreds(t), nil)
	first := startApp(t, d, "app-1")
	if again := startApp(t, d, "app-1"); again != first {
		t.Fatalf("a second StartExecutor started another executor: %+v, then %+v", first, again)
	}

	// Replace: the frozen one is killed, another serves.
	req := startRequest(uploadSelf(t, d.client, d.Addr()), nil, nil)
	req.Replace = first.Executor
	resp, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor, req)
	if err != nil || resp.Addr == first.Executor {
		t.Fatalf("replacing %s: %+v, %v", first.Executor, resp, err)
	}
	waitFor(t, "the replaced executor to exit", func() bool { return !alive(first.PID) })
	st := d.status(t)
	if len(st.Apps) != 1 || st.Apps[0].Executor != resp.Addr {
		t.Fatalf("after the replacement: %+v", st.Apps)
	}

	// A crash: the worker forgets the executor, and the next start makes
	// a new one.
	if err := syscall.Kill(st.Apps[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the crashed executor to be forgotten", func() bool { return len(d.status(t).Apps) == 0 })
	restarted := startApp(t, d, "app-1")
	if restarted.PID == st.Apps[0].PID {
		t.Fatal("the crashed executor was reported as started")
	}

	appDir := filepath.Join(d.status(t).Disk.Dir, "apps", "app-1")
	if _, err := os.Stat(appDir); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.Call[worker.StopAppRequest, worker.Empty](ctxT(t), d.client, d.Addr(), worker.MethodStopApp, &worker.StopAppRequest{App: "app-1"}); err != nil {
		t.Fatal(err)
	}
	if alive(restarted.PID) {
		t.Error("executor alive after StopApp")
	}
	if _, err := os.Stat(appDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the application's directory after StopApp: %v", err)
	}
	for _, bad := range []string{"..", "../x", ".hidden", "a/b", strings.Repeat("a", 65)} {
		_, err := rpc.Call[worker.StopAppRequest, worker.Empty](ctxT(t), d.client, d.Addr(), worker.MethodStopApp, &worker.StopAppRequest{App: bad})
		if remoteCode(err) != "bad_request" {
			t.Errorf("StopApp %q: %v, want bad_request", bad, err)
		}
	}
}

// An executor that refuses to start (here: a Func registry unlike the
// driver's) fails StartExecutor with its reason, and nothing stays.
func TestExecutorRefusesToStart(t *testing.T) {
	d := startDaemon(t, "w1", newCreds(t), nil)
	req := startRequest(uploadSelf(t, d.client, d.Addr()), nil, nil)
	req.RegistryDigest = "not-this-binary"
	_, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor, req)
	if err == nil || !strings.Contains(err.Error(), "refused to start") || !strings.Contains(err.Error(), "registry") {
		t.Fatalf("StartExecutor with another registry: %v", err)
	}
	if apps := d.status(t).Apps; len(apps) != 0 {
		t.Fatalf("a refused executor is listed: %+v", apps)
	}
}

// Drain: the worker gossips draining at once, takes no new application,
// and leaves (Run returns nil) once every driver said Drained, stopping
// their executors.
func TestDrain(t *testing.T) {
	creds := newCreds(t)
	d := startDaemon(t, "w1", creds, nil)
	app := startApp(t, d, "app-1")
	d.Drain()
	waitFor(t, "the worker to say it drains", func() bool { return d.status(t).State == worker.StateDraining })
	req := startRequest(uploadSelf(t, d.client, d.Addr()), nil, nil)
	req.App = "app-2"
	if _, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctxT(t), d.client, d.Addr(), worker.MethodStartExecutor, req); err == nil || !strings.Contains(err.Error(), "draining") {
		t.Fatalf("a new application on a draining worker: %v", err)
	}
	if _, err := rpc.Call[worker.DrainedRequest, worker.Empty](ctxT(t), d.client, d.Addr(), worker.MethodDrained, &worker.DrainedRequest{App: "../app-1"}); remoteCode(err) != "bad_request" {
		t.Fatalf("Drained with a bad id: %v", err)
	}
	select {
	case err := <-d.ran:
		t.Fatalf("the worker left (%v) before its driver said it drained", err)
	default:
	}
	if _, err := rpc.Call[worker.DrainedRequest, worker.Empty](ctxT(t), d.client, d.Addr(), worker.MethodDrained, &worker.DrainedRequest{App: "app-1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.ran:
		d.ran <- err
		if err != nil {
			t.Fatalf("a drained worker's Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the drained worker did not leave")
	}
	if alive(app.PID) {
		t.Error("the executor outlived its drained worker")
	}

	// A driver that never says so: the worker leaves at DrainTimeout.
	d2 := startDaemon(t, "w2", creds, func(c *worker.DaemonConfig) { c.DrainTimeout = 100 * time.Millisecond })
	startApp(t, d2, "app-1")
	d2.Drain()
	d2.Drain() // a second notice changes nothing
	select {
	case err := <-d2.ran:
		d2.ran <- err
		if err != nil {
			t.Fatalf("Run after the drain timeout: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker did not leave at its drain timeout")
	}
}

// writeMapOutput writes a map output of parts partitions, partition p
// holding p+1 records, into app's directory on d; it returns the data
// file's bytes and the index's offsets.
func writeMapOutput(t *testing.T, d *testDaemon, app string, graph, shuf, m, parts int) ([]byte, []int64) {
	t.Helper()
	data, index := worker.MapOutputPaths(filepath.Join(d.status(t).Disk.Dir, "apps", app), graph, shuf, m)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := shuffle.Create(data, index, parts, block.S2)
	if err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		if err := w.Partition(p); err != nil {
			t.Fatal(err)
		}
		for r := range p + 1 {
			w.Frame([]byte(strings.Repeat("r", r+1)))
			if err := w.EndRecord(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	offsets, err := shuffle.ReadIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	return b, offsets
}

func stream(t *testing.T, d *testDaemon, method string, req any) ([]byte, error) {
	t.Helper()
	rc, err := d.client.Stream(ctxT(t), d.Addr(), method, req)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// Fetch serves one partition of a map output, FetchFile a whole file, and
// PullMapOutput copies an output from another worker (a replica, or a
// move off a draining worker) so that the copy serves the same bytes.
// Bad ids, ranges and sources are refused, and a failed pull leaves no
// output behind.
func TestFetchAndPull(t *testing.T) {
	creds := newCreds(t)
	holder := startDaemon(t, "holder", creds, func(c *worker.DaemonConfig) { c.Role = worker.RoleTask })
	core := startDaemon(t, "core", creds, nil)
	data, offsets := writeMapOutput(t, holder, "app-1", 1, 2, 3, 4)

	for p := range 4 {
		got, err := stream(t, holder, worker.MethodFetch, &worker.FetchRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Part: p})
		if err != nil || !bytes.Equal(got, data[offsets[p]:offsets[p+1]]) {
			t.Fatalf("partition %d: %d bytes, %v; want %d", p, len(got), err, offsets[p+1]-offsets[p])
		}
	}
	whole, err := stream(t, holder, worker.MethodFetchFile, &worker.FetchFileRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3})
	if err != nil || !bytes.Equal(whole, data) {
		t.Fatalf("FetchFile: %d bytes, %v", len(whole), err)
	}
	for _, req := range []*worker.FetchRequest{
		{App: "..", Graph: 1, Shuffle: 2, Map: 3},
		{App: "app-1", Graph: -1, Shuffle: 2, Map: 3},
		{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Part: -1},
	} {
		if _, err := stream(t, holder, worker.MethodFetch, req); err == nil || !strings.Contains(err.Error(), "bad request") {
			t.Errorf("Fetch %+v: %v, want a bad request", req, err)
		}
	}
	if _, err := stream(t, holder, worker.MethodFetch, &worker.FetchRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Part: 4}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Fetch of a partition past the last: %v", err)
	}
	if _, err := stream(t, holder, worker.MethodFetch, &worker.FetchRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 9}); err == nil {
		t.Error("Fetch of an output the worker does not hold succeeded")
	}

	pull := func(m int, from string) error {
		_, err := rpc.Call[worker.PullMapOutputRequest, worker.Empty](ctxT(t), core.client, core.Addr(), worker.MethodPullMapOutput,
			&worker.PullMapOutputRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: m, From: from})
		return err
	}
	if err := pull(3, holder.Addr()); err != nil {
		t.Fatal(err)
	}
	st := core.status(t)
	if len(st.Apps) != 0 {
		t.Fatalf("a pulled output started an application: %+v", st.Apps)
	}
	if n, size := countOutputs(t, core, "app-1"); n != 1 || size != int64(len(data)) {
		t.Fatalf("after the pull the core worker holds %d outputs of %d bytes; want 1 of %d", n, size, len(data))
	}
	for p := range 4 {
		got, err := stream(t, core, worker.MethodFetch, &worker.FetchRequest{App: "app-1", Graph: 1, Shuffle: 2, Map: 3, Part: p})
		if err != nil || !bytes.Equal(got, data[offsets[p]:offsets[p+1]]) {
			t.Fatalf("the copy's partition %d: %v", p, err)
		}
	}
	if err := pull(9, holder.Addr()); err == nil {
		t.Error("pulling an output the holder lacks succeeded")
	}
	if err := pull(3, "not an address"); remoteCode(err) != "bad_request" {
		t.Errorf("pulling from a bad address: %v, want bad_request", err)
	}
	if n, _ := countOutputs(t, core, "app-1"); n != 1 {
		t.Fatalf("failed pulls left %d outputs, want the 1 pulled", n)
	}
}

// countOutputs counts app's complete map outputs on d, as Status does for
// a running application.
func countOutputs(t *testing.T, d *testDaemon, app string) (int, int64) {
	t.Helper()
	dir := filepath.Join(d.status(t).Disk.Dir, "apps", app, "shuffle")
	ents, _ := os.ReadDir(dir)
	n, size := 0, int64(0)
	for _, e := range ents {
		if base, ok := strings.CutSuffix(e.Name(), ".index"); ok {
			if st, err := os.Stat(filepath.Join(dir, base+".data")); err == nil {
				n++
				size += st.Size()
			}
		}
	}
	return n, size
}
