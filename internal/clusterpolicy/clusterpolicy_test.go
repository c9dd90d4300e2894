package clusterpolicy

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestFlapDetector(t *testing.T) {
	var f FlapDetector
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Healthy beats and single misses are not flapping.
	for s := range 20 {
		if f.Beat(s%5 != 0, at(s)) {
			t.Fatalf("flapping at %ds with single misses", s)
		}
	}
	// Three outages of two beats within two minutes are.
	s := 20
	var got bool
	for i := range 3 {
		f.Beat(false, at(s))
		f.Beat(false, at(s+1))
		got = f.Beat(true, at(s+2))
		if got != (i == FlapCount-1) {
			t.Fatalf("outage %d: flapping %v", i+1, got)
		}
		s += 10
	}
	// Flapping again while flapping: each outage in the window renews it.
	f.Beat(false, at(s))
	f.Beat(false, at(s+1))
	if !f.Beat(true, at(s+2)) {
		t.Fatal("a fourth outage within the window: not flapping")
	}
	// Outages further apart than the window are not.
	var g FlapDetector
	for i := range 5 {
		g.Beat(false, at(i*200))
		g.Beat(false, at(i*200+1))
		if g.Beat(true, at(i*200+2)) {
			t.Fatalf("outages 200 s apart: flapping at the %dth", i+1)
		}
	}
	// The window is half-open: a flap FlapWindow old no longer counts.
	var h FlapDetector
	for _, s := range []int{0, 60, 120} {
		h.Beat(false, at(s-2))
		h.Beat(false, at(s-1))
		if h.Beat(true, at(s)) {
			t.Fatalf("three flaps over exactly %v: flapping at %ds", FlapWindow, s)
		}
	}
}

func TestFrozen(t *testing.T) {
	t0 := time.Unix(1000, 0)
	timeout := 10 * time.Second
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {timeout - 1, false}, {timeout, false}, {timeout + 1, true}, {time.Hour, true}} {
		if got := Frozen(t0, t0.Add(c.after), timeout); got != c.want {
			t.Errorf("Frozen after %v of %v: %v, want %v", c.after, timeout, got, c.want)
		}
	}
	if got := HeartbeatInterval(timeout); got != 2*time.Second {
		t.Errorf("HeartbeatInterval(%v) = %v, want 2s", timeout, got)
	}
	if got := HeartbeatInterval(time.Millisecond); got != MinHeartbeatInterval {
		t.Errorf("HeartbeatInterval(1ms) = %v, want %v", got, MinHeartbeatInterval)
	}
}

func TestCopyTarget(t *testing.T) {
	ws := []Candidate{
		{Name: "a", Core: true, Ready: true},
		{Name: "b", Core: true, Ready: true, Draining: true},
		{Name: "c", Core: false, Ready: true},
		{Name: "d", Core: true, Ready: false},
		{Name: "e", Core: true, Ready: true},
		{Name: "f", Core: true, Ready: true},
	}
	for _, c := range []struct {
		m    int
		from string
		want int
	}{
		{0, "c", 0}, {1, "c", 4}, {2, "c", 5}, {3, "c", 0},
		{0, "a", 4}, {1, "a", 5}, {2, "a", 4}, // the source takes no copy
		{7, "x", 4},
	} {
		if got := CopyTarget(ws, c.m, c.from); got != c.want {
			t.Errorf("CopyTarget(m=%d, from=%s) = %d, want %d", c.m, c.from, got, c.want)
		}
	}
	if got := CopyTarget(ws[1:4], 0, "x"); got != -1 {
		t.Errorf("no eligible worker: got %d, want -1", got)
	}
	if got := CopyTarget(nil, 3, "x"); got != -1 {
		t.Errorf("no worker: got %d, want -1", got)
	}
}

// TestCopyTargetSimple holds CopyTarget against the driver's old rule: the
// eligible workers listed, then number m % count.
func TestCopyTargetSimple(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ws := make([]Candidate, r.IntN(8))
		for i := range ws {
			ws[i] = Candidate{Name: string(rune('a' + i)), Core: r.IntN(4) > 0, Ready: r.IntN(4) > 0, Draining: r.IntN(4) == 0}
		}
		from := string(rune('a' + r.IntN(9)))
		m := r.IntN(1000)
		var elig []int
		for i, w := range ws {
			if w.Core && w.Ready && !w.Draining && w.Name != from {
				elig = append(elig, i)
			}
		}
		want := -1
		if len(elig) > 0 {
			want = elig[m%len(elig)]
		}
		if got := CopyTarget(ws, m, from); got != want {
			t.Fatalf("%+v m=%d from=%s: got %d, want %d", ws, m, from, got, want)
		}
	}
}
