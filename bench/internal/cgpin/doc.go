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
