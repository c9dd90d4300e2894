package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// edgeInts are the values around every boundary of msgpack's integer widths.
func edgeInts() []int64 {
	return []int64{
		0, 1, -1, 31, 32, -31, -32, -33, 126, 127, 128, 129, -127, -128, -129,
		254, 255, 256, 32767, 32768, -32767, -32768, -32769, 65535, 65536,
		math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1,
		math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1,
	}
}

func edgeUints() []uint64 {
	u := []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 63, 1<<63 - 1}
	for _, v := range edgeInts() {
		if v >= 0 {
			u = append(u, uint64(v))
		}
	}
	return u
}

// randInt returns random bits shifted so that every width is common.
func randInt(r *rand.Rand) int64 { return int64(r.Uint64()) >> r.IntN(64) }

func randUint(r *rand.Rand) uint64 { return r.Uint64() >> r.IntN(65) }

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(4) {
	case 0:
		return math.Float64frombits(r.Uint64()) // includes NaNs and subnormals
	case 1:
		return float64(randInt(r))
	case 2:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	}
	return r.Float64()
}

// randString returns strings whose lengths cross every str header size.
func randString(r *rand.Rand) string {
	n := []int{0, r.IntN(32), 31 + r.IntN(3), r.IntN(300), 255 + r.IntN(3), 65535 + r.IntN(3), r.IntN(70000)}[r.IntN(7)]
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return string(b[:n])
}

func ints[T any](conv func(int64) T) []T {
	var out []T
	for _, v := range edgeInts() {
		out = append(out, conv(v))
	}
	r := newRand(1)
	for range 500 {
		out = append(out, conv(randInt(r)))
	}
	return out
}

func uints[T any](conv func(uint64) T) []T {
	var out []T
	for _, v := range edgeUints() {
		out = append(out, conv(v))
	}
	r := newRand(2)
	for range 500 {
		out = append(out, conv(randUint(r)))
	}
	return out
}

func floats() []float64 {
	out := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(),
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxFloat32, math.SmallestNonzeroFloat32,
		1 << 53, 1<<53 + 1, math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000001)}
	r := newRand(3)
	for range 500 {
		out = append(out, randFloat(r))
	}
	return out
}

func stringsForTest() []string {
	out := []string{"", "a", "hello, world", "\x00", "\xff\xfe", "ünïcødé", strings.Repeat("x", 31), strings.Repeat("x", 32),
		strings.Repeat("y", 255), strings.Repeat("y", 256), strings.Repeat("z", 65535), strings.Repeat("z", 65536)}
	r := newRand(4)
	for range 100 {
		out = append(out, randString(r))
	}
	return out
}

func byteSlices() [][]byte {
	out := [][]byte{nil, {}, {0}, {0xc0}}
	for _, s := range stringsForTest() {
		out = append(out, []byte(s))
	}
	return out
}

// checkAgainstLibrary holds Append byte-for-byte to msgpack.Marshal and
// checks that each side decodes the other.
func checkAgainstLibrary[T any](t *testing.T, vals []T, eq func(a, b T) bool) {
	t.Helper()
	c := For[T]()
	for _, v := range vals {
		ours := c.Append([]byte{0xAA}, v)
		if ours[0] != 0xAA {
			t.Fatalf("%T %v: Append overwrote dst", v, v)
		}
		ours = ours[1:]
		lib, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("msgpack.Marshal(%T %v): %v", v, v, err)
		}
		if !bytes.Equal(ours, lib) {
			t.Fatalf("%T %v: Append = %x, msgpack.Marshal = %x", v, v, ours, lib)
		}
		got, err := c.Decode(lib)
		if err != nil || !eq(got, v) {
			t.Fatalf("%T: Decode(%x) = %v, %v; want %v", v, lib, got, err, v)
		}
		var back T
		if err := msgpack.Unmarshal(ours, &back); err != nil || !eq(back, v) {
			t.Fatalf("%T: msgpack.Unmarshal(%x) = %v, %v; want %v", v, ours, back, err, v)
		}
	}
}

func equal[T comparable](a, b T) bool { return a == b }

func sameFloat64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}

func sameFloat32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

type (
	myString string
	myBytes  []byte
	myByte   uint8
	myByteS  []myByte
	myBool   bool
	myInt    int
	myInt8   int8
	myInt64  int64
	myUint   uint
	myUint16 uint16
	myFloat  float64
	myF32    float32
)

func TestFastPathsMatchLibrary(t *testing.T) {
	checkAgainstLibrary(t, stringsForTest(), equal)
	checkAgainstLibrary(t, byteSlices(), func(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) })
	checkAgainstLibrary(t, []bool{true, false}, equal)
	checkAgainstLibrary(t, ints(func(v int64) int { return int(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) int8 { return int8(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) int16 { return int16(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) int32 { return int32(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) int64 { return v }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) uint { return uint(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) uint8 { return uint8(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) uint16 { return uint16(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) uint32 { return uint32(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) uint64 { return v }), equal)
	checkAgainstLibrary(t, floats(), sameFloat64)
	var f32 []float32
	for _, f := range floats() {
		f32 = append(f32, float32(f))
	}
	checkAgainstLibrary(t, f32, sameFloat32)
}

func TestNamedTypesMatchLibrary(t *testing.T) {
	checkAgainstLibrary(t, []myString{"", "abc", myString(strings.Repeat("q", 300))}, equal)
	checkAgainstLibrary(t, []myBytes{nil, {}, {1, 2, 3}}, func(a, b myBytes) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) })
	checkAgainstLibrary(t, []myByteS{nil, {}, {1, 2, 3}}, func(a, b myByteS) bool { return reflect.DeepEqual(a, b) })
	checkAgainstLibrary(t, []myBool{true, false}, equal)
	checkAgainstLibrary(t, ints(func(v int64) myInt { return myInt(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) myInt8 { return myInt8(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) myInt64 { return myInt64(v) }), equal)
	checkAgainstLibrary(t, ints(func(v int64) time.Duration { return time.Duration(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) myUint { return myUint(v) }), equal)
	checkAgainstLibrary(t, uints(func(v uint64) myUint16 { return myUint16(v) }), equal)
	checkAgainstLibrary(t, []myFloat{0, 1.5, myFloat(math.Inf(-1))}, equal)
	checkAgainstLibrary(t, []myF32{0, 1.5, myF32(math.Inf(-1))}, equal)

	for _, typ := range []reflect.Type{reflect.TypeFor[myString](), reflect.TypeFor[myByteS](), reflect.TypeFor[time.Duration]()} {
		if customised(typ) {
			t.Errorf("%v: customised = true, want the fast path", typ)
		}
	}
	if _, ok := fastFor[myInt64](reflect.TypeFor[myInt64]()); !ok {
		t.Errorf("myInt64 did not get a fast path")
	}
}

// upper is a named string that msgpack encodes through MarshalText, so it
// must not get the string fast path.
type upper string

func (u upper) MarshalText() ([]byte, error) { return []byte(strings.ToUpper(string(u))), nil }

func (u *upper) UnmarshalText(b []byte) error {
	*u = upper(strings.ToLower(string(b)))
	return nil
}

// celsius is a named int whose pointer has EncodeMsgpack/DecodeMsgpack.
type celsius int64

func (c *celsius) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeString("C") }

func (c *celsius) DecodeMsgpack(d *msgpack.Decoder) error {
	s, err := d.DecodeString()
	if err == nil && s == "C" {
		*c = 42
	}
	return err
}

func TestCustomisedNamedTypesUseLibrary(t *testing.T) {
	if _, ok := fastFor[upper](reflect.TypeFor[upper]()); ok {
		t.Fatal("upper took the string fast path despite MarshalText")
	}
	cu := For[upper]()
	b := cu.Append(nil, "abc")
	if lib, _ := msgpack.Marshal(upper("abc")); !bytes.Equal(b, lib) {
		t.Fatalf("upper: Append = %x, msgpack.Marshal = %x", b, lib)
	}
	if got, err := cu.Decode(b); err != nil || got != "abc" {
		t.Fatalf("upper: Decode = %q, %v", got, err)
	}

	// RawMessage is a named []byte with EncodeMsgpack: it is written raw,
	// not as bin.
	raw := msgpack.RawMessage(appendString(nil, "x"))
	cr := For[msgpack.RawMessage]()
	if b := cr.Append(nil, raw); !bytes.Equal(b, raw) {
		t.Fatalf("RawMessage: Append = %x, want %x", b, []byte(raw))
	}
	if got, err := cr.Decode(raw); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("RawMessage: Decode = %x, %v", []byte(got), err)
	}

	cc := For[celsius]()
	b = cc.Append(nil, 7)
	if want := []byte{0xa1, 'C'}; !bytes.Equal(b, want) {
		t.Fatalf("celsius: Append = %x, want %x (pointer-receiver EncodeMsgpack)", b, want)
	}
	if got, err := cc.Decode(b); err != nil || got != 42 {
		t.Fatalf("celsius: Decode = %v, %v", got, err)
	}
}

// everyWidth returns v in every msgpack integer encoding that holds it.
func everyWidth(v int64) [][]byte {
	var out [][]byte
	if v >= 0 && v <= 127 {
		out = append(out, []byte{byte(v)})
	}
	if v >= -32 && v < 0 {
		out = append(out, []byte{byte(v)})
	}
	if v >= 0 {
		out = append(out, everyUintWidth(uint64(v))[1:]...)
	}
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		out = append(out, appendInt8(nil, int8(v)))
	}
	if v >= math.MinInt16 && v <= math.MaxInt16 {
		out = append(out, appendInt16(nil, int16(v)))
	}
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		out = append(out, appendInt32(nil, int32(v)))
	}
	return append(out, appendInt64(nil, v))
}

// everyUintWidth returns the compact encoding first, then each uint code.
func everyUintWidth(v uint64) [][]byte {
	out := [][]byte{appendCompactUint(nil, v)}
	if v <= math.MaxUint8 {
		out = append(out, appendUint8(nil, uint8(v)))
	}
	if v <= math.MaxUint16 {
		out = append(out, appendUint16(nil, uint16(v)))
	}
	if v <= math.MaxUint32 {
		out = append(out, appendUint32(nil, uint32(v)))
	}
	return append(out, appendUint64(nil, v))
}

// intTarget decodes into one integer type, reporting the value as int64
// or uint64 so that the test can compare ranges.
type intTarget struct {
	name   string
	lo     int64
	hi     uint64
	decode func([]byte) (neg bool, v uint64, err error)
}

func signedTarget[T int | int8 | int16 | int32 | int64](lo int64, hi uint64) intTarget {
	c := For[T]()
	return intTarget{reflect.TypeFor[T]().String(), lo, hi, func(b []byte) (bool, uint64, error) {
		v, err := c.Decode(b)
		var lib T
		if err == nil {
			if lerr := msgpack.Unmarshal(b, &lib); lerr != nil || lib != v {
				return false, 0, errors.New("library disagrees")
			}
		}
		return v < 0, uint64(int64(v)), err
	}}
}

func unsignedTarget[T uint | uint8 | uint16 | uint32 | uint64](hi uint64) intTarget {
	c := For[T]()
	return intTarget{reflect.TypeFor[T]().String(), 0, hi, func(b []byte) (bool, uint64, error) {
		v, err := c.Decode(b)
		var lib T
		if err == nil {
			if lerr := msgpack.Unmarshal(b, &lib); lerr != nil || lib != v {
				return false, 0, errors.New("library disagrees")
			}
		}
		return false, uint64(v), err
	}}
}

func TestDecodeEveryIntegerWidth(t *testing.T) {
	targets := []intTarget{
		signedTarget[int](math.MinInt, math.MaxInt),
		signedTarget[int8](math.MinInt8, math.MaxInt8),
		signedTarget[int16](math.MinInt16, math.MaxInt16),
		signedTarget[int32](math.MinInt32, math.MaxInt32),
		signedTarget[int64](math.MinInt64, math.MaxInt64),
		unsignedTarget[uint](math.MaxUint),
		unsignedTarget[uint8](math.MaxUint8),
		unsignedTarget[uint16](math.MaxUint16),
		unsignedTarget[uint32](math.MaxUint32),
		unsignedTarget[uint64](math.MaxUint64),
	}
	type val struct {
		neg bool
		u   uint64
		enc [][]byte
	}
	var vals []val
	for _, v := range edgeInts() {
		vals = append(vals, val{v < 0, uint64(v), everyWidth(v)})
	}
	for _, u := range edgeUints() {
		if u > math.MaxInt64 {
			vals = append(vals, val{false, u, everyUintWidth(u)})
		}
	}
	f64, f32 := For[float64](), For[float32]()
	for _, v := range vals {
		for _, enc := range v.enc {
			for _, tg := range targets {
				fits := v.neg && int64(v.u) >= tg.lo || !v.neg && v.u <= tg.hi
				neg, got, err := tg.decode(enc)
				switch {
				case fits && (err != nil || neg != v.neg || got != v.u):
					t.Errorf("%s: Decode(%x) = %v, %v, %v; want %v", tg.name, enc, neg, got, err, v.u)
				case !fits && !errors.Is(err, ErrDecode):
					t.Errorf("%s: Decode(%x) = %v, %v; want an out-of-range ErrDecode", tg.name, enc, got, err)
				}
			}
			// Converted straight from the integer: going through float64
			// first could round twice.
			want, want32 := float64(v.u), float32(v.u)
			if v.neg {
				want, want32 = float64(int64(v.u)), float32(int64(v.u))
			}
			if got, err := f64.Decode(enc); err != nil || got != want {
				t.Errorf("float64: Decode(%x) = %v, %v; want %v", enc, got, err, want)
			}
			if got, err := f32.Decode(enc); err != nil || got != want32 {
				t.Errorf("float32: Decode(%x) = %v, %v; want %v", enc, got, err, want32)
			}
		}
	}
}

func TestFloat64AcceptsFloat32(t *testing.T) {
	for _, f := range []float32{0, 1.5, -2.25, float32(math.Inf(1)), math.MaxFloat32} {
		got, err := For[float64]().Decode(appendFloat32(nil, f))
		if err != nil || got != float64(f) {
			t.Errorf("Decode(float32 %v) = %v, %v", f, got, err)
		}
	}
}

func TestBytesAndStringsInterchange(t *testing.T) {
	// The library reads str as []byte and bin as string; so do we.
	if got, err := For[[]byte]().Decode(appendString(nil, "abc")); err != nil || string(got) != "abc" {
		t.Errorf("[]byte from str = %q, %v", got, err)
	}
	if got, err := For[string]().Decode(appendBytes(nil, []byte("abc"))); err != nil || got != "abc" {
		t.Errorf("string from bin = %q, %v", got, err)
	}
	if got, err := For[[]byte]().Decode([]byte{codeBin8, 0}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("[]byte from empty bin = %#v, %v; want non-nil empty", got, err)
	}
	if got, err := For[[]byte]().Decode([]byte{codeNil}); err != nil || got != nil {
		t.Errorf("[]byte from nil = %#v, %v; want nil", got, err)
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b := appendString(nil, "hello")
	s, err := For[string]().Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := For[[]byte]().Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if s != "hello" || string(bs) != "hello" {
		t.Fatalf("decoded values changed with their input: %q, %q", s, bs)
	}
}

func TestDecodeErrors(t *testing.T) {
	str := appendString(nil, strings.Repeat("s", 40))
	long := appendString(nil, strings.Repeat("s", 300))
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
	}{
		{"string empty input", dec[string], nil},
		{"string truncated payload", dec[string], str[:len(str)-1]},
		{"string truncated header", dec[string], long[:2]},
		{"string trailing", dec[string], append(appendString(nil, "ab"), 0)},
		{"string from int", dec[string], appendInt64(nil, 5)},
		{"string from nil", dec[string], []byte{codeNil}},
		{"string from array", dec[string], []byte{codeFixArray | 1, 1}},
		{"bytes truncated", dec[[]byte], []byte{codeBin16, 0, 5, 1, 2}},
		{"bytes huge claimed length", dec[[]byte], []byte{codeBin32, 0xff, 0xff, 0xff, 0xff, 1}},
		{"bytes nil trailing", dec[[]byte], []byte{codeNil, 0}},
		{"bytes from bool", dec[[]byte], []byte{codeTrue}},
		{"bool from int", dec[bool], []byte{1}},
		{"bool from nil", dec[bool], []byte{codeNil}},
		{"bool trailing", dec[bool], []byte{codeTrue, codeTrue}},
		{"bool empty", dec[bool], []byte{}},
		{"int64 from string", dec[int64], appendString(nil, "5")},
		{"int64 truncated", dec[int64], appendInt64(nil, 5)[:8]},
		{"int64 trailing", dec[int64], append(appendInt64(nil, 5), 0)},
		{"int64 from uint64 overflow", dec[int64], appendUint64(nil, math.MaxUint64)},
		{"int64 from float", dec[int64], appendFloat64(nil, 1)},
		{"int64 from nil", dec[int64], []byte{codeNil}},
		{"int64 empty", dec[int64], nil},
		{"int fixint trailing", dec[int], []byte{5, 5}},
		{"int8 overflow", dec[int8], appendInt16(nil, 128)},
		{"int8 underflow", dec[int8], appendInt16(nil, -129)},
		{"int16 truncated", dec[int16], appendInt16(nil, 1)[:2]},
		{"uint negative", dec[uint], []byte{0xff}},
		{"uint8 overflow", dec[uint8], appendUint16(nil, 256)},
		{"uint32 negative int64", dec[uint32], appendInt64(nil, -1)},
		{"uint64 from string", dec[uint64], appendString(nil, "")},
		{"float64 truncated", dec[float64], appendFloat64(nil, 1)[:5]},
		{"float64 trailing", dec[float64], append(appendFloat64(nil, 1), 0)},
		{"float64 from string", dec[float64], appendString(nil, "1")},
		{"float64 from bool", dec[float64], []byte{codeFalse}},
		{"float32 from float64", dec[float32], appendFloat64(nil, 1)},
		{"float32 truncated", dec[float32], appendFloat32(nil, 1)[:4]},
		{"float32 empty", dec[float32], nil},
		{"never-used code", dec[int64], []byte{codeNeverUsed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.in); !errors.Is(err, ErrDecode) {
				t.Fatalf("Decode(%x) = %v, want an error wrapping ErrDecode", tt.in, err)
			}
		})
	}
}

func dec[T any](b []byte) error {
	_, err := For[T]().Decode(b)
	return err
}
