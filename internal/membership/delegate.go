package membership

import (
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/sluicehq/sluice/internal/codec"
)

// delegate is what memberlist calls back. memberlist calls the event methods
// with its node lock held, from its own goroutines, so each one only records
// and returns: it never blocks and never calls back into memberlist.
type delegate struct {
	logger *slog.Logger
	name   string                 // this node's name
	taken  atomic.Pointer[string] // the address of another member that claims this node's name
	events *eventQueue
	failed *failedSet
	meta   codec.Codec[wireMeta] // decodes members' metadata

	// live mirrors memberlist's live members as the event callbacks report
	// them. Members reads it rather than memberlist.Members, whose *Node
	// results point into state that memberlist keeps writing without a lock
	// the caller could take.
	liveMu sync.Mutex
	live   map[string]liveMember

	mu      sync.Mutex
	self    wireMeta // this node's Meta, Instance and Leaving flag
	encoded []byte   // self as gossiped
}

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
)

// liveMember is a live member and the Instance it last gossiped.
type liveMember struct {
	Member
	instance uint64
}

func newDelegate(logger *slog.Logger) *delegate {
	return &delegate{
		logger: logger,
		events: newEventQueue(),
		failed: newFailedSet(),
		meta:   codec.For[wireMeta](),
		live:   make(map[string]liveMember),
		self:   wireMeta{Instance: rand.Uint64() | 1}, // never 0, which means "not a Sluice node"
	}
}

// setMeta replaces this node's Meta (when m is non-nil) and/or marks it
// leaving, and returns the Meta now in force.
func (d *delegate) setMeta(m *Meta, leaving bool) (Meta, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.self
	if m != nil {
		w.Meta = *m
	}
	w.Leaving = w.Leaving || leaving
	w, b, err := w.encode()
	if err != nil {
		return w.Meta, err
	}
	d.self, d.encoded = w, b
	return w.Meta, nil
}

// NodeMeta returns this node's encoded Meta; setMeta checked its size.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.encoded) > limit {
		return nil // unreachable: memberlist would panic on an oversized meta
	}
	return d.encoded
}

// Sluice sends nothing over memberlist but membership itself.
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// setLive records m as live, or removes it when gone, and returns what was
// recorded before.
func (d *delegate) setLive(m liveMember, gone bool) (liveMember, bool) {
	d.liveMu.Lock()
	defer d.liveMu.Unlock()
	old, ok := d.live[m.Name]
	if gone {
		delete(d.live, m.Name)
	} else {
		d.live[m.Name] = m
	}
	return old, ok
}

// members returns the live members sorted by name.
func (d *delegate) members() []Member {
	d.liveMu.Lock()
	out := make([]Member, 0, len(d.live))
	for _, m := range d.live {
		out = append(out, m.Member)
	}
	d.liveMu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d *delegate) NotifyJoin(n *memberlist.Node) {
	m, _ := d.member(n)
	d.setLive(m, false)
	d.failed.forget(m.Name)
	d.events.push(Event{Kind: Joined, Member: m.Member})
}

func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	m, leaving := d.member(n)
	old, ok := d.setLive(m, false)
	switch {
	case ok && old.instance != 0 && old.instance != m.instance:
		// Restarted under the same name before this node noticed it die.
		d.events.push(Event{Kind: Failed, Member: old.Member})
		d.events.push(Event{Kind: Joined, Member: m.Member})
	case leaving:
		// Only the Leaving flag changed; Left follows.
	default:
		d.events.push(Event{Kind: Updated, Member: m.Member})
	}
}

// NotifyLeave is called for both a leave and a death: memberlist's Node.State
// says neither (it is not kept up to date), so the Leaving flag decides.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	m, leaving := d.member(n)
	d.setLive(m, true)
	kind := Failed
	if leaving {
		kind = Left
		d.failed.forget(m.Name)
	} else {
		d.failed.add(m.Name, m.Addr, time.Now())
	}
	d.events.push(Event{Kind: kind, Member: m.Member})
}

func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name == d.name {
		// Someone else has this node's name: Join reports it.
		addr := other.Address()
		d.taken.Store(&addr)
	}
	d.logger.Warn("membership: two nodes claim one name; the newcomer is ignored",
		"worker", existing.Name, "addr", existing.Address(), "other_addr", other.Address())
}

// member converts n, logging undecodable metadata, and reports whether n has
// begun to leave.
func (d *delegate) member(n *memberlist.Node) (liveMember, bool) {
	w, err := decodeMeta(d.meta, n.Meta)
	if err != nil {
		d.logger.Warn("membership: undecodable member metadata; treating the member's role as unknown",
			"worker", n.Name, "addr", n.Address(), "meta_bytes", len(n.Meta), "err", err)
	}
	return liveMember{Member: Member{Name: n.Name, Addr: n.Address(), Meta: w.Meta}, instance: w.Instance}, w.Leaving
}

// failedSet remembers members seen failing, to retry them (Config.
// ReconnectInterval). It holds at most one entry per member, and entries go
// when the member rejoins, leaves or has been failed for ReconnectTimeout.
type failedSet struct {
	mu   sync.Mutex
	m    map[string]failedMember
	last string // name tried last, for round robin
}

type failedMember struct {
	addr  string
	since time.Time
}

func newFailedSet() *failedSet { return &failedSet{m: make(map[string]failedMember)} }

func (f *failedSet) add(name, addr string, now time.Time) {
	f.mu.Lock()
	f.m[name] = failedMember{addr: addr, since: now}
	f.mu.Unlock()
}

func (f *failedSet) forget(name string) {
	f.mu.Lock()
	delete(f.m, name)
	f.mu.Unlock()
}

// next returns the member to retry after the one tried last, in name order,
// first forgetting those failed for longer than timeout.
func (f *failedSet) next(now time.Time, timeout time.Duration) (name, addr string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.m))
	for n, fm := range f.m {
		if now.Sub(fm.since) > timeout {
			delete(f.m, n)
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", "", false
	}
	sort.Strings(names)
	i := sort.SearchStrings(names, f.last)
	if i < len(names) && names[i] == f.last {
		i++
	}
	name = names[i%len(names)]
	f.last = name
	return name, f.m[name].addr, true
}
