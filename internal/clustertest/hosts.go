package clustertest

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/localcluster"
	"github.com/sluicehq/sluice/internal/trust"
)

// Hub is a set of hosts a test made: network namespaces, each with one
// address in 10.232.S.0/24, joined through a relay in the test process.
// Each host has a TUN link whose other end is a file the hub reads; every
// IPv4 packet one host sends another crosses the hub, which forwards it,
// drops it or delays it by the faults set on the two hosts. The kernel
// here has no netem, tc classifiers or iptables, and the relay needs none.
//
//	hub := clustertest.Hosts(t, 4)
//	w := hub.Hosts[1].StartWorker(t, bin, "task", hub.Join())
//	hub.Hosts[1].SetFaults(clustertest.Faults{Drop: 0.3})
//	hub.Hosts[2].LinkDown(t) // as a pulled cable: its own routes go too
//
// Everything is removed when the test ends, even when it fails: every
// process started in a host (by PID, including those the harness did not
// start itself but that run in a host's namespace), the relay's goroutines
// and links, and the namespaces.
type Hub struct {
	Hosts  []*Host
	Secret string // a cluster secret file: workers off loopback need one
	Seed   uint64 // of every drop decision, per source host: a hash of the test's name

	subnet  byte // the hosts are 10.232.subnet.1, .2, …
	delayed *delayQueue
	wg      sync.WaitGroup
	closed  atomic.Bool
	errMu   sync.Mutex
	err     error // the first error that stopped a relay goroutine
}

// Host is one network namespace on the hub.
type Host struct {
	Name string // the namespace, as `ip netns` names it
	IP   string // its address on the hub
	Link string // its link to the hub, inside the namespace

	hub    *Hub
	index  int
	tun    *os.File
	faults atomic.Pointer[Faults]
	stats  hostStats
}

// Faults are what the hub does to every packet to or from a host.
type Faults struct {
	Drop  float64       // probability that a packet is lost, each way
	Delay time.Duration // added to each packet, each way: a round trip grows by 2×Delay
	Cut   bool          // every packet is lost; the host's own link stays up
}

// Stats counts a host's packets at the hub, both directions.
type Stats struct {
	Sent      uint64 // IPv4 packets the host sent to another host
	Delivered uint64 // packets written to the host's link
	Dropped   uint64 // packets to or from it lost to Faults (Drop or Cut)
	Overflow  uint64 // packets to it lost because the delay queue was full
}

type hostStats struct {
	sent, delivered, dropped, overflow atomic.Uint64
}

// hubPort is the port hosts' workers listen on: every host has its own
// address, so all can use memberlist's customary port.
const hubPort = 7946

var hubSeq atomic.Int64

// Hosts makes n hosts joined by a hub (n from 2 to 250) and registers
// cleanups that remove them. It skips the test, with the reason, where
// namespaces or TUN devices cannot be made: not root, no `ip` command
// (iproute2), no /dev/net/tun.
func Hosts(t testing.TB, n int) *Hub {
	t.Helper()
	if n < 2 || n > 250 {
		t.Fatalf("clustertest.Hosts: %d hosts, want 2 to 250", n)
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	if fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		t.Skipf("cannot open /dev/net/tun: %v", err)
	} else {
		unix.Close(fd)
	}
	seq := hubSeq.Add(1)
	subnet := int(seq)%250 + 1
	seed := fnv.New64a()
	seed.Write([]byte(t.Name()))
	hub := &Hub{Seed: seed.Sum64(), subnet: byte(subnet), delayed: newDelayQueue(maxDelayed)}

	secret := filepath.Join(t.TempDir(), "secret")
	if err := trust.WriteSecretFile(secret, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
		t.Fatal(err)
	}
	hub.Secret = secret

	// Cleanups run last-registered first: processes, then the relay, then
	// the namespaces.
	for k := range n {
		h := &Host{
			Name:  fmt.Sprintf("sluice-%d-h%d-%d", os.Getpid(), seq, k),
			IP:    fmt.Sprintf("10.232.%d.%d", subnet, k+1),
			Link:  "hub0",
			hub:   hub,
			index: k,
		}
		h.faults.Store(&Faults{})
		if out, err := exec.Command("ip", "netns", "add", h.Name).CombinedOutput(); err != nil {
			t.Skipf("cannot make a network namespace: %v: %s", err, bytes.TrimSpace(out))
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", h.Name).CombinedOutput(); err != nil {
				t.Errorf("removing network namespace %s: %v: %s", h.Name, err, out)
			}
		})
		hub.Hosts = append(hub.Hosts, h)
	}
	t.Cleanup(hub.close)
	t.Cleanup(func() {
		for _, h := range hub.Hosts {
			h.killAll(t)
		}
		if err := hub.relayErr(); err != nil {
			t.Errorf("the hub's relay stopped: %v", err)
		}
	})
	for _, h := range hub.Hosts {
		if err := h.attach(); err != nil {
			t.Fatalf("host %s: %v", h.Name, err)
		}
	}
	hub.delayed.start(&hub.wg)
	for _, h := range hub.Hosts {
		hub.wg.Add(1)
		go func() {
			defer hub.wg.Done()
			hub.relay(h)
		}()
	}
	return hub
}

// attach makes the host's TUN link, moves it into the namespace, and
// gives it the host's address. The file stays bound to the link.
func (h *Host) attach() error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ifr, err := unix.NewIfreq("sluice%d") // the kernel picks a free name
	if err != nil {
		unix.Close(fd)
		return err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	// A non-blocking descriptor goes to Go's poller, so Close ends a Read.
	h.tun = os.NewFile(uintptr(fd), "/dev/net/tun:"+ifr.Name())
	for _, args := range [][]string{
		{"link", "set", ifr.Name(), "netns", h.Name},
		{"-n", h.Name, "link", "set", ifr.Name(), "name", h.Link},
		{"-n", h.Name, "addr", "add", h.IP + "/24", "dev", h.Link},
		{"-n", h.Name, "link", "set", "lo", "up"},
		{"-n", h.Name, "link", "set", h.Link, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// Join returns the gossip address of the worker on the first host: the
// address the others join.
func (hub *Hub) Join() string { return hub.Hosts[0].Addr() }

// Addr returns the host's address with the port its worker listens on.
func (h *Host) Addr() string { return net.JoinHostPort(h.IP, strconv.Itoa(hubPort)) }

// SetFaults sets what the hub does to packets to and from the host from
// now on. The zero Faults heals it.
func (h *Host) SetFaults(f Faults) { h.faults.Store(&f) }

// Faults returns the host's faults.
func (h *Host) Faults() Faults { return *h.faults.Load() }

// Stats returns the host's packet counts so far.
func (h *Host) Stats() Stats {
	return Stats{
		Sent:      h.stats.sent.Load(),
		Delivered: h.stats.delivered.Load(),
		Dropped:   h.stats.dropped.Load(),
		Overflow:  h.stats.overflow.Load(),
	}
}

// LinkDown sets the host's link down, as a pulled cable: the host loses
// its route to the others (connects fail at once inside it) and sends
// nothing more to the hub.
func (h *Host) LinkDown(t testing.TB) { t.Helper(); h.ip(t, "link", "set", h.Link, "down") }

// LinkUp sets the host's link up again; the kernel restores its route.
func (h *Host) LinkUp(t testing.TB) { t.Helper(); h.ip(t, "link", "set", h.Link, "up") }

func (h *Host) ip(t testing.TB, args ...string) {
	t.Helper()
	args = append([]string{"-n", h.Name}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Command returns a command that runs bin with args inside the host's
// namespace (`ip netns exec`, which execs bin: the command's PID is
// bin's). It dies with the test process (Pdeathsig); the hub's cleanup
// kills it by PID if it still runs when the test ends.
func (h *Host) Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.Name, bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// StartWorker starts `sluice worker` (bin) on the host, listening on its
// address with the hub's secret, joining join (empty: none), with more
// flags in args; it returns once the worker listens. The worker is killed
// by PID when the test ends.
func (h *Host) StartWorker(t testing.TB, bin, role, join string, args ...string) *Worker {
	t.Helper()
	addr, dir, log := h.Addr(), filepath.Join(t.TempDir(), h.Name), &syncBuffer{}
	argv := []string{"worker", "--listen", addr, "--secret-file", h.hub.Secret, "--role", role, "--slots", "2", "--dir", dir}
	if join != "" {
		argv = append(argv, "--join", join)
	}
	cmd := h.Command(bin, append(argv, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &Worker{Worker: localcluster.Adopt(h.Name, role, addr, dir, cmd), log: log}
	t.Cleanup(func() {
		w.Kill()
		if t.Failed() {
			t.Logf("worker on %s (%s) log:\n%s", h.Name, role, w.log.String())
		}
	})
	h.await(t, w.Addr, 30*time.Second, w.Exited())
	return w
}

// Do runs fn on an OS thread inside the host's namespace: sockets fn makes
// belong to the host, and stay there after fn returns.
func (h *Host) Do(fn func() error) error {
	return inNetns(filepath.Join("/var/run/netns", h.Name), fn)
}

// Dial connects to addr over TCP from inside the host, within limit.
func (h *Host) Dial(addr string, limit time.Duration) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, limit)
		return err
	})
	return c, err
}

// Listen listens on addr over TCP inside the host.
func (h *Host) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// await polls until addr accepts TCP connections from inside the host.
func (h *Host) await(t testing.TB, addr string, limit time.Duration, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if c, err := h.Dial(addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process that was to listen on %s in %s exited", addr, h.Name)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s in %s after %v", addr, h.Name, limit)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// killAll kills, by PID, every process left in the host's namespace: the
// workers the test started, their executors, drivers. Stopped processes
// die of SIGKILL too.
func (h *Host) killAll(t testing.TB) {
	for range 50 {
		out, err := exec.Command("ip", "netns", "pids", h.Name).Output()
		if err != nil {
			t.Errorf("listing processes in %s: %v", h.Name, err)
			return
		}
		var pids []int
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond) // let the kernel reap them before listing again
	}
	t.Errorf("processes still running in %s after repeated SIGKILL", h.Name)
}

func (hub *Hub) fail(err error) {
	hub.errMu.Lock()
	defer hub.errMu.Unlock()
	if hub.err == nil {
		hub.err = err
	}
}

func (hub *Hub) relayErr() error {
	hub.errMu.Lock()
	defer hub.errMu.Unlock()
	return hub.err
}

// close stops the relay: closing the links' files ends their reads (and
// removes the links), then it waits for every goroutine.
func (hub *Hub) close() {
	hub.closed.Store(true)
	for _, h := range hub.Hosts {
		if h.tun != nil {
			h.tun.Close()
		}
	}
	hub.delayed.stop()
	hub.wg.Wait()
}

// inNetns runs fn on a locked OS thread that enters the namespace at path
// and goes back before it is unlocked. (A thread that exited instead would
// take with it any child it started, whose death signal is tied to it.)
func inNetns(path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- err
			return
		}
		defer self.Close()
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering %s: %w", path, err)
			return
		}
		err = fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the test's network namespace: " + err.Error())
		}
		done <- err
	}()
	return <-done
}
