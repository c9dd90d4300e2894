package membership

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
)

func ev(kind EventKind, name string, slots int) Event {
	return Event{Kind: kind, Member: Member{Name: name, Meta: Meta{Role: RoleCore, State: StateAlive, Slots: slots}}}
}

func (e Event) short() string {
	return fmt.Sprintf("%s %s/%d", e.Member.Name, e.Kind, e.Member.Meta.Slots)
}

func drain(q *eventQueue) []string {
	var out []string
	for {
		e, ok := q.pop()
		if !ok {
			return out
		}
		out = append(out, e.short())
	}
}

func TestEventQueueRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pushed []Event
		want   []string
	}{{
		name:   "in order across members",
		pushed: []Event{ev(Joined, "b", 1), ev(Joined, "a", 1), ev(Failed, "b", 1)},
		want:   []string{"b joined/1", "a joined/1", "b failed/1"},
	}, {
		name:   "updates merge into a pending join",
		pushed: []Event{ev(Joined, "a", 1), ev(Updated, "a", 2), ev(Updated, "a", 3)},
		want:   []string{"a joined/3"},
	}, {
		name:   "updates merge into one update",
		pushed: []Event{ev(Updated, "a", 2), ev(Updated, "a", 3)},
		want:   []string{"a updated/3"},
	}, {
		name:   "a failure after a join is kept",
		pushed: []Event{ev(Joined, "a", 1), ev(Updated, "a", 2), ev(Failed, "a", 2)},
		want:   []string{"a joined/2", "a failed/2"},
	}, {
		name:   "left is kept",
		pushed: []Event{ev(Updated, "a", 2), ev(Left, "a", 2)},
		want:   []string{"a updated/2", "a left/2"},
	}, {
		name:   "flapping collapses but keeps the first failure",
		pushed: []Event{ev(Failed, "a", 1), ev(Joined, "a", 2), ev(Failed, "a", 2), ev(Joined, "a", 3), ev(Failed, "a", 3), ev(Joined, "a", 4)},
		want:   []string{"a failed/1", "a joined/4"},
	}, {
		name:   "flapping ends gone",
		pushed: []Event{ev(Updated, "a", 1), ev(Failed, "a", 1), ev(Joined, "a", 2), ev(Left, "a", 2)},
		want:   []string{"a updated/1", "a left/2"},
	}, {
		name:   "an update after a failure is a join",
		pushed: []Event{ev(Failed, "a", 1), ev(Updated, "a", 2)},
		want:   []string{"a failed/1", "a joined/2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			q := newEventQueue()
			for _, e := range tc.pushed {
				q.push(e)
			}
			if got := drain(q); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestEventQueueBounded pushes far more events than anyone reads and checks
// that memory stays at maxPending per member and no gone event of a member
// seen present is lost.
func TestEventQueueBounded(t *testing.T) {
	q := newEventQueue()
	const members = 50
	for round := range 999 { // ends with a round of failures
		for m := range members {
			name := fmt.Sprintf("m%02d", m)
			switch round % 3 {
			case 0:
				q.push(ev(Joined, name, round))
			case 1:
				q.push(ev(Updated, name, round))
			case 2:
				q.push(ev(Failed, name, round))
			}
		}
	}
	if len(q.pending) != members {
		t.Fatalf("%d members pending, want %d", len(q.pending), members)
	}
	for name, p := range q.pending {
		if len(p) > maxPending {
			t.Fatalf("%s has %d pending events, want ≤ %d", name, len(p), maxPending)
		}
	}
	// Each member: its first Joined (with the Meta of the Updated merged
	// into it), then, the flapping collapsed, its last Failed.
	got := drain(q)
	if len(got) != 2*members || got[0] != "m00 joined/1" || got[len(got)-1] != "m49 failed/998" {
		t.Errorf("drained %d events from %q to %q, want %d from \"m00 joined/1\" to \"m49 failed/998\"",
			len(got), got[0], got[len(got)-1], 2*members)
	}
}

func TestEventQueueRunNeverBlocksPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newEventQueue()
		out := make(chan Event) // nobody reads yet
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { q.run(out, stop); close(done) }()
		q.push(ev(Updated, "a", 0))
		synctest.Wait() // run has taken it and waits to send it
		for i := 1; i < 1000; i++ {
			q.push(ev(Updated, "a", i)) // returns although nobody reads
		}
		if e := <-out; e.Member.Meta.Slots != 0 {
			t.Errorf("first event = %s, want the first update (in flight before the rest merged)", e.short())
		}
		if e := <-out; e.short() != "a updated/999" {
			t.Errorf("second event = %s, want the merged latest update", e.short())
		}
		close(stop)
		<-done
	})
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{Joined: "joined", Updated: "updated", Left: "left", Failed: "failed", 0: "EventKind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
