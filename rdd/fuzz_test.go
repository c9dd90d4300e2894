package rdd

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
)

type skv = Pair[string, int]

// FuzzActionResult decodes arbitrary bytes as the result of a task, as the
// driver does for Collect, Take and Reduce (framed elements, pairs or
// not), Count and CountByKey: an error or a value that re-encodes to bytes
// that decode to it again, never a panic.
func FuzzActionResult(f *testing.F) {
	pairs, strs := codecOf[skv](), codecOf[string]()
	var collected []byte
	for _, p := range []skv{{"a", 1}, {"", -1}, {"long key", math.MaxInt}} {
		collected = pairs.put(collected, p)
	}
	f.Add(collected)
	f.Add(strs.put(strs.put(nil, "x"), ""))
	f.Add([]byte{0x05})                                                       // a count
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // a count above MaxInt64
	f.Add([]byte{0x05, 0x00})                                                 // a count and a trailing byte
	var byKey []byte
	byKey = appendFrame(byKey, codec.For[string]().Append(nil, "k"))
	byKey = appendFrame(byKey, []byte{3})
	f.Add(byKey)
	f.Add([]byte{})
	f.Add([]byte{0x80})

	f.Fuzz(func(t *testing.T, b []byte) {
		checkEach(t, pairs, b, func(a, b skv) bool { return a == b })
		checkEach(t, strs, b, func(a, b string) bool { return a == b })

		if n, err := decodeCount(b); err == nil {
			if again, err := decodeCount(binary.AppendUvarint(nil, uint64(n))); n < 0 || err != nil || again != n {
				t.Fatalf("decodeCount(%x) = %d, which does not round-trip: %d, %v", b, n, again, err)
			}
		}

		kc := codec.For[string]()
		counts := map[string]int64{}
		if err := decodeCountsByKey(kc, b, counts); err == nil {
			var again []byte
			for k, n := range counts {
				if n < 0 {
					return // repeated keys whose counts overflow int64 when added
				}
				again = appendFrame(again, kc.Append(nil, k))
				again = appendFrame(again, binary.AppendUvarint(nil, uint64(n)))
			}
			back := map[string]int64{}
			if err := decodeCountsByKey(kc, again, back); err != nil || !maps.Equal(back, counts) {
				t.Fatalf("counts %v re-encode to %v, %v", counts, back, err)
			}
		}
	})
}

// checkEach decodes b with c and, when that succeeds, checks that the
// elements re-encode to a payload that decodes to the same elements.
func checkEach[T any](t *testing.T, c *elemCodec[T], b []byte, same func(a, b T) bool) {
	var got []T
	if err := c.each(b, func(v T) bool { got = append(got, v); return true }); err != nil {
		return
	}
	var again []byte
	for _, v := range got {
		again = c.put(again, v)
	}
	var back []T
	if err := c.each(again, func(v T) bool { back = append(back, v); return true }); err != nil {
		t.Fatalf("%T: re-encoded elements do not decode: %v", got, err)
	}
	if !slices.EqualFunc(got, back, same) {
		t.Fatalf("%T: %v re-encodes to %v", got, got, back)
	}
}

// TestCountRefusesMalformedResults: a count is exactly one uvarint within
// int64.
func TestCountRefusesMalformedResults(t *testing.T) {
	for _, c := range []struct {
		b  []byte
		ok bool
	}{
		{[]byte{0}, true}, {[]byte{0xac, 0x02}, true},
		{nil, false}, {[]byte{0x80}, false}, {[]byte{5, 0}, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false},
	} {
		if _, err := decodeCount(c.b); (err == nil) != c.ok {
			t.Errorf("decodeCount(%x) err = %v, want ok=%v", c.b, err, c.ok)
		}
	}
}
