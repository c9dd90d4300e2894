package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/worker"
)

// secureWorker is a real `sluice worker` process started with a secret
// file, the credentials that file gives, and the worker's RPC address as
// its gossip metadata says.
type secureWorker struct {
	w     *clustertest.Worker
	creds *trust.Creds
	rpc   string
}

func startSecureWorker(t *testing.T, bin string, args ...string) *secureWorker {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := trust.WriteSecretFile(secretFile, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
		t.Fatal(err)
	}
	secrets, err := trust.ReadSecretFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := trust.New(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, bin, clustertest.Options{Core: 1, Env: []string{asMain + "=1"}, Args: append([]string{"--secret-file", secretFile}, args...)})
	sw := &secureWorker{w: c.Workers[0], creds: creds}
	// Read the worker's RPC address from gossip, as a driver would.
	node := joinAsDriver(t, c.Join, creds)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for sw.rpc == "" {
		for _, m := range node.Members() {
			if m.Meta.Role == worker.RoleCore {
				sw.rpc = m.Meta.RPC
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no worker in gossip: %v", node.Members())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return sw
}

// joinAsDriver joins the cluster at join as a driver member with creds'
// gossip keys, until the test ends.
func joinAsDriver(t *testing.T, join string, creds *trust.Creds) *membership.Node {
	t.Helper()
	cfg := membership.DefaultConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Meta = membership.Meta{Role: worker.RoleDriver, State: worker.StateAlive}
	cfg.Keys = creds.GossipKeys()
	node, err := membership.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := node.Join(ctx, []string{join}); err != nil {
		t.Fatal(err)
	}
	return node
}

// canaries puts files in the worker's directory that a successful attack
// would remove or add to, and returns a function that fails the test if
// anything changed.
func canaries(t *testing.T, dir string) func() {
	t.Helper()
	keep := filepath.Join(dir, "apps", "canary", "keep")
	output := filepath.Join(dir, "apps", "canary", "shuffle", "g1_s0_m0.data") // what ForgetGraphs removes
	for _, f := range []string{keep, output} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, f := range []string{keep, output} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("an attack removed files: %v", err)
			}
		}
		bins, _ := os.ReadDir(filepath.Join(dir, "bin"))
		for _, b := range bins {
			t.Errorf("an attack left a binary in the worker's cache: %s", b.Name())
		}
		apps, _ := os.ReadDir(filepath.Join(dir, "apps"))
		if len(apps) != 1 {
			t.Errorf("the worker's apps are %v, want only the canary", apps)
		}
	}
}

// script is the payload an attacker tries to run: it would leave a file.
func script(t *testing.T) (data []byte, sha, proof string) {
	proof = filepath.Join(t.TempDir(), "pwned")
	data = []byte("#!/bin/sh\ntouch " + proof + "\n")
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), proof
}

// attack calls every route of a worker with c and returns the errors.
func attack(ctx context.Context, c *rpc.Client, addr string, data []byte, sha, app string) map[string]error {
	errs := map[string]error{}
	_, errs["HasBinary"] = rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctx, c, addr, worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: sha})
	_, errs["UploadBinary"] = rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, c, addr, worker.MethodUploadBinary,
		&worker.UploadBinaryRequest{SHA256: sha, Size: int64(len(data))}, bytes.NewReader(data), int64(len(data)))
	_, errs["StartExecutor"] = rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, c, addr, worker.MethodStartExecutor,
		&worker.StartExecutorRequest{App: app, SHA256: sha})
	_, errs["StopApp"] = rpc.Call[worker.StopAppRequest, worker.Empty](ctx, c, addr, worker.MethodStopApp, &worker.StopAppRequest{App: app})
	_, errs["Drained"] = rpc.Call[worker.DrainedRequest, worker.Empty](ctx, c, addr, worker.MethodDrained, &worker.DrainedRequest{App: app})
	_, errs["ForgetGraphs"] = rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, c, addr, worker.MethodForgetGraphs,
		&worker.ForgetGraphsRequest{App: app, Graphs: worker.GraphRanges{{From: 0, To: 1 << 30}}})
	_, errs["PullMapOutput"] = rpc.Call[worker.PullMapOutputRequest, worker.Empty](ctx, c, addr, worker.MethodPullMapOutput,
		&worker.PullMapOutputRequest{App: app, From: addr})
	for _, m := range []string{worker.MethodFetch, worker.MethodFetchFile} {
		var req any = &worker.FetchRequest{App: app}
		if m == worker.MethodFetchFile {
			req = &worker.FetchFileRequest{App: app}
		}
		rc, err := c.Stream(ctx, addr, m, req)
		if err == nil {
			rc.Close()
		}
		errs[m] = err
	}
	return errs
}

// TestAttackersGetNothingDone is the remote code execution of the issue
// "Secure by default" as a test: a client written from the wire format
// uploads a shell script and starts it as an executor. Without the
// cluster secret, by any means, nothing on any route is done.
func TestAttackersGetNothingDone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	sw := startSecureWorker(t, os.Args[0], "--slots", "1")
	check := canaries(t, sw.w.Dir)
	data, sha, proof := script(t)
	other, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, a := range []struct {
		name string
		tls  *tls.Config
		// A client that skips checking the server learns of its refusal
		// when the server hangs up, maybe while it still writes a body.
		reset bool
	}{
		{"no credentials (plain HTTP)", nil, true},
		{"a wrong secret", other.ClientTLS(), false},
		{"a self-signed certificate", selfSigned(t), true},
	} {
		c := rpc.NewClient(rpc.ClientConfig{TLS: a.tls})
		for _, app := range []string{"evil", "..", ".", "canary"} {
			for route, err := range attack(ctx, c, sw.rpc, data, sha, app) {
				if !errors.Is(err, rpc.ErrUnauthorized) && !(a.reset && errors.Is(err, rpc.ErrUnavailable)) {
					t.Errorf("%s, %s for app %q: %v, want ErrUnauthorized", a.name, route, app, err)
				}
			}
		}
		c.Close()
	}
	// The old wire format, signed with the empty key that an unset
	// SLUICE_SECRET used to be: now it is not even TLS.
	for _, path := range []string{"/rpc/HasBinary", "/rpc/PutBinary", "/rpc/StartExecutor", "/rpc/StopApp", "/stream/FetchShuffle"} {
		if code := emptyKeyRequest(t, sw.rpc, path); code != 400 && code != 0 {
			t.Errorf("an empty-key signed request to %s: HTTP %d", path, code)
		}
	}
	check()
	if _, err := os.Stat(proof); err == nil {
		t.Fatal("the attacker's script ran")
	}

	// The same client with the secret gets the upload done: the refusals
	// above were for want of credentials, not a broken route.
	good := rpc.NewClient(rpc.ClientConfig{TLS: sw.creds.ClientTLS()})
	defer good.Close()
	if _, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, good, sw.rpc, worker.MethodUploadBinary,
		&worker.UploadBinaryRequest{SHA256: sha, Size: int64(len(data))}, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("an upload with the secret: %v", err)
	}
	if resp, err := rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctx, good, sw.rpc, worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: sha}); err != nil || !resp.Have {
		t.Fatalf("HasBinary after an upload with the secret: %+v, %v", resp, err)
	}
}

// emptyKeyRequest sends a request of the old wire format, HMAC-signed with
// an empty key, over plain HTTP, and returns the HTTP status (0: no answer).
func emptyKeyRequest(t *testing.T, addr, path string) int {
	body := []byte{0x80}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sum := sha256.Sum256(body)
	mac := hmac.New(sha256.New, nil)
	fmt.Fprintf(mac, "sluice-rpc v1\n%s\n%s\n", path, ts)
	mac.Write(sum[:])
	req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(body))
	req.Header.Set("Sluice-Auth", fmt.Sprintf("v1 %s %x %x", ts, sum, mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func selfSigned(t *testing.T) *tls.Config {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sluice member"}, DNSNames: []string{"sluice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestReplayedRequestDoesNothing records the bytes a member with the secret
// sends to upload a binary and plays them back on a new connection: TLS's
// fresh keys make them worthless.
func TestReplayedRequestDoesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	sw := startSecureWorker(t, os.Args[0], "--slots", "1")
	data, sha, _ := script(t)
	rec := newRecorder(t, sw.rpc)
	c := rpc.NewClient(rpc.ClientConfig{TLS: sw.creds.ClientTLS()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, c, rec.addr(), worker.MethodUploadBinary,
		&worker.UploadBinaryRequest{SHA256: sha, Size: int64(len(data))}, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cached := filepath.Join(sw.w.Dir, "bin", sha)
	if err := os.Remove(cached); err != nil {
		t.Fatalf("the recorded upload left no binary: %v", err)
	}
	recorded := rec.bytes()
	if len(recorded) < len(data) {
		t.Fatalf("recorded %d bytes", len(recorded))
	}
	conn, err := net.DialTimeout("tcp", sw.rpc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(recorded)
	io.Copy(io.Discard, conn) // until the server hangs up
	conn.Close()
	if _, err := os.Stat(cached); err == nil {
		t.Fatal("the replayed upload stored the binary again")
	}
}

// recorder is a TCP proxy that records what clients send.
type recorder struct {
	ln  net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
	wg  sync.WaitGroup
}

func newRecorder(t *testing.T, to string) *recorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	r.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			r.wg.Go(func() { io.Copy(in, out); in.Close() })
			r.wg.Go(func() {
				io.Copy(io.MultiWriter(out, r), in)
				out.Close()
			})
		}
	})
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

func (r *recorder) addr() string { return r.ln.Addr().String() }

// TestHostileIDs: a member with the secret that sends ids which are not
// names (., .., separators, very long) gets a bad request on every route
// and touches no file outside the application's own directory.
func TestHostileIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	sw := startSecureWorker(t, os.Args[0], "--slots", "1")
	check := canaries(t, sw.w.Dir)
	c := rpc.NewClient(rpc.ClientConfig{TLS: sw.creds.ClientTLS()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data, _, proof := script(t)
	for _, id := range []string{"..", ".", "/x", "../canary", "a/../..", "canary/..", ".hidden", strings.Repeat("a", 65), strings.Repeat("a", 1<<16), "", "a\x00b"} {
		for _, sha := range []string{id, strings.Repeat("0", 64)} {
			for route, err := range attack(ctx, c, sw.rpc, data, sha, id) {
				var re *rpc.RemoteError
				if route == "HasBinary" || route == "UploadBinary" {
					if sha != id {
						continue // a valid sha: these routes take no app id
					}
				}
				if errors.Is(err, rpc.ErrTooLarge) && len(id) > 1<<10 {
					continue // refused for its size alone
				}
				if !errors.As(err, &re) || re.Code != "bad_request" {
					t.Errorf("%s with id %.20q: %v, want a bad_request error", route, id, err)
				}
			}
		}
	}
	check()
	if _, err := os.Stat(proof); err == nil {
		t.Fatal("a hostile id ran the script")
	}
}

// TestOversizedBodies: four concurrent bodies of 500 MB, from peers with
// and without the secret, leave the worker's peak RSS under 100 MB. The
// worker is the real sluice binary, without the race detector's memory.
func TestOversizedBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	const huge = 500 << 20
	bin := clustertest.BuildSluice(t)
	sw := startSecureWorker(t, bin, "--slots", "1", "--max-binary", "64MiB")
	check := canaries(t, sw.w.Dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	good := rpc.NewClient(rpc.ClientConfig{TLS: sw.creds.ClientTLS()})
	defer good.Close()
	other, _ := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	var wg sync.WaitGroup
	for i := range 4 {
		// Without the secret: plain HTTP, and TLS with another secret.
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+sw.rpc+"/rpc/StartExecutor", io.LimitReader(zeros{}, huge))
			req.ContentLength = huge
			if resp, err := (&http.Client{}).Do(req); err == nil {
				resp.Body.Close()
			}
		})
		wg.Go(func() {
			c := rpc.NewClient(rpc.ClientConfig{TLS: other.ClientTLS()})
			defer c.Close()
			_, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, c, sw.rpc, worker.MethodUploadBinary,
				&worker.UploadBinaryRequest{SHA256: strings.Repeat("a", 64), Size: huge}, zeros{}, huge)
			if !errors.Is(err, rpc.ErrUnauthorized) {
				t.Errorf("an oversized upload without the secret: %v", err)
			}
		})
		// With the secret: a msgpack route's limit, and a binary over the
		// worker's --max-binary, announced and not.
		wg.Go(func() {
			_, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, good, sw.rpc, worker.MethodUploadBinary,
				&worker.UploadBinaryRequest{SHA256: strings.Repeat("b", 64), Size: huge}, zeros{}, huge)
			if err == nil {
				t.Errorf("upload %d of 500 MB was accepted", i)
			}
		})
		wg.Go(func() {
			_, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, good, sw.rpc, worker.MethodUploadBinary,
				&worker.UploadBinaryRequest{SHA256: strings.Repeat("c", 64), Size: 1 << 20}, zeros{}, huge)
			if err == nil {
				t.Errorf("upload %d of 500 MB announced as 1 MiB was accepted", i)
			}
		})
	}
	wg.Wait()
	check()
	peak := peakRSS(t, sw.w.PID())
	t.Logf("worker peak RSS after 16 oversized bodies: %d MiB", peak>>20)
	if peak > 100<<20 {
		t.Errorf("worker peak RSS %d MiB, want under 100 MiB", peak>>20)
	}
	tmp, _ := filepath.Glob(filepath.Join(sw.w.Dir, "bin", ".upload-*"))
	if len(tmp) > 0 {
		t.Errorf("refused uploads left %v", tmp)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// peakRSS reads a process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestSecretCommands: `sluice secret new > FILE` leaves FILE mode 0600
// whatever the umask; `new FILE` never overwrites; rotation goes stage,
// promote, retire, each step leaving a file every member can read.
func TestSecretCommands(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "redirected")
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := sluice(t, "secret", "new")
	cmd.Stdout = f
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("sluice secret new > FILE left mode %v, want 0600", st.Mode().Perm())
	}
	first, err := trust.ReadSecretFile(out)
	if err != nil || len(first) != 1 || len(first[0]) != 64 {
		t.Fatalf("the new secret: %q, %v", first, err)
	}
	if err := sluice(t, "secret", "new", out).Run(); err == nil {
		t.Error("sluice secret new FILE overwrote an existing file")
	}
	if again, _ := trust.ReadSecretFile(out); string(again[0]) != string(first[0]) {
		t.Error("the existing secret changed")
	}
	steps := []struct {
		step string
		n    int
	}{{"stage", 2}, {"promote", 2}, {"retire", 1}}
	var staged []byte
	for _, s := range steps {
		if b, err := sluice(t, "secret", "rotate", s.step, out).CombinedOutput(); err != nil {
			t.Fatalf("rotate %s: %v: %s", s.step, err, b)
		}
		got, err := trust.ReadSecretFile(out)
		if err != nil || len(got) != s.n {
			t.Fatalf("after %s: %d secrets, %v; want %d", s.step, len(got), err, s.n)
		}
		switch s.step {
		case "stage":
			staged = got[1]
		case "promote", "retire":
			if string(got[0]) != string(staged) {
				t.Errorf("after %s the secret in use is not the staged one", s.step)
			}
		}
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
			t.Errorf("after %s: mode %v, want 0600", s.step, st.Mode().Perm())
		}
	}
	if err := sluice(t, "secret", "rotate", "retire", out).Run(); err == nil {
		t.Error("retiring with one secret left succeeded")
	}
}
