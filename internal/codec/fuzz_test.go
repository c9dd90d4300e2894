package codec

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

// seeds adds encodings of every shape to a decoder's corpus.
func seeds(f *testing.F) {
	for _, b := range [][]byte{
		nil, {codeNil}, {codeTrue}, {0x05}, {0xe0}, {codeNeverUsed},
		appendString(nil, ""), appendString(nil, "hello"), appendString(nil, string(make([]byte, 300))),
		appendBytes(nil, []byte{1, 2}), appendBytes(nil, make([]byte, 70000)),
		appendInt8(nil, -5), appendInt16(nil, -300), appendInt32(nil, 1<<20), appendInt64(nil, math.MinInt64),
		appendUint8(nil, 200), appendUint16(nil, 60000), appendUint32(nil, 1<<31), appendUint64(nil, math.MaxUint64),
		appendFloat32(nil, 1.5), appendFloat64(nil, math.Inf(-1)), appendFloat64(nil, math.NaN()),
		{codeStr32, 0xff, 0xff, 0xff, 0xff}, {codeFixArray | 2, 1, 2}, {codeFixMap | 1, 0xa1, 'a', 1},
	} {
		f.Add(b)
	}
}

// fuzzFast checks a fast-path decoder: no panic; what decodes re-encodes
// to bytes that decode to the same value; errors wrap ErrDecode.
func fuzzFast[T any](t *testing.T, b []byte, same func(a, b T) bool) (T, bool) {
	c := For[T]()
	v, err := c.Decode(b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode(%x) error %v does not wrap ErrDecode", b, err)
		}
		return v, false
	}
	again, err := c.Decode(c.Append(nil, v))
	if err != nil || !same(again, v) {
		t.Fatalf("Decode(Append(Decode(%x))) = %v, %v; want %v", b, again, err, v)
	}
	return v, true
}

// agreesWithLibrary checks that msgpack.Unmarshal, which is laxer than
// Decode, reads the same value from input that Decode accepted.
func agreesWithLibrary[T any](t *testing.T, b []byte, v T, same func(a, b T) bool) {
	var lib T
	if err := msgpack.Unmarshal(b, &lib); err != nil || !same(lib, v) {
		t.Fatalf("Decode(%x) = %v but msgpack.Unmarshal = %v, %v", b, v, lib, err)
	}
}

func FuzzDecodeString(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		if v, ok := fuzzFast(t, b, equal[string]); ok {
			agreesWithLibrary(t, b, v, equal[string])
		}
	})
}

func FuzzDecodeBytes(f *testing.F) {
	seeds(f)
	same := func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		if v, ok := fuzzFast(t, b, same); ok {
			agreesWithLibrary(t, b, v, same)
		}
	})
}

func FuzzDecodeInt64(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		if v, ok := fuzzFast(t, b, equal[int64]); ok {
			agreesWithLibrary(t, b, v, equal[int64])
		}
	})
}

func FuzzDecodeFloat64(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		v, ok := fuzzFast(t, b, sameFloat64)
		// The library reads a uint64 above MaxInt64 as a negative number;
		// Decode converts it correctly, so skip that comparison.
		if ok && b[0] != codeUint64 {
			agreesWithLibrary(t, b, v, sameFloat64)
		}
	})
}

// FuzzDecodeFastPaths feeds the same input to every fast-path decoder.
func FuzzDecodeFastPaths(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		fuzzFast(t, b, equal[bool])
		fuzzFast(t, b, equal[int])
		fuzzFast(t, b, equal[int8])
		fuzzFast(t, b, equal[int16])
		fuzzFast(t, b, equal[int32])
		fuzzFast(t, b, equal[uint])
		fuzzFast(t, b, equal[uint8])
		fuzzFast(t, b, equal[uint16])
		fuzzFast(t, b, equal[uint32])
		fuzzFast(t, b, equal[uint64])
		fuzzFast(t, b, sameFloat32)
		fuzzFast(t, b, equal[myString])
	})
}

type fuzzRecord struct {
	Name  string
	N     int64
	U     uint32
	F     float64
	Tags  []string
	Blob  []byte
	Attrs map[string]string
	Next  *fuzzRecord
}

// FuzzDecodeFallback checks the reflection path: no panic, no runaway
// allocation, and a decoded value re-encodes stably.
func FuzzDecodeFallback(f *testing.F) {
	seeds(f)
	c := For[fuzzRecord]()
	f.Add(c.Append(nil, fuzzRecord{Name: "a", N: -1, Tags: []string{"x"}, Attrs: map[string]string{"k": "v"}, Next: &fuzzRecord{U: 7}}))
	anyCodec := For[any]()
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		// Into an interface the library builds maps whose re-encoding
		// order is not fixed, so only check that it fails cleanly.
		if _, err := anyCodec.Decode(b); err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode[any](%x) error %v does not wrap ErrDecode", b, err)
		}
		checkStable(t, c, b)
	})
}

func fuzzOrdered[K cmp.Ordered](t *testing.T, b []byte) {
	k, err := DecodeOrdered[K](b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("DecodeOrdered(%x) error %v does not wrap ErrDecode", b, err)
		}
		return
	}
	// Every accepted encoding is canonical: it is exactly what k encodes to.
	if e := AppendOrdered(nil, k); !bytes.Equal(e, b) {
		t.Fatalf("DecodeOrdered(%x) = %v, which encodes as %x", b, k, e)
	}
}

func FuzzDecodeOrderedString(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("abc\x00\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		fuzzOrdered[string](t, b)
	})
}

func FuzzDecodeOrderedInt64(f *testing.F) {
	f.Add(AppendOrdered(nil, int64(-1)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		fuzzOrdered[int64](t, b)
		fuzzOrdered[int8](t, b)
		fuzzOrdered[uint16](t, b)
	})
}

func FuzzDecodeOrderedFloat64(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(-1), 0.1} {
		f.Add(AppendOrdered(nil, v))
	}
	f.Add(u64(1))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		fuzzOrdered[float64](t, b)
		fuzzOrdered[float32](t, b)
	})
}

type fuzzExact struct {
	When   time.Time
	ByName map[string][]int8
	Grid   [2][2]float32
	Keys   map[[2]float64]*point
	Sum    *uint64
}

// FuzzDecodeExact checks the exact codec on hostile input: no panic, and a
// decoded value re-encodes to bytes that decode to the same encoding.
func FuzzDecodeExact(f *testing.F) {
	seeds(f)
	c := For[fuzzExact]()
	n := uint64(7)
	f.Add(c.Append(nil, fuzzExact{
		When:   time.Unix(1e9, 1).In(time.FixedZone("ABC", 3600)),
		ByName: map[string][]int8{"a": {1, -2}, "b": nil},
		Keys:   map[[2]float64]*point{{1, math.NaN()}: {1, 2, "p"}, {0, 0}: nil},
		Sum:    &n,
	}))
	f.Add(c.Append(nil, fuzzExact{When: time.Unix(-1e12, 0).UTC()}))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		checkStable(t, c, b)
	})
}

// checkStable decodes b with c: an error must wrap ErrDecode; a value must
// re-encode to bytes that decode and encode to the same bytes again.
func checkStable[T any](t *testing.T, c Codec[T], b []byte) {
	t.Helper()
	v, err := c.Decode(b)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode(%x) error %v does not wrap ErrDecode", b, err)
		}
		return
	}
	first := c.Append(nil, v)
	v2, err := c.Decode(first)
	if err != nil {
		t.Fatalf("Decode(Append(Decode(%x))): %v", b, err)
	}
	if second := c.Append(nil, v2); !bytes.Equal(first, second) {
		t.Fatalf("re-encoding is unstable: %x then %x", first, second)
	}
}
