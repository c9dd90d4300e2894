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
