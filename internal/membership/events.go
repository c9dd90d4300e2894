package membership

import (
	"fmt"
	"sync"
)

// EventKind says what happened to a member.
type EventKind int

// The kinds of Event.
const (
	Joined  EventKind = iota + 1 // Joined: the member is new, or is back after Failed or Left
	Updated                      // Updated: the member changed its Meta
	Left                         // Left: the member said goodbye (Leave)
	Failed                       // Failed: the member stopped answering and was declared dead
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case Joined:
		return "joined"
	case Updated:
		return "updated"
	case Left:
		return "left"
	case Failed:
		return "failed"
	default:
		return fmt.Sprintf("EventKind(%d)", int(k))
	}
}

// present reports whether a member is in the cluster after an event of
// kind k.
func (k EventKind) present() bool { return k == Joined || k == Updated }

// Event is a change in the cluster as one node saw it.
type Event struct {
	Kind   EventKind // what happened
	Member Member    // the member as of the event; for Left and Failed, as last seen
}

// maxPending is the most events held for one member: the rules in push keep
// at most [gone, present, gone] or [present, gone, present].
const maxPending = 3

// eventQueue takes events from memberlist's goroutines without ever blocking
// them and hands them to one reader in order of occurrence per member. Its
// memory is bounded by cluster size: it holds at most maxPending events per
// member with undelivered events, and none for the others.
type eventQueue struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string][]queued // by member name; never holds an empty slice
	notify  chan struct{}       // capacity 1: "pending changed"
}

type queued struct {
	ev  Event
	seq uint64 // order across members
}

func newEventQueue() *eventQueue {
	return &eventQueue{pending: make(map[string][]queued), notify: make(chan struct{}, 1)}
}

// push records ev. The rules, which keep memory bounded and never lose the
// fact that a member the reader knows about went away:
//
//   - an event on the same side as the last pending one for that member
//     merges into it: Updated after Joined or Updated replaces the Meta and
//     keeps the earlier kind; a second Left or Failed is dropped (memberlist
//     does not send one);
//   - Updated right after a pending Left or Failed becomes Joined;
//   - when a member flaps while the reader is not reading, the join-and-go
//     cycles after its first pending event collapse: at most three events
//     stay, so [Failed, Joined, Failed, Joined] becomes [Failed, Joined] and
//     the reader still learns that the instance it knew is gone.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	name := ev.Member.Name
	p := q.pending[name]
	switch last := len(p) - 1; {
	case last >= 0 && p[last].ev.Kind.present() == ev.Kind.present():
		if ev.Kind.present() {
			p[last].ev.Member = ev.Member
		}
	default:
		if last >= 0 && ev.Kind == Updated {
			ev.Kind = Joined
		}
		q.seq++
		p = append(p, queued{ev: ev, seq: q.seq})
		if len(p) > maxPending {
			// p alternates present and gone, so p[0] and p[3] differ and
			// dropping the pair between them keeps it alternating.
			p = append(p[:1], p[3:]...)
		}
	}
	q.pending[name] = p
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop removes and returns the oldest pending event, by first occurrence of
// the member's next event. It costs O(members with pending events).
func (q *eventQueue) pop() (Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var (
		best  string
		found bool
		seq   uint64
	)
	for name, p := range q.pending {
		if !found || p[0].seq < seq {
			best, seq, found = name, p[0].seq, true
		}
	}
	if !found {
		return Event{}, false
	}
	p := q.pending[best]
	ev := p[0].ev
	if len(p) == 1 {
		delete(q.pending, best)
	} else {
		q.pending[best] = p[1:]
	}
	return ev, true
}

// run moves events to out until stop is closed.
func (q *eventQueue) run(out chan<- Event, stop <-chan struct{}) {
	for {
		ev, ok := q.pop()
		if !ok {
			select {
			case <-q.notify:
				continue
			case <-stop:
				return
			}
		}
		select {
		case out <- ev:
		case <-stop:
			return
		}
	}
}
