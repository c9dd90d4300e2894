package codec

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// checkOrdered holds the encoding to its contract on vals: it round-trips,
// and byte order equals cmp.Compare order for every pair.
func checkOrdered[K cmp.Ordered](t *testing.T, vals []K) {
	t.Helper()
	appendKey, decodeKey := OrderedFor[K]()
	encs := make([][]byte, len(vals))
	for i, v := range vals {
		e := AppendOrdered([]byte{0xAA}, v)
		if e[0] != 0xAA {
			t.Fatalf("%T %v: AppendOrdered overwrote dst", v, v)
		}
		encs[i] = e[1:]
		if viaFor := appendKey(nil, v); !bytes.Equal(viaFor, encs[i]) {
			t.Fatalf("%T %v: OrderedFor's append = %x, AppendOrdered = %x", v, v, viaFor, encs[i])
		}
		for _, decode := range []func([]byte) (K, error){DecodeOrdered[K], decodeKey} {
			got, err := decode(encs[i])
			if err != nil || cmp.Compare(got, v) != 0 {
				t.Fatalf("%T: decode(%x) = %v, %v; want %v", v, encs[i], got, err, v)
			}
		}
	}
	for i := range vals {
		for j := range vals {
			if got, want := bytes.Compare(encs[i], encs[j]), cmp.Compare(vals[i], vals[j]); got != want {
				t.Fatalf("%T: bytes.Compare(enc(%v), enc(%v)) = %d, cmp.Compare = %d", vals[i], vals[i], vals[j], got, want)
			}
		}
	}
}

func orderedInts[K cmp.Ordered](conv func(int64) K) []K {
	out := ints(conv)
	return out[:len(edgeInts())+150] // pairwise checks are quadratic
}

func orderedUints[K cmp.Ordered](conv func(uint64) K) []K {
	out := uints(conv)
	return out[:len(edgeUints())+150]
}

func orderedFloats() []float64 {
	out := floats()[:166]
	return append(out, math.Float64frombits(0x7ff8000000000000), math.Float64frombits(0xffffffffffffffff),
		-math.SmallestNonzeroFloat64, math.Nextafter(0, 1), math.Nextafter(1, 2), math.Nextafter(1, 0), -1e-300)
}

func orderedStrings() []string {
	out := []string{"", "\x00", "\x00\x00", "a", "a\x00", "ab", "abc", "abd", "b", "\x7f", "\x80", "\xff", "\xff\xff", "ü"}
	r := newRand(30)
	for range 150 {
		b := make([]byte, r.IntN(5))
		for i := range b {
			b[i] = "ab\x00\xff"[r.IntN(4)]
		}
		out = append(out, string(b))
	}
	return out
}

func TestOrdered(t *testing.T) {
	checkOrdered(t, orderedInts(func(v int64) int { return int(v) }))
	checkOrdered(t, orderedInts(func(v int64) int8 { return int8(v) }))
	checkOrdered(t, orderedInts(func(v int64) int16 { return int16(v) }))
	checkOrdered(t, orderedInts(func(v int64) int32 { return int32(v) }))
	checkOrdered(t, orderedInts(func(v int64) int64 { return v }))
	checkOrdered(t, orderedUints(func(v uint64) uint { return uint(v) }))
	checkOrdered(t, orderedUints(func(v uint64) uint8 { return uint8(v) }))
	checkOrdered(t, orderedUints(func(v uint64) uint16 { return uint16(v) }))
	checkOrdered(t, orderedUints(func(v uint64) uint32 { return uint32(v) }))
	checkOrdered(t, orderedUints(func(v uint64) uint64 { return v }))
	checkOrdered(t, orderedUints(func(v uint64) uintptr { return uintptr(v) }))
	checkOrdered(t, orderedFloats())
	var f32 []float32
	for _, f := range orderedFloats() {
		f32 = append(f32, float32(f))
	}
	checkOrdered(t, f32)
	checkOrdered(t, orderedStrings())
}

func TestOrderedNamedTypes(t *testing.T) {
	checkOrdered(t, orderedInts(func(v int64) myInt { return myInt(v) }))
	checkOrdered(t, orderedInts(func(v int64) time.Duration { return time.Duration(v) }))
	checkOrdered(t, orderedUints(func(v uint64) myByte { return myByte(v) }))
	var mf []myFloat
	var ms []myString
	for _, f := range orderedFloats() {
		mf = append(mf, myFloat(f))
	}
	for _, s := range orderedStrings() {
		ms = append(ms, myString(s))
	}
	checkOrdered(t, mf)
	checkOrdered(t, ms)
	if !bytes.Equal(AppendOrdered(nil, myInt(-5)), AppendOrdered(nil, -5)) {
		t.Error("a named int encodes differently from int")
	}
}

func TestOrderedCanonical(t *testing.T) {
	nans := []float64{math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000000), -math.NaN()}
	for _, n := range nans {
		if e := AppendOrdered(nil, n); !bytes.Equal(e, make([]byte, 8)) {
			t.Errorf("NaN %#x encodes as %x, want zeros", math.Float64bits(n), e)
		}
	}
	if !bytes.Equal(AppendOrdered(nil, math.Copysign(0, -1)), AppendOrdered(nil, 0.0)) {
		t.Error("-0 and +0 encode differently")
	}
	if !bytes.Equal(AppendOrdered(nil, float32(math.NaN())), AppendOrdered(nil, math.NaN())) {
		t.Error("float32 NaN encodes differently from float64 NaN")
	}
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func TestDecodeOrderedErrors(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
	}{
		{"int64 short", decOrd[int64], make([]byte, 7)},
		{"int64 long", decOrd[int64], make([]byte, 9)},
		{"int empty", decOrd[int], nil},
		{"int8 over", decOrd[int8], AppendOrdered(nil, int64(128))},
		{"int8 under", decOrd[int8], AppendOrdered(nil, int64(-129))},
		{"int32 over", decOrd[int32], AppendOrdered(nil, int64(math.MaxInt32+1))},
		{"uint8 over", decOrd[uint8], AppendOrdered(nil, uint64(256))},
		{"uint16 over", decOrd[uint16], AppendOrdered(nil, uint64(65536))},
		{"uint64 short", decOrd[uint64], []byte{1}},
		{"float64 short", decOrd[float64], make([]byte, 4)},
		{"float64 other NaN", decOrd[float64], u64(1)},
		{"float64 positive NaN", decOrd[float64], u64(^uint64(0))},
		{"float64 -0", decOrd[float64], u64(0x7fffffffffffffff)},
		{"float32 not representable", decOrd[float32], AppendOrdered(nil, 0.1)},
		{"float32 out of range", decOrd[float32], AppendOrdered(nil, 1e300)},
		{"float32 -0", decOrd[float32], u64(0x7fffffffffffffff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.in); !errors.Is(err, ErrDecode) {
				t.Fatalf("DecodeOrdered(%x) = %v, want an error wrapping ErrDecode", tt.in, err)
			}
		})
	}
	if s, err := DecodeOrdered[string]([]byte{0xff, 0}); err != nil || s != "\xff\x00" {
		t.Errorf("DecodeOrdered[string] = %q, %v", s, err)
	}
}

func decOrd[K cmp.Ordered](b []byte) error {
	_, err := DecodeOrdered[K](b)
	return err
}

// TestOrderedSortsLikeSlicesSort sorts keys by their encodings and checks
// the result against slices.Sort on the keys themselves.
func TestOrderedSortsLikeSlicesSort(t *testing.T) {
	r := newRand(31)
	keys := make([]float64, 2000)
	for i := range keys {
		keys[i] = randFloat(r)
	}
	encs := make([][]byte, len(keys))
	for i, k := range keys {
		encs[i] = AppendOrdered(nil, k)
	}
	slices.SortFunc(encs, bytes.Compare)
	slices.Sort(keys)
	for i, e := range encs {
		got, err := DecodeOrdered[float64](e)
		if err != nil || cmp.Compare(got, keys[i]) != 0 {
			t.Fatalf("position %d: %v, %v; want %v", i, got, err, keys[i])
		}
	}
}
