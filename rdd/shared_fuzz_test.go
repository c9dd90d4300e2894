package rdd

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/fuzztest"
	"github.com/sluicehq/sluice/internal/task"
)

// fuzzSums is the accumulator FuzzSharedDecoders applies updates to.
var fuzzSums = NewAccumulator("fuzz: sums", func(a, b map[string]int64) map[string]int64 {
	if a == nil {
		a = map[string]int64{}
	}
	for k, v := range b {
		a[k] += v
	}
	return a
})

// The decoders of what crosses the network for shared variables: a
// Broadcast handle inside a Func's argument, and an accumulator update a
// task result carries. Malformed input is an error, never a panic; a
// handle that decodes encodes back to the same bytes.
func FuzzSharedDecoders(f *testing.F) {
	type arg struct {
		N int
		B Broadcast[[]string]
	}
	c := codec.For[arg]()
	hex32, hex64 := bytes.Repeat([]byte("a"), 32), bytes.Repeat([]byte("0"), 64)
	f.Add(c.Append(nil, arg{N: 1, B: Broadcast[[]string]{id: string(hex32), digest: string(hex64)}}))
	f.Add(c.Append(nil, arg{}))
	f.Add(codec.For[map[string]int64]().Append(nil, map[string]int64{"a": 1}))
	f.Add([]byte{0x82, 0xa2, 'i', 'd', 0xa1, '.', 0xa6, 'd', 'i', 'g', 'e', 's', 't', 0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		if a, err := c.Decode(b); err == nil {
			if a.B.id != "" && (!isHex(a.B.id, 32) || !isHex(a.B.digest, 64)) {
				t.Fatalf("decoded a malformed handle %+v", a.B)
			}
			again, err := c.Decode(c.Append(nil, a))
			if err != nil || again != a {
				t.Fatalf("%+v does not round-trip: %+v, %v", a, again, err)
			}
		}
		var h Broadcast[int]
		if err := h.UnmarshalMsgpack(b); err == nil && h.id != "" && !isHex(h.id, 32) {
			t.Fatalf("UnmarshalMsgpack accepted the id %q", h.id)
		}
		applyAccumulators([]task.AccumUpdate{{Key: fuzzSums.key, Value: b}, {Key: string(b), Value: b}})
	})
}
