package rdd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/fuzztest"
	"github.com/sluicehq/sluice/internal/task"
)

// combModel is the plain model of a combine table: a Go map of sums and
// the keys in first-seen order.
type combModel struct {
	sums  map[string]int64
	order []string
}

func (m *combModel) add(k string, v int64) {
	if m.sums == nil {
		m.sums = map[string]int64{}
	}
	if _, ok := m.sums[k]; !ok {
		m.order = append(m.order, k)
	}
	m.sums[k] += v
}

// randomKey draws the keys that stress the table: the empty key, keys at
// and around the inline limit, long keys, and keys that differ only in
// their last byte.
func randomKey(rng *rand.Rand, vocab int) string {
	i := rng.IntN(vocab)
	switch i % 7 {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", inlineKey-1+i%3) + fmt.Sprint(i%5)
	case 2:
		return strings.Repeat("long", 10+i%40) + fmt.Sprint(i)
	case 3:
		return "\x00" + fmt.Sprint(i) // a leading zero byte, as packing pads
	}
	return fmt.Sprint("k", i)
}

// TestCombTableAgainstMap holds the table against the model: every key's
// sum, the first-seen order, and growth, with honest hashes and with
// every key colliding.
func TestCombTableAgainstMap(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprint("collide=", collide), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tb := newCombTable[int64](0, 1<<20)
			tb.collide = collide
			var m combModel
			n := 20000
			if collide {
				n = 2000 // every probe walks the whole cluster
			}
			for range n {
				k, v := randomKey(rng, 3000), rng.Int64N(100)
				_, seen := m.sums[k]
				m.add(k, v)
				i, isNew := tb.lookup(k)
				if i < 0 {
					tb.grow()
					i, isNew = tb.lookup(k)
				}
				if isNew == seen {
					t.Fatalf("lookup(%q) isNew = %v", k, isNew)
				}
				tb.slots[i].v += v
			}
			if tb.n != len(m.order) {
				t.Fatalf("%d keys, want %d", tb.n, len(m.order))
			}
			var buf [16]byte
			for r, i := range tb.ranked(nil) {
				k := string(tb.key(&buf, int(i)))
				if k != m.order[r] || tb.slots[i].v != m.sums[k] {
					t.Fatalf("rank %d: %q=%d, want %q=%d", r, k, tb.slots[i].v, m.order[r], m.sums[m.order[r]])
				}
			}
		})
	}
}

// TestCombTableWords: integer keys, packed as words, against a map.
func TestCombTableWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tb := newCombTable[int64](0, 1<<20)
	want := map[uint64]int64{}
	var order []uint64
	for range 50000 {
		x := rng.Uint64N(5000) * 0x9e3779b97f4a7c15
		if rng.IntN(10) == 0 {
			x = rng.Uint64N(3) // 0, 1, 2: small and zero words
		}
		if _, ok := want[x]; !ok {
			order = append(order, x)
		}
		want[x]++
		i, _ := tb.lookupWord(x)
		if i < 0 {
			tb.grow()
			i, _ = tb.lookupWord(x)
		}
		tb.slots[i].v++
	}
	for r, i := range tb.ranked(nil) {
		if x := tb.word(int(i)); x != order[r] || tb.slots[i].v != want[x] {
			t.Fatalf("rank %d: %d=%d, want %d=%d", r, x, tb.slots[i].v, order[r], want[order[r]])
		}
	}
}

// spillSums runs keys and values through a spillTable of the given budget
// and returns the sums it ends with, and whether it spilled: read back
// as the combines read it, in first-seen order when it fit, else merged
// from the sorter.
func spillSums(t testing.TB, keys []string, vals []int64, budget int64, collide bool) (got combModel, spilled bool) {
	tc := &task.Context{TempDir: t.TempDir(), Memory: 2 * budget}
	add := func(a, b int64) int64 { return a + b }
	s := newSpillTable(tc, 0, budget, codec.For[int64](), func(x int64) int64 { return x }, add, keyBytes, partZero)
	s.t.collide = collide
	defer s.close()
	for j, k := range keys {
		if err := s.addString(k, vals[j]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.done(); err != nil {
		t.Fatal(err)
	}
	if !s.spilled() {
		err := s.each(func(raw []byte, c *int64) error { got.add(string(raw), *c); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return got, false
	}
	if err := s.dump(); err != nil {
		t.Fatal(err)
	}
	it, err := s.so.Iter()
	if err != nil {
		t.Fatal(err)
	}
	err = groupSorted(it, func(kf []byte, vfs func(func([]byte) bool)) (bool, error) {
		var derr error
		vfs(func(vf []byte) bool {
			var v int64
			if v, derr = codec.For[int64]().Decode(vf); derr != nil {
				return false
			}
			got.add(string(kf), v)
			return true
		})
		return true, derr
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, true
}

// TestSpillTableAgainstMap: sums are exact however small the budget,
// with and without spills, long keys in the arena and colliding hashes.
func TestSpillTableAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		budget     int64
		collide    bool
		wantSpills bool
	}{
		{64 << 20, false, false},
		{4 << 10, false, true},
		{4 << 10, true, true},
		{1 << 10, false, true}, // below the smallest table: a dump per key
	} {
		t.Run(fmt.Sprintf("budget=%d,collide=%v", tc.budget, tc.collide), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(tc.budget)))
			var want combModel
			var keys []string
			var vals []int64
			for range 5000 {
				k, v := randomKey(rng, 1500), rng.Int64N(1000)-500
				keys, vals = append(keys, k), append(vals, v)
				want.add(k, v)
			}
			got, spilled := spillSums(t, keys, vals, tc.budget, tc.collide)
			if spilled != tc.wantSpills {
				t.Fatalf("spilled = %v, want %v", spilled, tc.wantSpills)
			}
			if len(got.sums) != len(want.sums) {
				t.Fatalf("%d keys, want %d", len(got.sums), len(want.sums))
			}
			for k, v := range want.sums {
				if got.sums[k] != v {
					t.Fatalf("%q: %d, want %d", k, got.sums[k], v)
				}
			}
			if !spilled && !slices.Equal(got.order, want.order) {
				t.Fatal("the keys of a table that fit are not in first-seen order")
			}
		})
	}
}

// TestSpillTableMemory: the table never holds more than its budget, by
// its own count, which counts the slots as allocated.
func TestSpillTableMemory(t *testing.T) {
	tc := &task.Context{TempDir: t.TempDir()}
	add := func(a, b int64) int64 { return a + b }
	const budget = 64 << 10
	s := newSpillTable(tc, 1<<20, budget, codec.For[int64](), func(x int64) int64 { return x }, add, keyBytes, partZero)
	defer s.close()
	rng := rand.New(rand.NewPCG(6, 7))
	for range 20000 {
		if err := s.addString(randomKey(rng, 100000), 1); err != nil {
			t.Fatal(err)
		}
		if m := s.mem(); m > budget {
			t.Fatalf("the table holds %d bytes, over its budget of %d", m, budget)
		}
		if got := int64(len(s.t.slots))*s.t.slotSize() + int64(cap(s.t.arena)) + 4*int64(cap(s.order)); got != s.mem() {
			t.Fatalf("mem() = %d, want %d", s.mem(), got)
		}
	}
	if !s.spilled() {
		t.Fatal("no spill past the budget")
	}
}

// FuzzCombineTable holds a spillTable against the map model on keys cut
// from the input, with a budget and collisions chosen by the input.
func FuzzCombineTable(f *testing.F) {
	f.Add([]byte("a b a  c\x00\x00 a"), uint16(0), false)
	f.Add([]byte(strings.Repeat("xyzzy-long-key-over-fifteen-bytes ", 30)), uint16(300), true)
	f.Add([]byte{0, 0xff, ' ', 0xff, 0}, uint16(1), true)
	f.Fuzz(func(t *testing.T, data []byte, budget uint16, collide bool) {
		defer fuzztest.Guard(t)()
		keys := strings.Split(string(data), " ")
		if len(keys) > 2000 {
			keys = keys[:2000]
		}
		vals := make([]int64, len(keys))
		var want combModel
		for j, k := range keys {
			vals[j] = int64(j%7 - 3)
			want.add(k, vals[j])
		}
		b := int64(budget)
		if b == 0 {
			b = 1 << 20
		}
		got, spilled := spillSums(t, keys, vals, b, collide)
		if len(got.sums) != len(want.sums) {
			t.Fatalf("%d keys, want %d", len(got.sums), len(want.sums))
		}
		for k, v := range want.sums {
			if got.sums[k] != v {
				t.Fatalf("%q: %d, want %d", k, got.sums[k], v)
			}
		}
		if !spilled && !slices.Equal(got.order, want.order) {
			t.Fatal("not in first-seen order")
		}
	})
}
