package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		slots  int
		budget int64
		want   int64
	}{
		{2, 64 << 20, 128<<20 + Overhead},
		{0, 64 << 20, 64<<20 + Overhead}, // at least one slot
		{1 << 20, math.MaxInt64 / 4, math.MaxInt64},
	} {
		if got := Limit(c.slots, c.budget); got != c.want {
			t.Errorf("Limit(%d, %d) = %d, want %d", c.slots, c.budget, got, c.want)
		}
	}
}

// restore puts back the limit a test found.
func restore(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
}

func TestSetLeavesTheUsersLimit(t *testing.T) {
	restore(t)
	t.Setenv("GOMEMLIMIT", "1GiB")
	stop := Set(1, 1<<20)
	if got := debug.SetMemoryLimit(-1); got == Limit(1, 1<<20) {
		t.Fatalf("Set changed the limit to %d though GOMEMLIMIT is set", got)
	}
	stop()

	unsetenv(t, "GOMEMLIMIT")
	debug.SetMemoryLimit(3 << 30) // the program's own
	stop = Set(1, 1<<20)
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Fatalf("Set changed the program's limit of 3 GiB to %d", got)
	}
	stop()
}

// TestSetRaisesAboveTheLiveHeap: a live heap above the tasks' budgets
// (cached data, collected results) gets room above it instead of a
// collection after every few bytes.
func TestSetRaisesAboveTheLiveHeap(t *testing.T) {
	restore(t)
	unsetenv(t, "GOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	stop := Set(1, 1<<20)
	defer stop()
	base := Limit(1, 1<<20)
	if got := debug.SetMemoryLimit(-1); got != base {
		t.Fatalf("limit %d after Set, want %d", got, base)
	}
	live := make([]byte, 3*base) // well above the base
	for i := range live {
		live[i] = 1 // resident, not only reserved
	}
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) < int64(len(live)) {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d after collections with %d bytes live, want it above them", debug.SetMemoryLimit(-1), len(live))
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the cleanup runs on its own goroutine
	}
	runtime.KeepAlive(live)
	stop()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit %d after stop, want the one before Set", got)
	}
}

// unsetenv removes key for the rest of the test, which restores it.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
