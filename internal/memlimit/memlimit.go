// Package memlimit sets the Go runtime's soft memory limit of a process
// that runs tasks, so that --memory bounds the process and not only the
// tasks' buffers.
//
// Left alone, the Go collector lets the heap grow to twice what was live
// after the last collection (GOGC=100): two tasks each holding their
// 64 MiB of sort buffers make a 128 MiB live heap and a 256 MiB heap
// goal. A process that runs slots tasks, each within budget bytes of
// buffers, needs slots × budget live plus a little; Set makes that, plus
// Overhead, the runtime's soft limit (debug.SetMemoryLimit), so the
// collector runs before the heap passes it and returns freed memory to
// the system.
//
// The limit only ever rises above that base with the live heap: after
// every collection it is raised, when that is more, to the live heap plus
// half of Overhead plus a quarter of what is live beyond the tasks'
// buffers, so that a process whose live data is rightly above them
// (cached partitions, a driver's collected results) collects about as
// often as with GOGC=25 on that data instead of all the time.
//
// Memory a process maps outside the Go heap for the tasks' buffers (the
// sorter's arenas) is part of slots × budget too: OffHeap reports it, and
// the limit on the heap is lowered by as much while it is held, so that
// heap and arenas together keep to the bound.
//
// A limit the user set (GOMEMLIMIT in the environment, or
// debug.SetMemoryLimit before Set) is left alone.
//
//	stop := memlimit.Set(cfg.Parallelism, cfg.Memory)
//	defer stop()
package memlimit

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Overhead is what the limit allows beyond the tasks' buffers: the
// runtime, the program's own heap, per-task stream buffers (input reads,
// block codecs, shuffle and output writers, a reducer's fetches ahead) and
// room for garbage between collections. Measured with sortlines --memory
// 64MiB on two slots: the live heap beyond the sort buffers stays under
// 8 MiB, and the rest is room for garbage, which sets how often the
// collector runs (235 collections for sort of 256 MiB, 3% of its CPU
// time).
const Overhead = 24 << 20

// Fixed is what a process's peak resident memory may exceed slots ×
// budget by: Overhead, the program's own pages (text and data of the
// binary, resident as they are used: 21 MiB for sortlines), and what the
// heap passes the soft limit by while a collection runs (up to 7 MiB
// measured), with room to spare. Measured: sortlines and sort --memory
// 64MiB on two slots peak at 165 to 170 MiB on 256 MiB of input (bound
// 192), sortlines --memory 16MiB at 77 to 84 MiB on 48 MiB (bound 96).
const Fixed = Overhead + 40<<20

// Limit returns the soft limit for slots tasks of budget bytes each.
func Limit(slots int, budget int64) int64 {
	return satAdd(satMul(int64(max(slots, 1)), budget), Overhead)
}

// Set sets the runtime's soft memory limit to Limit(slots, budget), raised
// after each collection when the live heap needs more room, and returns a
// function that stops raising it and restores the limit before. When the
// user set a limit, Set changes nothing and returns a no-op.
func Set(slots int, budget int64) (stop func()) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return func() {}
	}
	prev := debug.SetMemoryLimit(-1)
	if prev != math.MaxInt64 {
		return func() {}
	}
	t := &tuner{base: Limit(slots, budget), tasks: satMul(int64(max(slots, 1)), budget), prev: prev}
	t.mu.Lock()
	t.apply()
	t.mu.Unlock()
	active.Store(t)
	t.arm()
	return t.stop
}

// offHeap is the memory for tasks' buffers mapped outside the Go heap now.
var offHeap atomic.Int64

// active is the tuner Set started, if any.
var active atomic.Pointer[tuner]

// OffHeap records that delta bytes of the tasks' buffers were mapped
// (positive) or unmapped (negative) outside the Go heap, and moves the
// limit on the heap down or up by as much.
func OffHeap(delta int64) {
	offHeap.Add(delta)
	if t := active.Load(); t != nil {
		t.mu.Lock()
		if !t.stopped {
			t.apply()
		}
		t.mu.Unlock()
	}
}

// tuner raises the limit above the live heap after each collection.
type tuner struct {
	base, prev int64
	tasks      int64 // the tasks' buffers: slots × budget
	mu         sync.Mutex
	stopped    bool
	sample     [1]metrics.Sample
}

// arm makes the next collection call adjust: it frees an object whose
// cleanup arms again.
func (t *tuner) arm() {
	p := new(canary)
	runtime.AddCleanup(p, func(t *tuner) { t.adjust() }, t)
}

// canary is big enough not to share a tiny allocator block, whose
// cleanups may wait for its neighbours.
type canary [32]byte

func (t *tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.apply()
	t.arm()
}

// apply sets the limit: the base less what is mapped off the heap, but
// never below the live heap plus room to collect in. t.mu is held.
func (t *tuner) apply() {
	t.sample[0].Name = "/gc/heap/live:bytes"
	metrics.Read(t.sample[:])
	off := max(offHeap.Load(), 0)
	limit := max(t.base-off, Overhead)
	if s := t.sample[0]; s.Value.Kind() == metrics.KindUint64 {
		live := int64(min(s.Value.Uint64(), math.MaxInt64/4))
		limit = max(limit, live+Overhead/2+max(live+off-t.tasks, 0)/4)
	}
	debug.SetMemoryLimit(limit)
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		active.CompareAndSwap(t, nil)
		debug.SetMemoryLimit(t.prev)
	}
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
