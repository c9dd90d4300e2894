package clustertest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoServer accepts connections on ln and echoes what they send.
func echoServer(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// echo sends n seeded random bytes over c and checks that they come back
// intact within limit.
func echo(t *testing.T, c net.Conn, n int, seed uint64, limit time.Duration) {
	t.Helper()
	want := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	c.SetDeadline(time.Now().Add(limit))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo of %d bytes: %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the echo differs from what was sent")
	}
}

// rtt returns the median of rounds one-byte round trips over c.
func rtt(t *testing.T, c net.Conn, rounds int) time.Duration {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var ds []time.Duration
	b := []byte{1}
	for range rounds {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestHubRelay checks the relay itself between two of three hosts: TCP
// works; 30% loss on one host drops packets (counted) yet TCP delivers
// everything; a delay on one host grows the round trip by twice the delay
// (it applies each way); a cut host and a host whose link is down cannot
// be reached, and both heal.
func TestHubRelay(t *testing.T) {
	hub := Hosts(t, 3)
	a, b := hub.Hosts[0], hub.Hosts[1]
	server := b.IP + ":9000"
	ln, err := b.Listen(server)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := a.Dial(server, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s from %s: %v", server, a.Name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	var base time.Duration
	t.Run("forwards", func(t *testing.T) {
		c := dial(t)
		echo(t, c, 1<<20, 1, 30*time.Second)
		base = rtt(t, c, 20)
		t.Logf("round trip %v; %s: %+v", base, b.Name, b.Stats())
		if s := b.Stats(); s.Dropped != 0 || s.Delivered == 0 {
			t.Fatalf("fault-free: %+v", s)
		}
	})

	t.Run("30% loss", func(t *testing.T) {
		b.SetFaults(Faults{Drop: 0.3})
		defer b.SetFaults(Faults{})
		beforeA, beforeB := a.Stats(), b.Stats()
		echo(t, dial(t), 16<<10, 2, 60*time.Second)
		afterA, afterB := a.Stats(), b.Stats()
		// Every packet between a and b is counted at its sender, and a
		// lost one at both ends.
		sent := afterA.Sent - beforeA.Sent + afterB.Sent - beforeB.Sent
		dropped := afterB.Dropped - beforeB.Dropped
		t.Logf("%d of %d packets dropped (%.0f%%)", dropped, sent, 100*float64(dropped)/float64(sent))
		if sent < 40 || float64(dropped) < 0.1*float64(sent) || float64(dropped) > 0.5*float64(sent) {
			t.Fatalf("%d packets dropped of %d, want about 30%%", dropped, sent)
		}
	})

	t.Run("delay", func(t *testing.T) {
		const delay = 100 * time.Millisecond
		b.SetFaults(Faults{Delay: delay})
		defer b.SetFaults(Faults{})
		got := rtt(t, dial(t), 5)
		t.Logf("round trip %v with %v each way, %v without", got, delay, base)
		if grew := got - base; grew < 2*delay-10*time.Millisecond || grew > 2*delay+150*time.Millisecond {
			t.Fatalf("the round trip grew by %v, want about %v", grew, 2*delay)
		}
	})

	t.Run("cut", func(t *testing.T) {
		c := dial(t)
		b.SetFaults(Faults{Cut: true})
		if c2, err := a.Dial(server, time.Second); err == nil {
			c2.Close()
			t.Fatal("connected to a cut host")
		}
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte{1}); err == nil {
			if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
				t.Fatal("an echo crossed a cut")
			}
		}
		b.SetFaults(Faults{})
		echo(t, dial(t), 1<<10, 3, 10*time.Second)
	})

	t.Run("link down", func(t *testing.T) {
		b.LinkDown(t)
		start := time.Now()
		_, err := b.Dial(a.IP+":9", 5*time.Second)
		if !errors.Is(err, syscall.ENETUNREACH) || time.Since(start) > time.Second {
			t.Fatalf("dial from a host whose link is down: %v after %v, want network unreachable at once", err, time.Since(start))
		}
		if c, err := a.Dial(server, time.Second); err == nil {
			c.Close()
			t.Fatal("connected to a host whose link is down")
		}
		b.LinkUp(t)
		echo(t, dial(t), 1<<10, 4, 10*time.Second)
	})
}

// TestHostsCleanup: when a test ends, its hosts' processes are killed
// (even those it did not wait for), and its namespaces and links are gone.
func TestHostsCleanup(t *testing.T) {
	var names []string
	var cmd *exec.Cmd
	exited := make(chan struct{})
	t.Run("hosts", func(t *testing.T) {
		hub := Hosts(t, 2)
		for _, h := range hub.Hosts {
			names = append(names, h.Name)
		}
		cmd = hub.Hosts[1].Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); close(exited) }()
	})
	if len(names) == 0 {
		t.Skip("no hosts were made")
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("a process in a host outlived its test")
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind", n)
		}
		if _, err := os.Stat("/var/run/netns/" + n); err == nil {
			t.Errorf("/var/run/netns/%s left behind", n)
		}
	}
}
