package clustertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace a test made: a separate host with its own
// address, on a link only to the other namespaces of its pair.
type Netns struct {
	Name string
	IP   string // this host's address on the link
}

var netnsSeq atomic.Int64

// NetnsPair makes two network namespaces joined by a veth pair, with
// addresses 10.231.N.1 and 10.231.N.2, and removes them when the test
// ends. It skips the test where namespaces cannot be made (not root, no
// iproute2). Traffic between them never leaves the machine.
func NetnsPair(t testing.TB) (a, b *Netns) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	n := netnsSeq.Add(1)
	subnet := (os.Getpid()+int(n))%200 + 20
	a = &Netns{Name: fmt.Sprintf("sluice-%d-%da", os.Getpid(), n), IP: fmt.Sprintf("10.231.%d.1", subnet)}
	b = &Netns{Name: fmt.Sprintf("sluice-%d-%db", os.Getpid(), n), IP: fmt.Sprintf("10.231.%d.2", subnet)}
	for _, ns := range []*Netns{a, b} {
		if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
			t.Skipf("cannot make a network namespace: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
				t.Errorf("removing network namespace %s: %v: %s", ns.Name, err, out)
			}
		})
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("link", "add", "veth0", "netns", a.Name, "type", "veth", "peer", "name", "veth0", "netns", b.Name)
	for _, ns := range []*Netns{a, b} {
		ip("-n", ns.Name, "link", "set", "lo", "up")
		ip("-n", ns.Name, "addr", "add", ns.IP+"/24", "dev", "veth0")
		ip("-n", ns.Name, "link", "set", "veth0", "up")
	}
	return a, b
}

// Command returns a command that runs bin with args inside the namespace.
// It dies with the test process (Pdeathsig).
func (n *Netns) Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Dial connects to addr over TCP from inside the namespace.
func (n *Netns) Dial(addr string) (net.Conn, error) {
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
		f, err := os.Open(filepath.Join("/var/run/netns", n.Name))
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{nil, err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the test's network namespace: " + err.Error())
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// AwaitListening polls until addr accepts TCP connections from inside the
// namespace, or fails the test after limit or when exited is closed.
func (n *Netns) AwaitListening(t testing.TB, addr string, limit time.Duration, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if c, err := n.Dial(addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process that was to listen on %s in %s exited", addr, n.Name)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s in %s after %v", addr, n.Name, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
