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
	"net/http"
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
		t.Skipf("no S3 server for this test: %v", err)
	}
	return StartBinary(t, bin, "127.0.0.1", t.TempDir())
}

// StartBinary starts bin listening on host, storing under root (its
// objects in root/data, their metadata in root/meta), with
// optional wrapping (e.g. "ip netns exec NS") before the command.
func StartBinary(t testing.TB, bin, host, root string, wrap ...string) *Server {
	t.Helper()
	var last error
	for range 5 {
		port, err := freePort(host)
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort(host, fmt.Sprint(port))
		data, meta := filepath.Join(root, "data"), filepath.Join(root, "meta")
		args := append(append([]string{}, wrap...), bin, "--access", AccessKey, "--secret", SecretKey,
			"--port", addr, "--quiet", "posix", "--sidecar", meta, data)
		for _, d := range []string{data, meta} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(args[0], args[1:]...)
		var logb syncBuffer
		cmd.Stdout, cmd.Stderr = &logb, &logb
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		s := &Server{URL: "http://" + addr, Root: data, cmd: cmd}
		if err := waitUp(s.URL, exited, 30*time.Second); err != nil {
			cmd.Process.Kill()
			<-exited
			last = fmt.Errorf("versitygw on %s: %v; its output: %s", addr, err, logb.String())
			continue // most likely the port was taken in between
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return s
	}
	t.Fatal(last)
	return nil
}

// waitUp polls the server until it answers HTTP (any status).
func waitUp(url string, exited <-chan struct{}, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited")
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not answering after %v", limit)
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
