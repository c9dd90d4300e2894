package worker

import (
	"testing"
	"time"
)

func TestRateEstimateIdle(t *testing.T) {
	var r rateEstimate
	if got := r.idle(); got != unmeasured {
		t.Fatalf("before any sample: %v, want %v", got, unmeasured)
	}
	r.observe(4<<10, time.Millisecond) // too small to say anything
	if got := r.idle(); got != unmeasured {
		t.Fatalf("after a tiny fetch: %v, want %v", got, unmeasured)
	}
	r.observe(100<<20, time.Second) // 100 MiB/s: a LAN
	if got := r.idle(); got != minIdle {
		t.Fatalf("at 100 MiB/s: %v, want the floor %v", got, minIdle)
	}
	for range 50 {
		r.observe(1<<20, 2*time.Second) // 0.5 MiB/s: a lossy link
	}
	if got := r.idle(); got <= minIdle || got > maxIdle {
		t.Fatalf("at 0.5 MiB/s: %v, want between %v and %v", got, minIdle, maxIdle)
	}
	if got, want := r.idle(), 40*time.Second; got < want-time.Second || got > want+time.Second {
		t.Errorf("at 0.5 MiB/s: %v, want about %v (20 × 2 s per MiB)", got, want)
	}
}
