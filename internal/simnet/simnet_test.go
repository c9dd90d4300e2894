package simnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	addrA = "10.0.0.1:7946"
	addrB = "10.0.0.2:7946"
	addrC = "10.0.0.3:7946"
)

func transports(t *testing.T, n *Network, addrs ...string) []*Transport {
	t.Helper()
	var ts []*Transport
	for _, a := range addrs {
		tr, err := n.Transport(a)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Shutdown() })
		ts = append(ts, tr)
	}
	return ts
}

// recv returns the packet waiting at tr, or nil when none is.
func recv(tr *Transport) *memberlist.Packet {
	select {
	case p := <-tr.PacketCh():
		return p
	default:
		return nil
	}
}

func TestTransportAddresses(t *testing.T) {
	n := New(1)
	for _, bad := range []string{"", "10.0.0.1", "host:7946", "10.0.0.1:0", "10.0.0.1:x", "10.0.0.1:70000"} {
		if _, err := n.Transport(bad); !errors.Is(err, ErrBadAddr) {
			t.Errorf("Transport(%q) = %v, want ErrBadAddr", bad, err)
		}
	}
	a, err := n.Transport(addrA)
	if err != nil {
		t.Fatal(err)
	}
	ip, port, err := a.FinalAdvertiseAddr("", 0)
	if err != nil || ip.String() != "10.0.0.1" || port != 7946 {
		t.Errorf("FinalAdvertiseAddr = %v, %d, %v; want 10.0.0.1, 7946", ip, port, err)
	}
	if _, err := n.Transport(addrA); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second Transport(%s) = %v, want ErrAddrInUse", addrA, err)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("x"), addrB); !errors.Is(err, ErrShutdown) {
		t.Errorf("WriteTo after Shutdown = %v, want ErrShutdown", err)
	}
	if _, err := a.DialTimeout(addrB, time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("DialTimeout after Shutdown = %v, want ErrShutdown", err)
	}
	if _, err := n.Transport(addrA); err != nil {
		t.Errorf("Transport(%s) after Shutdown = %v, want the address reused", addrA, err)
	}
}

func TestPackets(t *testing.T) {
	n := New(1)
	ts := transports(t, n, addrA, addrB)
	a, b := ts[0], ts[1]

	buf := []byte("ping")
	if _, err := a.WriteTo(buf, addrB); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXX") // the network must have kept its own copy
	p := recv(b)
	if p == nil || string(p.Buf) != "ping" || p.From.String() != addrA || p.Timestamp.IsZero() {
		t.Fatalf("received %+v, want \"ping\" from %s", p, addrA)
	}
	if _, err := b.WriteToAddress([]byte("pong"), memberlist.Address{Addr: addrA, Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if p := recv(a); p == nil || string(p.Buf) != "pong" {
		t.Fatalf("received %+v, want \"pong\"", p)
	}

	// A datagram to nowhere is lost without an error, as UDP's is.
	if _, err := a.WriteTo([]byte("lost"), "10.9.9.9:1"); err != nil {
		t.Errorf("WriteTo unknown address = %v, want nil", err)
	}
	if got, want := n.Stats(), (Stats{Sent: 3, Delivered: 2, Dropped: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	n := New(1)
	ts := transports(t, n, addrA, addrB)
	const extra = 10
	for i := 0; i < packetQueue+extra; i++ {
		if _, err := ts[0].WriteTo([]byte{byte(i)}, addrB); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Stats(); got.Delivered != packetQueue || got.Overflow != extra {
		t.Errorf("Stats = %+v, want %d delivered and %d overflowed", got, packetQueue, extra)
	}
}

// delivered sends count packets from a to b and returns which arrived.
func delivered(t *testing.T, n *Network, a, b *Transport, count int) []bool {
	t.Helper()
	got := make([]bool, count)
	for i := range count {
		if _, err := a.WriteTo([]byte{byte(i)}, b.Addr()); err != nil {
			t.Fatal(err)
		}
		got[i] = recv(b) != nil
	}
	return got
}

func TestDropIsSeeded(t *testing.T) {
	const count = 2000
	run := func(seed uint64) []bool {
		n := New(seed)
		ts := transports(t, n, addrA, addrB)
		n.Drop(0.3)
		return delivered(t, n, ts[0], ts[1], count)
	}
	first := run(7)
	arrived := 0
	for _, ok := range first {
		if ok {
			arrived++
		}
	}
	if lo, hi := count*6/10, count*8/10; arrived < lo || arrived > hi {
		t.Errorf("%d of %d packets arrived at 30%% loss, want %d..%d", arrived, count, lo, hi)
	}
	again := run(7)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("packet %d: arrived=%v with seed 7, then %v with the same seed", i, first[i], again[i])
		}
	}
	other := run(8)
	same := true
	for i := range first {
		same = same && first[i] == other[i]
	}
	if same {
		t.Error("seeds 7 and 8 lost the same packets")
	}
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		ts := transports(t, n, addrA, addrB)
		const d = 30 * time.Millisecond
		n.Delay(d)
		start := time.Now()
		sent, err := ts[0].WriteTo([]byte("slow"), addrB)
		if err != nil {
			t.Fatal(err)
		}
		if !sent.Equal(start) {
			t.Errorf("WriteTo returned at %v, want at once", sent.Sub(start))
		}
		synctest.Wait()
		if p := recv(ts[1]); p != nil {
			t.Fatal("packet arrived before the delay")
		}
		p := <-ts[1].PacketCh()
		if got := p.Timestamp.Sub(start); got != d {
			t.Errorf("packet arrived after %v, want %v", got, d)
		}
		// A node that crashes while a packet is in flight does not get it.
		if _, err := ts[0].WriteTo([]byte("late"), addrB); err != nil {
			t.Fatal(err)
		}
		n.Crash(addrB)
		time.Sleep(2 * d) // virtual: let the delivery timer fire
		if p := recv(ts[1]); p != nil {
			t.Errorf("crashed node received %q", p.Buf)
		}
	})
}

func TestPartitionAndHeal(t *testing.T) {
	n := New(1)
	ts := transports(t, n, addrA, addrB, addrC)
	a, b, c := ts[0], ts[1], ts[2]
	ac, err := a.DialTimeout(addrC, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ca := <-c.StreamCh()
	ab, err := a.DialTimeout(addrB, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	<-b.StreamCh()

	n.Partition([]string{addrA, addrB}, []string{addrC})
	for _, tc := range []struct {
		from, to *Transport
		want     bool
	}{{a, b, true}, {b, a, true}, {a, c, false}, {c, a, false}, {b, c, false}, {c, b, false}} {
		if got := delivered(t, n, tc.from, tc.to, 1)[0]; got != tc.want {
			t.Errorf("%s→%s arrived=%v during partition, want %v", tc.from.Addr(), tc.to.Addr(), got, tc.want)
		}
	}
	if _, err := c.DialTimeout(addrA, time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial across partition = %v, want ErrUnreachable", err)
	}
	if _, err := ac.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
		t.Errorf("read on a stream across the partition = %v, want ErrReset", err)
	}
	if _, err := ca.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Errorf("write on a stream across the partition = %v, want ErrReset", err)
	}
	if _, err := ab.Write([]byte("x")); err != nil {
		t.Errorf("write on a stream within one side = %v, want nil", err)
	}

	n.Heal()
	if !delivered(t, n, c, a, 1)[0] {
		t.Error("packet C→A lost after Heal")
	}
	conn, err := c.DialTimeout(addrA, time.Second)
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	_ = conn.Close()
}

func TestCrashAndRestart(t *testing.T) {
	n := New(1)
	ts := transports(t, n, addrA, addrB)
	a, b := ts[0], ts[1]
	ab, err := a.DialTimeout(addrB, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ba := <-b.StreamCh()
	if _, err := a.WriteTo([]byte("queued"), addrB); err != nil {
		t.Fatal(err)
	}

	n.Crash(addrB)
	if p := recv(b); p != nil {
		t.Errorf("packet %q survived the crash in B's queue", p.Buf)
	}
	if delivered(t, n, a, b, 1)[0] || delivered(t, n, b, a, 1)[0] {
		t.Error("packets flow to or from a crashed node")
	}
	if _, err := ab.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
		t.Errorf("read from a crashed peer = %v, want ErrReset", err)
	}
	if _, err := ba.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
		t.Errorf("read on a crashed node = %v, want ErrReset", err)
	}
	if _, err := a.DialTimeout(addrB, time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial to a crashed node = %v, want ErrUnreachable", err)
	}
	if _, err := b.DialTimeout(addrA, time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial from a crashed node = %v, want ErrUnreachable", err)
	}

	n.Restart(addrB)
	if !delivered(t, n, a, b, 1)[0] || !delivered(t, n, b, a, 1)[0] {
		t.Error("packets lost after Restart")
	}
	if _, err := a.DialTimeout(addrB, time.Second); err != nil {
		t.Errorf("dial after Restart: %v", err)
	}
}

func TestStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		ts := transports(t, n, addrA, addrB)
		if _, err := ts[0].DialTimeout("10.9.9.9:1", time.Second); !errors.Is(err, ErrRefused) {
			t.Errorf("dial to nowhere = %v, want ErrRefused", err)
		}
		client, err := ts[0].DialAddressTimeout(memberlist.Address{Addr: addrB, Name: "b"}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		server := <-ts[1].StreamCh()
		if got := server.RemoteAddr().String(); got != addrA {
			t.Errorf("server sees the client at %s, want %s", got, addrA)
		}

		// A write larger than the buffer waits for the reader, then completes.
		big := bytes.Repeat([]byte("0123456789abcdef"), 2*streamBuffer/16+1)
		werr := make(chan error, 1)
		go func() {
			_, err := client.Write(big)
			if err == nil {
				err = client.Close()
			}
			werr <- err
		}()
		synctest.Wait()
		select {
		case err := <-werr:
			t.Fatalf("write of %d bytes into a %d-byte buffer returned %v before anything was read", len(big), streamBuffer, err)
		default:
		}
		got, err := io.ReadAll(server)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read %d bytes, %v; want the %d bytes written and EOF", len(got), err, len(big))
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("write to a closed peer = %v, want io.ErrClosedPipe", err)
		}
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after Close = %v, want net.ErrClosed", err)
		}
		_ = server.Close()
	})
}

func TestStreamDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		ts := transports(t, n, addrA, addrB)
		client, err := ts[0].DialTimeout(addrB, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		server := <-ts[1].StreamCh()
		defer client.Close()
		defer server.Close()

		start := time.Now()
		_ = server.SetReadDeadline(start.Add(time.Second))
		if _, err := server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline = %v, want os.ErrDeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("read gave up after %v, want 1s", waited)
		}
		// Clearing the deadline makes the stream usable again.
		_ = server.SetReadDeadline(time.Time{})
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Read(make([]byte, 1)); err != nil {
			t.Errorf("read after clearing the deadline = %v", err)
		}

		// A full buffer and a write deadline: the write returns what fit.
		_ = client.SetWriteDeadline(time.Now().Add(time.Second))
		nw, err := client.Write(make([]byte, streamBuffer+10))
		if !errors.Is(err, os.ErrDeadlineExceeded) || nw != streamBuffer {
			t.Errorf("write into a full buffer = %d, %v; want %d, os.ErrDeadlineExceeded", nw, err, streamBuffer)
		}

		// Shutting a transport down breaks its streams.
		_ = ts[1].Shutdown()
		if _, err := io.ReadAll(client); !errors.Is(err, ErrReset) {
			t.Errorf("read from a shut-down peer = %v, want ErrReset", err)
		}
	})
}
