package membership

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/sluicehq/sluice/internal/simnet"
)

// These tests run whole clusters over simnet inside testing/synctest
// bubbles: memberlist's tickers and timers and simnet's delays all run on the
// bubble's virtual clock, so minutes of protocol time take milliseconds and
// no test waits on the machine's load. Every goroutine memberlist starts
// blocks only on channels and timers of the bubble (simnet has no sockets),
// which is what makes this work.

// settle is how much virtual time to let pass after shutting every node down
// before a bubble ends: memberlist.Shutdown does not wait for a probe or a
// stream handler already running, and those finish on timers no longer than
// this (probe interval, TCP timeout, suspicion timeout).
const settle = time.Minute

// eventWait bounds, in virtual time, every wait for a cluster to react.
const eventWait = 30 * time.Second

type cluster struct {
	t     *testing.T
	net   *simnet.Network
	nodes []*Node
}

func addrOf(i int) string { return fmt.Sprintf("10.0.0.%d:7946", i+1) }
func nameOf(i int) string { return fmt.Sprintf("node-%d", i+1) }

func metaOf(i int) Meta {
	role := RoleCore
	if i%2 == 1 {
		role = RoleTask
	}
	return Meta{Role: role, State: StateAlive, Slots: i + 1, RPC: fmt.Sprintf("10.0.0.%d:7070", i+1), Version: "v1.2.3"}
}

// newCluster starts n nodes on sn and has nodes 1..n-1 join node 0. It must
// run inside a bubble; the caller defers c.close.
func newCluster(t *testing.T, seed uint64, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, net: simnet.New(seed)}
	for i := range n {
		c.nodes = append(c.nodes, c.start(i, nil))
	}
	for _, node := range c.nodes[1:] {
		if _, err := node.Join(t.Context(), []string{addrOf(0)}); err != nil {
			c.fatal(err)
		}
	}
	return c
}

// fatal stops the test after shutting the cluster down, since a bubble
// whose root goroutine ends with nodes still running deadlocks.
func (c *cluster) fatal(err error) {
	c.t.Helper()
	c.close()
	c.t.Fatal(err)
}

// start starts node i on its simnet address.
func (c *cluster) start(i int, secret []byte) *Node {
	c.t.Helper()
	tr, err := c.net.Transport(addrOf(i))
	if err != nil {
		c.fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Name = nameOf(i)
	cfg.Transport = tr
	cfg.BindAddr = addrOf(i)
	cfg.Meta = metaOf(i)
	if secret != nil {
		cfg.Keys = gossipKeys(secret)
	}
	node, err := Start(cfg)
	if err != nil {
		c.fatal(err)
	}
	return node
}

// close shuts every node down and lets the bubble's timers run out.
func (c *cluster) close() {
	for _, n := range c.nodes {
		if n != nil {
			if err := n.Shutdown(); err != nil {
				c.t.Error(err)
			}
		}
	}
	time.Sleep(settle)
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// waitMembers waits until n's live members are exactly want (names),
// following n's events.
func waitMembers(t *testing.T, n *Node, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.After(eventWait)
	for {
		got := names(n.Members())
		if slices.Equal(got, want) {
			return
		}
		select {
		case _, ok := <-n.Events():
			if !ok {
				t.Fatalf("%s: events closed while waiting for members %v", n.Name(), want)
			}
		case <-deadline:
			t.Fatalf("%s sees members %v after %v, want %v", n.Name(), got, eventWait, want)
		}
	}
}

// waitEvent reads n's events until one of kind about member arrives.
func waitEvent(t *testing.T, n *Node, kind EventKind, member string) Event {
	t.Helper()
	deadline := time.After(eventWait)
	for {
		select {
		case ev, ok := <-n.Events():
			if !ok {
				t.Fatalf("%s: events closed while waiting for %s %s", n.Name(), member, kind)
			}
			if ev.Kind == kind && ev.Member.Name == member {
				return ev
			}
		case <-deadline:
			t.Fatalf("%s: no %s event for %s within %v", n.Name(), kind, member, eventWait)
		}
	}
}

func allNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, nameOf(i))
	}
	return out
}

func TestClusterSeesEachOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1, 5)
		defer c.close()
		var want []Member
		for i := range c.nodes {
			want = append(want, Member{Name: nameOf(i), Addr: addrOf(i), Meta: metaOf(i)})
		}
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(5)...)
			if got := n.Members(); !slices.Equal(got, want) {
				t.Errorf("%s: Members() = %+v, want %+v", n.Name(), got, want)
			}
		}
		if got := c.nodes[2].Addr(); got != addrOf(2) {
			t.Errorf("Addr() = %s, want %s", got, addrOf(2))
		}
	})
}

func TestOwnJoinIsTheFirstEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1, 1)
		defer c.close()
		ev := <-c.nodes[0].Events()
		want := Event{Kind: Joined, Member: Member{Name: nameOf(0), Addr: addrOf(0), Meta: metaOf(0)}}
		if ev != want {
			t.Errorf("first event = %+v, want %+v", ev, want)
		}
	})
}

func TestUpdateMetaReachesOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, 4)
		defer c.close()
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(4)...)
		}
		draining := metaOf(1)
		draining.State = StateDraining
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := c.nodes[1].UpdateMeta(ctx, draining); err != nil {
			t.Fatal(err)
		}
		for i, n := range c.nodes {
			if i == 1 {
				continue
			}
			ev := waitEvent(t, n, Updated, nameOf(1))
			if ev.Member.Meta != draining {
				t.Errorf("%s: Updated meta = %+v, want %+v", n.Name(), ev.Member.Meta, draining)
			}
		}
		t.Logf("draining state reached all 3 peers after %v (virtual)", time.Since(start))
		for _, m := range c.nodes[3].Members() {
			if m.Name == nameOf(1) && m.Meta.State != StateDraining {
				t.Errorf("Members() shows %s in state %q, want draining", m.Name, m.Meta.State)
			}
		}
	})
}

func TestCrashIsFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, 4)
		defer c.close()
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(4)...)
		}
		start := time.Now()
		c.net.Crash(addrOf(3))
		for _, n := range c.nodes[:3] {
			waitEvent(t, n, Failed, nameOf(3))
			// Virtual time: with default timing expect ~2–3.5 s.
			if took := time.Since(start); took > 6*time.Second {
				t.Errorf("%s declared the crashed node failed after %v, want within 6 s", n.Name(), took)
			}
		}
		t.Logf("crash detected by all 3 peers after %v (virtual)", time.Since(start))
		for _, n := range c.nodes[:3] {
			waitMembers(t, n, allNames(3)...)
		}
	})
}

func TestLeaveIsLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 4, 3)
		defer c.close()
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(3)...)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := c.nodes[2].Leave(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[2].Leave(ctx); err != nil {
			t.Errorf("second Leave = %v, want nil", err)
		}
		if err := c.nodes[2].Shutdown(); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.nodes[:2] {
			waitEvent(t, n, Left, nameOf(2))
			waitMembers(t, n, allNames(2)...)
		}
		if err := c.nodes[2].Leave(ctx); !errors.Is(err, ErrShutdown) {
			t.Errorf("Leave after Shutdown = %v, want ErrShutdown", err)
		}
	})
}

func TestPartitionThenHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 5, 4)
		defer c.close()
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(4)...)
		}
		left, right := []string{addrOf(0), addrOf(1)}, []string{addrOf(2), addrOf(3)}
		c.net.Partition(left, right)
		for i, n := range c.nodes {
			if i < 2 {
				waitMembers(t, n, nameOf(0), nameOf(1))
			} else {
				waitMembers(t, n, nameOf(2), nameOf(3))
			}
		}
		// Long enough for the news of the failures to have stopped
		// circulating, and for memberlist to stop gossiping to the dead
		// (30 s): from here on only reconnection brings the sides together.
		time.Sleep(time.Minute)
		for i, n := range c.nodes {
			if got := len(n.Members()); got != 2 {
				t.Fatalf("%s sees %d members during the partition, want 2", nameOf(i), got)
			}
		}
		start := time.Now()
		c.net.Heal()
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(4)...)
		}
		t.Logf("reconverged %v (virtual) after Heal", time.Since(start))
	})
}

// waitRestart waits until n reports member Failed and then Joined.
func waitRestart(t *testing.T, n *Node, member string) {
	t.Helper()
	waitEvent(t, n, Failed, member)
	waitEvent(t, n, Joined, member)
}

func TestRestartedNodeRejoins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		detect bool // whether the survivors notice the death before the restart
	}{{"after failure detection", true}, {"before failure detection", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, 6, 3)
				defer c.close()
				for _, n := range c.nodes {
					waitMembers(t, n, allNames(3)...)
				}
				synctest.Wait()
				for _, n := range c.nodes {
					drainEvents(n)
				}
				// SIGKILL, then a new process under the same name and
				// address: the old transport goes (Shutdown frees the
				// address) and a new one takes its place.
				c.net.Crash(addrOf(2))
				if err := c.nodes[2].Shutdown(); err != nil {
					t.Fatal(err)
				}
				c.nodes[2] = nil
				c.net.Restart(addrOf(2))
				if tc.detect {
					for _, n := range c.nodes[:2] {
						waitEvent(t, n, Failed, nameOf(2))
					}
				}
				restarted := time.Now()
				c.nodes[2] = c.start(2, nil)
				if _, err := c.nodes[2].Join(t.Context(), []string{addrOf(0)}); err != nil {
					t.Fatal(err)
				}
				for _, n := range c.nodes[:2] {
					if tc.detect {
						waitEvent(t, n, Joined, nameOf(2))
					} else {
						// Nobody saw it die: the new Instance tells,
						// well before failure detection could have.
						waitRestart(t, n, nameOf(2))
						if took := time.Since(restarted); took >= time.Second {
							t.Errorf("%s noticed the restart after %v, want at once", n.Name(), took)
						}
					}
				}
				waitMembers(t, c.nodes[2], allNames(3)...)
			})
		})
	}
}

// gossipKeys derives test keys from secrets, the one in use first.
func gossipKeys(secrets ...[]byte) [][]byte {
	var keys [][]byte
	for _, s := range secrets {
		k := sha256.Sum256(s)
		keys = append(keys, k[:])
	}
	return keys
}

// TestKeyRotation: a node that accepts a second key talks to nodes with
// either; promoting the new key and then retiring the old keeps the cluster
// whole at every step, as the documented rotation does.
func TestKeyRotation(t *testing.T) {
	old, next := []byte("old"), []byte("new")
	for _, tc := range []struct {
		name   string
		a, b   [][]byte
		joined bool
	}{
		{"old with old", gossipKeys(old), gossipKeys(old), true},
		{"old with new staged", gossipKeys(old), gossipKeys(old, next), true},
		{"old staged with new promoted", gossipKeys(old, next), gossipKeys(next, old), true},
		{"new promoted with new only", gossipKeys(next, old), gossipKeys(next), true},
		{"old only with new only", gossipKeys(old), gossipKeys(next), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &cluster{t: t, net: simnet.New(11)}
				defer c.close()
				for i, keys := range [][][]byte{tc.a, tc.b} {
					tr, err := c.net.Transport(addrOf(i))
					if err != nil {
						t.Fatal(err)
					}
					cfg := DefaultConfig()
					cfg.Name, cfg.Transport, cfg.BindAddr, cfg.Meta, cfg.Keys = nameOf(i), tr, addrOf(i), metaOf(i), keys
					n, err := Start(cfg)
					if err != nil {
						t.Fatal(err)
					}
					c.nodes = append(c.nodes, n)
				}
				_, err := c.nodes[1].Join(t.Context(), []string{addrOf(0)})
				if (err == nil) != tc.joined {
					t.Fatalf("join: %v, want joined=%v", err, tc.joined)
				}
				if tc.joined {
					waitMembers(t, c.nodes[0], nameOf(0), nameOf(1))
					waitMembers(t, c.nodes[1], nameOf(0), nameOf(1))
				}
			})
		})
	}
}

func TestWrongSecretCannotJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &cluster{t: t, net: simnet.New(7)}
		defer c.close()
		c.nodes = []*Node{c.start(0, []byte("right")), c.start(1, []byte("right")), c.start(2, []byte("wrong")), c.start(3, nil)}
		if _, err := c.nodes[1].Join(t.Context(), []string{addrOf(0)}); err != nil {
			t.Fatal(err)
		}
		waitMembers(t, c.nodes[0], nameOf(0), nameOf(1))
		for _, i := range []int{2, 3} {
			_, err := c.nodes[i].Join(t.Context(), []string{addrOf(0)})
			if !errors.Is(err, ErrJoin) || !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), addrOf(0)) {
				t.Errorf("join with secret %q = %v, want ErrJoin and ErrKeyMismatch naming %s", c.nodes[i].Name(), err, addrOf(0))
			}
			// The other way round is refused too.
			if _, err := c.nodes[0].Join(t.Context(), []string{addrOf(i)}); !errors.Is(err, ErrJoin) {
				t.Errorf("join to %s = %v, want ErrJoin", c.nodes[i].Name(), err)
			}
		}
		time.Sleep(10 * time.Second) // several probe and push/pull rounds
		for i, n := range c.nodes {
			want := []string{nameOf(i)}
			if i < 2 {
				want = []string{nameOf(0), nameOf(1)}
			}
			if got := names(n.Members()); !slices.Equal(got, want) {
				t.Errorf("%s sees %v, want %v", n.Name(), got, want)
			}
		}
	})
}

func TestJoinErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 8, 1)
		defer c.close()
		n := c.nodes[0]
		if _, err := n.Join(t.Context(), nil); !errors.Is(err, ErrJoin) {
			t.Errorf("Join(nil) = %v, want ErrJoin", err)
		}
		_, err := n.Join(t.Context(), []string{"10.0.9.1:7946", "10.0.9.2:7946"})
		if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), "10.0.9.1:7946") || !strings.Contains(err.Error(), "10.0.9.2:7946") {
			t.Errorf("Join to nowhere = %v, want ErrJoin naming both addresses", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("join error spans lines: %q", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := n.Join(ctx, []string{"10.0.9.1:7946"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Join with a canceled ctx = %v, want context.Canceled", err)
		}
	})
}

// rawMeta is a memberlist delegate that gossips arbitrary metadata, as a
// foreign or broken node would.
type rawMeta []byte

func (r rawMeta) NodeMeta(int) []byte           { return r }
func (rawMeta) NotifyMsg([]byte)                {}
func (rawMeta) GetBroadcasts(int, int) [][]byte { return nil }
func (rawMeta) LocalState(bool) []byte          { return nil }
func (rawMeta) MergeRemoteState([]byte, bool)   {}

func TestMalformedMetaIsUnknownRole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 9, 1)
		defer c.close()
		tr, err := c.net.Transport(addrOf(1))
		if err != nil {
			t.Fatal(err)
		}
		mc := memberlist.DefaultLANConfig()
		mc.Name = "foreign"
		mc.Transport = tr
		mc.Delegate = rawMeta{0xc1, 0xff, 0x00} // 0xc1 is never valid msgpack
		mc.LogOutput = discard{}
		ml, err := memberlist.Create(mc)
		if err != nil {
			t.Fatal(err)
		}
		defer ml.Shutdown()
		if _, err := ml.Join([]string{addrOf(0)}); err != nil {
			t.Fatal(err)
		}
		ev := waitEvent(t, c.nodes[0], Joined, "foreign")
		if ev.Member.Meta.Role != RoleUnknown {
			t.Errorf("foreign member's role = %q, want %q", ev.Member.Meta.Role, RoleUnknown)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 10, 2)
		defer c.close()
		waitMembers(t, c.nodes[0], allNames(2)...)
		n := c.nodes[1]
		if err := n.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if err := n.Shutdown(); err != nil {
			t.Errorf("second Shutdown = %v, want nil", err)
		}
		for range n.Events() {
			// drain what was buffered; the loop ends because Shutdown closed the channel
		}
		if err := n.UpdateMeta(t.Context(), metaOf(1)); !errors.Is(err, ErrShutdown) {
			t.Errorf("UpdateMeta after Shutdown = %v, want ErrShutdown", err)
		}
		if _, err := n.Join(t.Context(), []string{addrOf(0)}); !errors.Is(err, ErrShutdown) {
			t.Errorf("Join after Shutdown = %v, want ErrShutdown", err)
		}
		waitEvent(t, c.nodes[0], Failed, nameOf(1))
	})
}

// drainEvents returns the events n has queued, without waiting.
func drainEvents(n *Node) []Event {
	var out []Event
	for {
		select {
		case ev := <-n.Events():
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestLossyNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 11, 5)
		defer c.close()
		c.net.Drop(0.2)
		c.net.Delay(5 * time.Millisecond)
		for _, n := range c.nodes {
			waitMembers(t, n, allNames(5)...)
		}
		synctest.Wait()
		for _, n := range c.nodes {
			drainEvents(n)
		}
		// Twenty seconds (a hundred probe rounds) of 20% packet loss:
		// probes that fail fall back to indirect probes and TCP, so nobody
		// is falsely declared failed. Longer runs once crashed the race
		// detector's runtime (a segfault inside its stack depot) under load.
		time.Sleep(20 * time.Second)
		for _, n := range c.nodes {
			for _, ev := range drainEvents(n) {
				if ev.Kind == Failed || ev.Kind == Left {
					t.Errorf("%s: %s %s on a lossy but connected network", n.Name(), ev.Member.Name, ev.Kind)
				}
			}
		}
		if s := c.net.Stats(); s.Dropped == 0 {
			t.Errorf("no packets dropped: %+v", s)
		}
		start := time.Now()
		c.net.Crash(addrOf(4))
		for _, n := range c.nodes[:4] {
			waitEvent(t, n, Failed, nameOf(4))
		}
		t.Logf("crash detected by all 4 peers after %v (virtual) at 20%% loss; %+v", time.Since(start), c.net.Stats())
	})
}

// TestNameTaken: a newcomer with the name of a live member at another
// address fails to join, naming that address; the member keeps its place.
func TestNameTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &cluster{t: t, net: simnet.New(13)}
		defer c.close()
		for i := range 2 {
			tr, err := c.net.Transport(addrOf(i))
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Name, cfg.Transport, cfg.BindAddr, cfg.Meta = "w", tr, addrOf(i), metaOf(i)
			n, err := Start(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.nodes = append(c.nodes, n)
		}
		_, err := c.nodes[1].Join(t.Context(), []string{addrOf(0)})
		if !errors.Is(err, ErrNameTaken) || !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), addrOf(0)) {
			t.Fatalf("join under a taken name: %v, want ErrNameTaken naming %s", err, addrOf(0))
		}
		time.Sleep(5 * time.Second)
		if ms := c.nodes[0].Members(); len(ms) != 1 || ms[0].Addr != addrOf(0) {
			t.Errorf("the first member sees %v, want itself only", ms)
		}
	})
}
