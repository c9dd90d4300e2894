package spill

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

// hardKeys returns n keys made to reach every path of sortByKey: bytes
// that sort at the ends (0x00, 0xff) and "\r", keys that end where
// another goes on with zero bytes, long shared prefixes (past 8, 16 and 24
// bytes) so groups are refined, groups large enough to be distributed by
// radix, and duplicates.
func hardKeys(rng *rand.Rand, n int) [][]byte {
	alphabet := []byte{0, 1, '\r', 'a', 'b', 0x7f, 0x80, 0xff}
	shared := [][]byte{nil, []byte("commonprefix"), bytes.Repeat([]byte{0}, 20), []byte("a\x00b\x00c\x00d\x00e\x00f\x00g\x00h\x00i")}
	keys := make([][]byte, n)
	for i := range keys {
		switch rng.IntN(8) {
		case 0:
			if i > 0 {
				keys[i] = keys[rng.IntN(i)] // a duplicate
				continue
			}
		case 1:
			keys[i] = make([]byte, rng.IntN(12)) // zeros only, or empty
			continue
		}
		k := slices.Clone(shared[rng.IntN(len(shared))])
		for range rng.IntN(12) {
			k = append(k, alphabet[rng.IntN(len(alphabet))])
		}
		keys[i] = k
	}
	return keys
}

// sortModel is the reference order: partition, key bytes, insertion.
func sortModel(in []rec, byKey bool) []rec { return naiveSort(in, byKey) }

// sortByKey, with and without spills, in one and several partitions, dense
// and sparse, agrees with the model.
func TestSortByKeyMatchesModel(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 99))
		n := []int{1, 2, radixMin - 1, radixMin, 3000, 20000}[seed]
		keys := hardKeys(rng, n)
		for _, parts := range []int{1, 3, 100_000} {
			in := make([]rec, n)
			for i, k := range keys {
				in[i] = rec{part: rng.IntN(parts), key: k, val: fmt.Appendf(nil, "%d", i)}
			}
			for _, budget := range []int64{1 << 30, 64 << 10} {
				t.Run(fmt.Sprintf("n=%d/parts=%d/budget=%d", n, parts, budget), func(t *testing.T) {
					got, _ := sortAll(t, Config{Dir: t.TempDir(), Budget: budget, ByKey: true, MergeFactor: 3}, in)
					checkSame(t, got, sortModel(in, true))
				})
			}
		}
	}
}

// flagSort groups entries by bucket, whatever the counts.
func TestFlagSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 7, 257} {
		ents := make([]entry, 1000)
		counts := make([]int, k)
		for i := range ents {
			ents[i].part = int32(rng.IntN(k))
			ents[i].off = uint64(i)
			counts[ents[i].part]++
		}
		flagSort(ents, counts, func(e *entry) int { return int(e.part) })
		if !slices.IsSortedFunc(ents, func(a, b entry) int { return cmp.Compare(a.part, b.part) }) {
			t.Fatalf("k=%d: not grouped by bucket", k)
		}
		seen := make(map[uint64]bool)
		for _, e := range ents {
			seen[e.off] = true
		}
		if len(seen) != len(ents) {
			t.Fatalf("k=%d: %d distinct entries after the permutation, want %d", k, len(seen), len(ents))
		}
	}
}

// FuzzSortMatchesModel sorts records cut from the fuzzer's bytes, within
// a budget it chooses (so with spills and merges), and checks the result
// against a stable sort of the records in memory.
func FuzzSortMatchesModel(f *testing.F) {
	f.Add([]byte("\x00\x03abc\x01\x03abd\x00\x00\x02\x09aaaaaaaaa\x02\x0aaaaaaaaaa\x00"), uint16(0), true, uint8(2), uint8(0))
	f.Add(bytes.Repeat([]byte("\x00\x14commonprefix-common"), 200), uint16(3), true, uint8(3), uint8(50))
	f.Add([]byte("\x05\x02\xff\xff\x05\x01\xff\x05\x00\x05\x03\xff\xff\x00"), uint16(9), false, uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, budgetSel uint16, byKey bool, mergeFactor uint8, presort uint8) {
		defer fuzztest.Guard(t)()
		var in []rec
		for len(data) >= 2 && len(in) < 5000 {
			part, n := int(data[0]%8), int(data[1]%40)
			data = data[2:]
			n = min(n, len(data))
			// Repeat short keys so that radix groups and ties show up.
			k := data[:n]
			data = data[n:]
			in = append(in, rec{part: part, key: k, val: fmt.Appendf(nil, "%d", len(in))})
			if len(k) > 0 && k[0]&1 == 1 && len(in) < 5000 {
				in = append(in, rec{part: part, key: k, val: fmt.Appendf(nil, "%d", len(in))})
			}
		}
		if presort > 0 {
			// Ascending runs, as a reduce task's input has them.
			for i := 0; i < len(in); i += int(presort) {
				r := in[i:min(i+int(presort), len(in))]
				slices.SortStableFunc(r, func(a, b rec) int {
					return cmp.Or(cmp.Compare(a.part, b.part), bytes.Compare(a.key, b.key))
				})
			}
		}
		budget := 64 + int64(budgetSel%512)*64
		if budgetSel >= 0x8000 {
			budget = 1 << 30
		}
		cfg := Config{Dir: t.TempDir(), Budget: budget, ByKey: byKey, MergeFactor: int(mergeFactor % 5)}
		got, _ := sortAll(t, cfg, in)
		checkSame(t, got, sortModel(in, byKey))
	})
}

// Records that arrive as a few ascending runs (a reduce task's input: the
// sorted outputs of the map tasks one after another) are merged from those
// runs, in memory and into spilled runs, and come out as the model has
// them; past maxNatural runs they are sorted.
func TestNaturalRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	keys := hardKeys(rng, 30000)
	for _, runs := range []int{1, 2, 8, maxNatural, maxNatural + 1, 500} {
		in := make([]rec, len(keys))
		for i, k := range keys {
			in[i] = rec{part: rng.IntN(2), key: k, val: fmt.Appendf(nil, "%d", i)}
		}
		per := (len(in) + runs - 1) / runs
		for i := 0; i < len(in); i += per {
			r := in[i:min(i+per, len(in))]
			slices.SortStableFunc(r, func(a, b rec) int {
				return cmp.Or(cmp.Compare(a.part, b.part), bytes.Compare(a.key, b.key))
			})
		}
		for _, budget := range []int64{1 << 30, 256 << 10} {
			t.Run(fmt.Sprintf("runs=%d/budget=%d", runs, budget), func(t *testing.T) {
				s, err := NewSorter(Config{Dir: t.TempDir(), Budget: budget, ByKey: true})
				must(t, err)
				defer s.Close()
				for _, r := range in {
					must(t, s.Add(r.part, r.key, r.val))
				}
				// maxNatural+1 runs may still merge: two can meet in order.
				if budget == 1<<30 && runs != maxNatural+1 && s.presorted() != (runs <= maxNatural) {
					t.Fatalf("%d ascending runs: presorted = %v", runs, s.presorted())
				}
				it, err := s.Iter()
				must(t, err)
				var got []rec
				for it.Next() {
					got = append(got, rec{it.Part(), bytes.Clone(it.Key()), bytes.Clone(it.Value())})
				}
				must(t, it.Err())
				checkSame(t, got, sortModel(in, true))
			})
		}
	}
}
