package membership

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrShutdown is returned by calls on a Node after Shutdown.
var ErrShutdown = errors.New("membership: node is shut down")

// ErrJoin is wrapped by the error that Join returns when it reached no one.
var ErrJoin = errors.New("membership: join failed")

// ErrKeyMismatch is wrapped, with ErrJoin, by the error of a Join that
// reached a member whose gossip keys differ from this node's: a different
// cluster secret, or one side with no key at all.
var ErrKeyMismatch = errors.New("membership: the member has different gossip keys")

// ErrNameTaken is wrapped, with ErrJoin, by the error of a Join that found
// another live member already using this node's name.
var ErrNameTaken = errors.New("membership: the name is taken")

// keyMismatches are memberlist's words for a peer with other keys.
var keyMismatches = []string{
	"no installed keys could decrypt",
	"remote state is encrypted and encryption is not configured",
	"encryption is configured but remote state is not encrypted",
}

// defaultOpTimeout bounds UpdateMeta and Leave when their ctx has no
// deadline: memberlist waits for the broadcast to go out, which it may never
// do if every peer is gone.
const defaultOpTimeout = 5 * time.Second

// eventBuffer is the capacity of the Events channel. Beyond it, events wait
// (coalesced, see Events) in a structure bounded by the cluster's size.
const eventBuffer = 64

// Member is a node of the cluster as another node sees it.
type Member struct {
	Name string // unique node name
	Addr string // gossip host:port
	Meta Meta
}

// Node is this process's membership in the gossip cluster. Its methods are
// safe for concurrent use.
type Node struct {
	cfg    Config
	addr   string
	ml     *memberlist.Memberlist
	d      *delegate
	events chan Event
	stop   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex // guards shut and left, and orders Leave before Shutdown
	shut     bool
	left     bool
	shutOnce sync.Once
	shutErr  error
}

// Start creates the node, listening on cfg.BindAddr (or cfg.Transport); it
// is a cluster of one until Join. It fails when cfg is invalid, when
// cfg.Meta is invalid or encodes to more than memberlist.MetaMaxSize bytes,
// or when the address cannot be bound, and the error says which.
func Start(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := newDelegate(cfg.Logger)
	d.name = cfg.Name
	meta, err := d.setMeta(&cfg.Meta, false)
	if err != nil {
		return nil, fmt.Errorf("membership: start %s: %w", cfg.Name, err)
	}
	cfg.Meta = meta
	ml, err := memberlist.Create(cfg.memberlistConfig(d))
	if err != nil {
		where := cfg.BindAddr
		if cfg.Transport != nil {
			where = "its transport"
		}
		return nil, fmt.Errorf("membership: start %s on %s: %w", cfg.Name, where, err)
	}
	n := &Node{
		cfg:    cfg,
		addr:   ml.LocalNode().Address(), // read once: memberlist rewrites the node under its own lock later
		ml:     ml,
		d:      d,
		events: make(chan Event, eventBuffer),
		stop:   make(chan struct{}),
	}
	n.wg.Go(func() { d.events.run(n.events, n.stop) })
	if cfg.ReconnectInterval > 0 {
		n.wg.Go(n.reconnect)
	}
	cfg.Logger.Debug("membership: started", "worker", cfg.Name, "addr", n.Addr(), "role", meta.Role)
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the gossip host:port that other nodes use to reach this one,
// with the actual port when port 0 was asked.
func (n *Node) Addr() string { return n.addr }

// Join contacts every address in addrs (host:port of any members) at once
// and merges their view of the cluster with this node's. It returns how many
// it reached; it succeeds if it reached at least one. It returns early when
// ctx ends; attempts still in flight then finish in the background, each
// within about 2 × TCPTimeout, and may still join.
func (n *Node) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses given", ErrJoin)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: tried none of %s: %w", ErrJoin, strings.Join(addrs, ", "), context.Cause(ctx))
	}
	type result struct {
		addr string
		err  error
	}
	results := make(chan result, len(addrs))
	n.mu.Lock()
	if n.shut {
		n.mu.Unlock()
		return 0, ErrShutdown
	}
	for _, addr := range addrs {
		n.wg.Go(func() {
			_, err := n.ml.Join([]string{addr})
			results <- result{addr, err}
		})
	}
	n.mu.Unlock()

	joined := 0
	var failures, strangers []string
	keys := false
	for range addrs {
		select {
		case r := <-results:
			if r.err != nil {
				msg := flatten(r.err)
				// Before the key check: with keys, anything that is not
				// a member looks like one without them.
				if n.notMember(r.addr, msg) {
					strangers = append(strangers, r.addr)
					continue
				}
				for _, k := range keyMismatches {
					keys = keys || strings.Contains(strings.ToLower(msg), k)
				}
				failures = append(failures, fmt.Sprintf("%s: %s", r.addr, msg))
			} else {
				joined++
			}
		case <-ctx.Done():
			if joined > 0 {
				return joined, nil
			}
			return 0, fmt.Errorf("%w: tried %s: %w", ErrJoin, strings.Join(addrs, ", "), context.Cause(ctx))
		}
	}
	if other := n.d.taken.Load(); other != nil {
		return 0, fmt.Errorf("%w: %w: %s already has the name %q: give this member a name of its own", ErrJoin, ErrNameTaken, *other, n.cfg.Name)
	}
	if joined == 0 && len(strangers) > 0 {
		return 0, fmt.Errorf("%w: %w: %s answered, but not as a member does (an HTTP server, such as a worker's RPC port, answers that way)", ErrJoin, ErrNotMember, strings.Join(strangers, ", "))
	}
	if joined == 0 && keys {
		return 0, fmt.Errorf("%w: %w: tried %s: %s", ErrJoin, ErrKeyMismatch, strings.Join(addrs, ", "), strings.Join(failures, "; "))
	}
	if joined == 0 {
		return 0, fmt.Errorf("%w: tried %s: %s", ErrJoin, strings.Join(addrs, ", "), strings.Join(failures, "; "))
	}
	return joined, nil
}

// flatten renders memberlist's multi-line multierrors on one line.
func flatten(err error) string {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		var parts []string
		for _, e := range multi.WrappedErrors() {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// Members returns the live members (neither failed nor left), this node
// included, sorted by name. A member whose metadata cannot be decoded has
// Meta.Role RoleUnknown.
func (n *Node) Members() []Member {
	return n.d.members()
}

// UpdateMeta replaces this node's Meta and gossips it; the others see an
// Updated event. It waits until the news has been sent to a peer, for at most
// ctx's deadline (5 s if ctx has none); on timeout the new Meta is still in
// force and spreads with the next push/pull.
func (n *Node) UpdateMeta(ctx context.Context, m Meta) error {
	timeout, err := opTimeout(ctx)
	if err != nil {
		return fmt.Errorf("membership: update meta of %s: %w", n.cfg.Name, err)
	}
	n.mu.Lock()
	shut := n.shut
	n.mu.Unlock()
	if shut {
		return ErrShutdown
	}
	if m, err = n.d.setMeta(&m, false); err != nil {
		return fmt.Errorf("membership: update meta of %s: %w", n.cfg.Name, err)
	}
	if err := n.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("membership: update meta of %s to state %s: %w", n.cfg.Name, m.State, err)
	}
	return nil
}

// Events returns the channel of membership changes this node sees, its own
// Joined first. Per member, events come in the order they happened; across
// members, roughly so. The channel never blocks memberlist: a reader that
// falls behind gets a shortened history in which consecutive Updated events
// of a member are merged into one with the latest Meta, and a member that
// joined and failed repeatedly meanwhile shows as at most three events, but
// a Failed or Left of a member the reader has seen join is always delivered.
// A member restarted under the same name shows as Failed then Joined even
// when this node never saw the old process die. The channel is closed by
// Shutdown.
func (n *Node) Events() <-chan Event { return n.events }

// Leave tells the cluster that this node is leaving, so the others see Left
// rather than Failed, and waits until the news has gone out (typically
// under a second), for at most ctx's deadline (5 s if ctx has none). Call
// Shutdown afterwards. Leaving twice is a no-op.
func (n *Node) Leave(ctx context.Context) error {
	timeout, err := opTimeout(ctx)
	if err != nil {
		return fmt.Errorf("membership: leave %s: %w", n.cfg.Name, err)
	}
	// Held throughout: memberlist panics on Leave after Shutdown.
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.shut:
		return ErrShutdown
	case n.left:
		return nil
	}
	n.left = true
	deadline := time.Now().Add(timeout)
	// First the Leaving flag, so the others report Left rather than Failed
	// (see wireMeta); then memberlist's own leave message.
	if _, err := n.d.setMeta(nil, true); err != nil {
		return fmt.Errorf("membership: leave %s: %w", n.cfg.Name, err)
	}
	if err := n.ml.UpdateNode(timeout); err != nil {
		n.cfg.Logger.Warn("membership: leaving flag not confirmed sent; peers may report Failed", "worker", n.cfg.Name, "err", err)
	}
	// memberlist waits forever on a zero timeout.
	if err := n.ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		return fmt.Errorf("membership: leave %s: %w", n.cfg.Name, err)
	}
	return nil
}

// Shutdown stops the node without a word to the others (they will see
// Failed unless Leave came first), waits for the goroutines it started and
// closes the Events channel. Calling it again returns the first call's
// result.
func (n *Node) Shutdown() error {
	n.shutOnce.Do(func() {
		n.mu.Lock()
		n.shut = true
		n.mu.Unlock()
		close(n.stop)
		if err := n.ml.Shutdown(); err != nil {
			n.shutErr = fmt.Errorf("membership: shut down %s: %w", n.cfg.Name, err)
		}
		n.wg.Wait()
		close(n.events)
	})
	return n.shutErr
}

// reconnect periodically rejoins a member seen failing (see
// Config.ReconnectInterval).
func (n *Node) reconnect() {
	t := time.NewTicker(n.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		name, addr, ok := n.d.failed.next(time.Now(), n.cfg.ReconnectTimeout)
		if !ok {
			continue
		}
		if _, err := n.ml.Join([]string{addr}); err != nil {
			n.cfg.Logger.Debug("membership: reconnect failed", "worker", name, "addr", addr, "err", flatten(err))
		} else {
			n.cfg.Logger.Info("membership: reconnected to a failed member", "worker", name, "addr", addr)
		}
	}
}

// opTimeout turns ctx into the timeout memberlist takes.
func opTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, context.Cause(ctx)
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return defaultOpTimeout, nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return 0, context.DeadlineExceeded
	}
	return d, nil
}
