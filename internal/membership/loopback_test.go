package membership

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests use the real network on 127.0.0.1 and real time, so their
// waits are generous: other packages' tests share the machine's two cores.

const loopbackWait = 15 * time.Second

func startLoopback(t *testing.T, name string, i int) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Keys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")} // trust.Creds.GossipKeys in a real member
	cfg.Meta = metaOf(i)
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return n
}

// await reads n's events until one of kind about member arrives or the
// deadline passes, and returns when it arrived.
func await(n *Node, kind EventKind, member string, deadline time.Time) (time.Time, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-n.Events():
			if !ok {
				return time.Time{}, fmt.Errorf("%s: events closed", n.Name())
			}
			if ev.Kind == kind && ev.Member.Name == member {
				return time.Now(), nil
			}
		case <-timer.C:
			return time.Time{}, fmt.Errorf("%s: no %s event for %s in time; members %v", n.Name(), kind, member, names(n.Members()))
		}
	}
}

// TestLoopbackFailureDetection measures, over real UDP and TCP on loopback,
// how long the survivors take to report Failed for a node that vanished
// without a word (Shutdown without Leave looks like SIGKILL to them).
func TestLoopbackFailureDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time failure detection takes seconds")
	}
	nodes := []*Node{startLoopback(t, "lb-1", 0), startLoopback(t, "lb-2", 1), startLoopback(t, "lb-3", 2)}
	ctx, cancel := context.WithTimeout(t.Context(), loopbackWait)
	defer cancel()
	for _, n := range nodes[1:] {
		if _, err := n.Join(ctx, []string{nodes[0].Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		waitMembers(t, n, "lb-1", "lb-2", "lb-3")
	}

	killed := time.Now()
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		took time.Duration
		err  error
	}
	results := make(chan result, 2)
	for _, n := range nodes[:2] {
		go func() {
			at, err := await(n, Failed, "lb-3", killed.Add(loopbackWait))
			results <- result{n.Name(), at.Sub(killed), err}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		// Expected ~2.5 s with DefaultConfig; the bound is for loaded CI.
		t.Logf("%s reported lb-3 failed %v after it was killed", r.name, r.took.Round(time.Millisecond))
	}
}

func TestLoopbackBindFailureNamesAddress(t *testing.T) {
	first := startLoopback(t, "bind-1", 0)
	cfg := DefaultConfig()
	cfg.Name = "bind-2"
	cfg.BindAddr = first.Addr()
	cfg.Meta = metaOf(1)
	n, err := Start(cfg)
	if err == nil {
		_ = n.Shutdown()
		t.Fatalf("second Start on %s succeeded", first.Addr())
	}
	if !strings.Contains(err.Error(), first.Addr()) {
		t.Errorf("bind error %q does not name %s", err, first.Addr())
	}
}
