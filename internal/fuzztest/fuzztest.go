// Package fuzztest holds what Sluice's fuzz targets need beyond testing.F:
// a guard that turns an input that hangs into a failure.
//
// Go's fuzzer has no per-input time limit. A worker stuck on an input
// simply stops reporting; when -fuzztime ends the coordinator kills it and
// the run passes, so a decoder that loops forever on malformed input goes
// unnoticed. Guard panics in a goroutine of its own once an input has run
// for Deadline: the worker process dies, and the coordinator reports the
// input it was running as a crasher and writes it to testdata/fuzz.
// Every fuzz target calls it first thing in its fuzz function:
//
//	f.Fuzz(func(t *testing.T, b []byte) {
//		defer fuzztest.Guard(t)()
//		...
//	})
package fuzztest

import (
	"fmt"
	"testing"
	"time"
)

// Deadline is how long one input may run. Inputs take microseconds to
// milliseconds, and under the race detector at most tens of milliseconds;
// a few seconds leaves room for a loaded machine, while staying well
// inside the ten seconds that CI fuzzes each target for, so that a hang
// found there is reported before -fuzztime ends.
const Deadline = 2 * time.Second

// Guard crashes the process, naming the target, if the input t is running
// has not finished within Deadline; call the function it returns when the
// input is done (defer it).
func Guard(t testing.TB) (stop func()) { return guard(t.Name(), Deadline) }

func guard(name string, d time.Duration) func() {
	timer := time.AfterFunc(d, func() {
		panic(fmt.Sprintf("fuzztest: %s: an input ran for more than %v: a decoder must not hang on any input", name, d))
	})
	return func() { timer.Stop() }
}
