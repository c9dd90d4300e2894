// Package s3test starts a real S3 server for tests: versitygw
// (github.com/versity/versitygw) over a temporary directory, built from
// the tools module (tools/go.mod) so the main module does not depend on
// it. The binary is built once and cached by the go command's build cache
// (`go tool -n`); a test that cannot build it is skipped with the reason.
//
//	srv := s3test.Start(t)
//	srv.Setenv(t) // AWS_ENDPOINT_URL and the keys, for this process
//	bucket := srv.Bucket(t, "in")
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the versitygw release tools/go.mod pins.
const Version = "v1.8.0"

// Credentials of the server's root account.
const (
	AccessKey = "sluicetest"
	SecretKey = "sluicetest-secret-key"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of the versitygw binary, building it on first
// use.
func Binary() (string, error) {
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "-C", filepath.Join(root, "tools"), "tool", "-n", "versitygw")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			build.err = fmt.Errorf("building versitygw (go -C tools tool -n versitygw): %v: %s", err, strings.TrimSpace(errb.String()))
			return
		}
		build.path = strings.TrimSpace(out.String())
	})
	return build.path, build.err
}

// moduleRoot is the directory of the main module's go.mod, found upwards
// from the working directory (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no tools/go.mod above the working directory")
		}
		dir = parent
	}
}

// Server is a running versitygw.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Root string // the posix backend's directory: one subdirectory per bucket
	cmd  *exec.Cmd
}

// Start starts a server on 127.0.0.1 over a fresh temporary directory and
// stops it (by PID) when the test ends. It skips the test when versitygw
// cannot be built.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		SkipOrFail(t, err)
	}
	return StartWith(t, bin, Options{})
}

// SkipOrFail skips the test for want of a server, or fails it on CI
// (CI set), where .ci/setup has built the server and a test that skipped
// would hide a broken build.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("no S3 server for this test on CI: %v", err)
	}
	t.Skipf("no S3 server for this test: %v", err)
}

// Options say where a server runs. Zero values: 127.0.0.1, a free port, a
// temporary directory, exec.Command, net.DialTimeout.
type Options struct {
	Host    string // the address it listens on
	Port    int    // its port
	Root    string // its directory: objects in Root/data, their metadata in Root/meta
	Command func(bin string, args ...string) *exec.Cmd
	Dial    func(addr string, limit time.Duration) (net.Conn, error) // to see it listen
}

// StartWith starts the versitygw binary bin as o says and stops it (by
// PID) when the test ends.
func StartWith(t testing.TB, bin string, o Options) *Server {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	if o.Command == nil {
		o.Command = exec.Command
	}
	if o.Dial == nil {
		o.Dial = func(addr string, limit time.Duration) (net.Conn, error) { return net.DialTimeout("tcp", addr, limit) }
	}
	data, meta := filepath.Join(o.Root, "data"), filepath.Join(o.Root, "meta")
	for _, d := range []string{data, meta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var last error
	for range 5 {
		port := o.Port
		if port == 0 {
			var err error
			if port, err = freePort(o.Host); err != nil {
				t.Fatal(err)
			}
		}
		addr := net.JoinHostPort(o.Host, fmt.Sprint(port))
		cmd := o.Command(bin, "--access", AccessKey, "--secret", SecretKey,
			"--port", addr, "--quiet", "posix", "--sidecar", meta, data)
		var logb syncBuffer
		cmd.Stdout, cmd.Stderr = &logb, &logb
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if err := waitUp(addr, o.Dial, exited, 30*time.Second); err != nil {
			cmd.Process.Kill()
			<-exited
			last = fmt.Errorf("versitygw on %s: %v; its output: %s", addr, err, logb.String())
			if o.Port != 0 {
				break
			}
			continue // most likely the port was taken in between
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return &Server{URL: "http://" + addr, Root: data, cmd: cmd}
	}
	t.Fatal(last)
	return nil
}

// waitUp polls until the server accepts connections.
func waitUp(addr string, dial func(string, time.Duration) (net.Conn, error), exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited")
		default:
		}
		if c, err := dial(addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not accepting connections after %v", limit)
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Env is the environment a client of s needs.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.URL, "AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
}

// Setenv points this process's default store at s for the test.
func (s *Server) Setenv(t testing.TB) {
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// Nothing from the machine's own AWS setup may leak in.
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// Bucket creates a bucket (a directory of the posix backend) and returns
// its URL, s3://name/.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.Root, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return "s3://" + name + "/"
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		return len(p), nil // enough to explain a failure
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
