// Package cgpin readies a goroutine for callgrind's --toggle-collect, for
// the programs that bench/callgrind.sh measures:
//
//	cgpin.Pin() // first thing in the goroutine that will run the measured function
//
// Callgrind follows call stacks per OS thread and takes a stack pointer
// above a function's frame for a return from it. A Go program breaks both
// assumptions: a goroutine that blocks may resume on another thread, whose
// call stack as callgrind knows it does not hold the measured function; a
// goroutine's stack moves when it grows, up as often as down; and a thread
// switches to its scheduler stack (g0) for many runtime calls, a stack that
// may lie above the goroutine's. Any of these ends the collection early
// and silently (2 of 12 runs of the baseline counted 4 thousand
// instructions instead of 147 million).
package cgpin

import "runtime"

// Pin locks the calling goroutine to its OS thread for good and grows its
// stack to 2 MiB, where it stays: stacks shrink only in a garbage
// collection, and bench/callgrind.sh runs with none (GOGC=off). A stack
// allocated this late and this large lies above the thread's scheduler and
// signal stacks, allocated when the thread started, and never moves while
// the measured code runs, unless that code needs more than 2 MiB of stack.
func Pin() {
	runtime.LockOSThread()
	grow(16)
}

//go:noinline
func grow(depth int) byte {
	var frame [64 << 10]byte // under the compiler's limit for a stack variable
	frame[depth] = byte(depth)
	if depth == 0 {
		return frame[0]
	}
	return grow(depth-1) + frame[depth]
}
