package driver

import (
	"testing"
	"time"
)

func TestFlapDetector(t *testing.T) {
	var f flapDetector
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Healthy beats and single misses are not flapping.
	for s := range 20 {
		if f.beat(s%5 != 0, at(s)) {
			t.Fatalf("flapping at %ds with single misses", s)
		}
	}
	// Three outages of two beats within two minutes are.
	s := 20
	var got bool
	for range 3 {
		f.beat(false, at(s))
		f.beat(false, at(s+1))
		got = f.beat(true, at(s+2))
		s += 10
	}
	if !got {
		t.Fatal("three outages in a minute: not flapping")
	}
	// Outages further apart than the window are not.
	var g flapDetector
	for i := range 5 {
		g.beat(false, at(i*200))
		g.beat(false, at(i*200+1))
		if g.beat(true, at(i*200+2)) {
			t.Fatalf("outages 200 s apart: flapping at the %dth", i+1)
		}
	}
}
