package rdd

import (
	"testing"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

// FuzzActionResults feeds arbitrary bytes to the decoders of what
// executors send the driver for the numeric and sketch actions, and of
// what the driver sends with an ordering task: an error, never a panic.
func FuzzActionResults(f *testing.F) {
	s := newStatCounter()
	s.add(1.5)
	f.Add(s.encode(nil))
	f.Add([]byte{3, 0, 200, 1})
	f.Add(orderArg(10, true))
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		if st, err := decodeStatCounter(b); err == nil && st.Count < 0 {
			t.Errorf("decoded a negative count")
		}
		counts := make([]int64, 3)
		_ = addCounts(counts, b)
		for _, c := range counts {
			if c < 0 {
				t.Errorf("count %d", c)
			}
		}
		regs := make([]uint8, 16)
		_ = mergeRegisters(regs, 4, b)
		_ = hllEstimate(regs, 4)
		if k, _, err := decodeOrderArg(b); err == nil && (k < 0 || k > 1<<40) {
			t.Errorf("k %d", k)
		}
	})
}

// FuzzResolve: any reference, however wrong, resolves to the function it
// names or to an error; nothing else is ever called.
func FuzzResolve(f *testing.F) {
	good, err := refOf(addInts)
	if err != nil {
		f.Skip(err)
	}
	f.Add(good.Off, good.Name, good.Type)
	f.Add(good.Off+8, good.Name, good.Type)
	f.Add(int64(-4096), "x", "func(int, int) int")
	f.Fuzz(func(t *testing.T, off int64, name, typ string) {
		defer fuzztest.Guard(t)()
		g, err := resolve[func(int, int) int](funcRef{off, name, typ})
		if err != nil {
			return
		}
		if g(2, 3) != 5 {
			t.Errorf("resolved %s at %d, which is not addInts", name, off)
		}
	})
}
