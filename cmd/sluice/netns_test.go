package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/trust"
	"golang.org/x/sys/unix"
)

// netns is a network namespace the test made, with a veth pair (both ends inside)
// holding addr: a host address that is not loopback, on no real network.
type netns struct {
	name, addr string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	n := &netns{name: fmt.Sprintf("sluice-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6), addr: "10.231.77.1"}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("removing network namespace %s: %v: %s", n.name, err, out)
		}
	})
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "d0", "type", "veth", "peer", "name", "d1"},
		{"addr", "add", n.addr + "/24", "dev", "d0"},
		{"link", "set", "d0", "up"},
		{"link", "set", "d1", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %v: %v: %s", n.name, args, err, out)
		}
	}
	return n
}

// command returns a command that runs this test binary as sluice inside
// the namespace.
func (n *netns) command(args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// dial connects to addr from inside the namespace.
func (n *netns) dial(addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		// This thread enters the namespace and goes back before it is
		// unlocked. (A thread that exited instead would take with it any
		// child it started, whose death signal is tied to it.)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer self.Close()
		f, err := os.Open(filepath.Join("/var/run/netns", n.name))
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		const cloneNewNet = 0x40000000
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, f.Fd(), cloneNewNet, 0); e != 0 {
			done <- result{nil, e}
			return
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, self.Fd(), cloneNewNet, 0); e != 0 {
			panic("cannot return to the test's network namespace: " + e.Error())
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// TestWorkerOffLoopbackNeedsASecret: on a host address that is not
// loopback, a worker without a secret does not start and says what to
// give; with a secret, or with --insecure, it does.
func TestWorkerOffLoopbackNeedsASecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	n := newNetns(t)
	listen := n.addr + ":7946"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := trust.WriteSecretFile(secretFile, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"worker", "--listen", listen},
		{"worker", "--listen", "0.0.0.0:7946"},
		{"worker", "--listen", "127.0.0.1:7946", "--advertise", listen},
	} {
		cmd := n.command(append(args, "--dir", t.TempDir())...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := runCtx(ctx, cmd)
		cancel()
		msg := strings.TrimSpace(stderr.String())
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%v without a secret: %v, want exit status 2; stderr:\n%s", args, err, msg)
		}
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "--secret-file") || !strings.Contains(msg, "--insecure") {
			t.Errorf("%v: want one line naming --secret-file and --insecure, got:\n%s", args, msg)
		}
	}

	for _, extra := range [][]string{{"--secret-file", secretFile}, {"--insecure"}} {
		cmd := n.command(append([]string{"worker", "--listen", listen, "--dir", t.TempDir()}, extra...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		up := false
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !up; {
			select {
			case err := <-exited:
				t.Fatalf("worker %v exited: %v\n%s", extra, err, stderr.String())
			default:
			}
			if c, err := n.dial(listen); err == nil {
				c.Close()
				up = true
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		cmd.Process.Kill()
		<-exited
		if !up {
			t.Errorf("worker %v is not listening on %s:\n%s", extra, listen, stderr.String())
		}
	}
}

// runCtx runs cmd, killing it by PID if ctx ends first.
func runCtx(ctx context.Context, cmd *exec.Cmd) error {
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
