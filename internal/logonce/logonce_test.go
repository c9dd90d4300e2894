package logonce

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

func TestAllowOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(time.Minute)
		if !l.Allow("a") || l.Allow("a") || !l.Allow("b") {
			t.Fatal("want the first event of each key only")
		}
		time.Sleep(59 * time.Second)
		if l.Allow("a") {
			t.Fatal("allowed again within the interval")
		}
		time.Sleep(time.Second)
		if !l.Allow("a") {
			t.Fatal("not allowed after the interval")
		}
	})
}

func TestBounded(t *testing.T) {
	l := New(time.Minute)
	for i := range 3 * maxKeys {
		l.Allow(fmt.Sprint(i))
		if len(l.last) > maxKeys {
			t.Fatalf("%d keys remembered, want at most %d", len(l.last), maxKeys)
		}
	}
}
