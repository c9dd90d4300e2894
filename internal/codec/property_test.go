package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPropertyGeneratedTypes builds random types (nested structs,
// pointers, slices, maps, arrays, time.Time, named and self-encoding
// types, and now and then a part that cannot travel) and random values of
// them. Every type must either be refused by Check with a *TypeError, or
// round-trip every value exactly, encoding the same bytes again after the
// round trip: never a silent difference.
func TestPropertyGeneratedTypes(t *testing.T) {
	r := newRand(81)
	types, refused := 0, 0
	for range 600 {
		typ, bad := genType(r, 3)
		err := Check(typ)
		if bad {
			var te *TypeError
			if !errors.As(err, &te) {
				t.Fatalf("Check(%v) = %v, want a *TypeError", typ, err)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("Check(%v) = %v, want nil", typ, err)
		}
		types++
		x, err := newExact(typ, false)
		if err != nil {
			t.Fatal(err)
		}
		for range 15 {
			v := reflect.New(typ).Elem()
			genValue(r, v, 3)
			b := x.append(nil, v)
			got := reflect.New(typ).Elem()
			if err := x.decode(b, got); err != nil {
				t.Fatalf("%v: decoding %x (from %#v): %v", typ, b, v, err)
			}
			if !same(got, v) {
				t.Fatalf("%v: %#v came back as %#v", typ, v, got)
			}
			if again := x.append(nil, got); !bytes.Equal(again, b) {
				t.Fatalf("%v: %#v encodes as %x, its round trip as %x", typ, v, b, again)
			}
			if again := x.append(nil, v); !bytes.Equal(again, b) {
				t.Fatalf("%v: %#v encodes as %x, then as %x", typ, v, b, again)
			}
		}
	}
	t.Logf("%d exact types, %d refused", types, refused)
	if types < 300 || refused < 50 {
		t.Fatalf("the generator made %d exact types and %d refused ones; want at least 300 and 50", types, refused)
	}
}

var (
	goodLeaves = []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](),
		reflect.TypeFor[int32](), reflect.TypeFor[int64](), reflect.TypeFor[uint](), reflect.TypeFor[uint8](),
		reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[float32](),
		reflect.TypeFor[float64](), reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[time.Time](),
		reflect.TypeFor[myString](), reflect.TypeFor[myInt64](), reflect.TypeFor[myF32](), reflect.TypeFor[myByteS](),
		reflect.TypeFor[time.Duration](), reflect.TypeFor[stamp](), reflect.TypeFor[upper](), reflect.TypeFor[point](),
		reflect.TypeFor[outer](), reflect.TypeFor[[3]myByte](), reflect.TypeFor[padded](), reflect.TypeFor[onlyTime](),
		reflect.TypeFor[note](),
	}
	badLeaves = []reflect.Type{
		reflect.TypeFor[any](), reflect.TypeFor[func() int](), reflect.TypeFor[chan int](), reflect.TypeFor[complex64](),
		reflect.TypeFor[uintptr](), reflect.TypeFor[row](), reflect.TypeFor[halfText](), reflect.TypeFor[halfOwn](),
		reflect.TypeFor[dropped](), reflect.TypeFor[error](),
	}
	keyTypes = []reflect.Type{
		reflect.TypeFor[string](), reflect.TypeFor[int64](), reflect.TypeFor[int8](), reflect.TypeFor[float64](),
		reflect.TypeFor[float32](), reflect.TypeFor[bool](), reflect.TypeFor[[2]int8](), reflect.TypeFor[myString](),
		reflect.TypeFor[struct {
			A int8
			B string
		}](), reflect.TypeFor[time.Duration](),
	}
)

// genType returns a random type and whether Check must refuse it.
func genType(r interface{ IntN(int) int }, depth int) (reflect.Type, bool) {
	if depth == 0 || r.IntN(3) == 0 {
		if r.IntN(25) == 0 {
			return badLeaves[r.IntN(len(badLeaves))], true
		}
		return goodLeaves[r.IntN(len(goodLeaves))], false
	}
	switch r.IntN(6) {
	case 0:
		e, bad := genType(r, depth-1)
		return reflect.SliceOf(e), bad
	case 1:
		e, bad := genType(r, depth-1)
		n := r.IntN(4)
		return reflect.ArrayOf(n, e), bad && n > 0 // an empty array holds nothing to lose
	case 2:
		e, bad := genType(r, depth-1)
		if r.IntN(20) == 0 {
			return reflect.MapOf(reflect.TypeFor[*int](), e), true
		}
		return reflect.MapOf(keyTypes[r.IntN(len(keyTypes))], e), bad
	case 3:
		e, bad := genType(r, depth-1)
		switch e.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			return reflect.PointerTo(e), true // a pointer to a nil one would come back nil
		case reflect.Interface:
			return reflect.PointerTo(e), true
		}
		return reflect.PointerTo(e), bad
	}
	n := 1 + r.IntN(4)
	fields := make([]reflect.StructField, n)
	anyBad := false
	for i := range fields {
		ft, bad := genType(r, depth-1)
		anyBad = anyBad || bad
		fields[i] = reflect.StructField{Name: fmt.Sprint("F", i), Type: ft}
	}
	return reflect.StructOf(fields), anyBad
}

// genValue fills v, which is settable and zero, with a random value.
func genValue(r interface {
	IntN(int) int
	Uint64() uint64
	Int64N(int64) int64
	NormFloat64() float64
	Float64() float64
}, v reflect.Value, depth int) {
	t := v.Type()
	switch t {
	case timeType:
		at := time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9))
		locs := []*time.Location{time.UTC, time.Local, time.FixedZone("ABC", 3600*(r.IntN(27)-12)), nil}
		if loc := locs[r.IntN(len(locs))]; loc != nil {
			v.Set(reflect.ValueOf(at.In(loc)))
		}
		return
	case reflect.TypeFor[upper]():
		// upper's methods round-trip lower-case text only; that is theirs to keep.
		v.SetString(strings.ToLower(fmt.Sprint("u", r.Uint64())))
		return
	case reflect.TypeFor[stamp]():
		v.Set(reflect.ValueOf(stamp{int64(r.Uint64()), r.Int64N(1e9)}))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()) >> r.IntN(64))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> r.IntN(65))
	case reflect.Float32:
		f := float32(genFloat(r))
		if r.IntN(10) == 0 {
			f = math.Float32frombits(0x7f800001 | uint32(r.Uint64())&0x3fffff) // a signalling NaN
		}
		*(*float32)(v.Addr().UnsafePointer()) = f
	case reflect.Float64:
		v.SetFloat(genFloat(r))
	case reflect.String:
		b := make([]byte, []int{0, 3, 31, 32, 300}[r.IntN(5)])
		for i := range b {
			b[i] = byte(r.Uint64())
		}
		v.SetString(string(b))
	case reflect.Slice:
		if r.IntN(6) == 0 {
			return // nil
		}
		n := r.IntN(5)
		if depth == 0 {
			n = 0
		}
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			genValue(r, s.Index(i), depth-1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			genValue(r, v.Index(i), depth-1)
		}
	case reflect.Map:
		if r.IntN(6) == 0 {
			return
		}
		m := reflect.MakeMap(t)
		n := r.IntN(7)
		if depth == 0 {
			n = 0
		}
		for range n {
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			genValue(r, k, depth-1)
			genValue(r, e, depth-1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			return
		}
		p := reflect.New(t.Elem())
		genValue(r, p.Elem(), depth-1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				genValue(r, f, depth)
			} else if t.Field(i).Anonymous {
				for j := range f.NumField() {
					genValue(r, f.Field(j), depth)
				}
			}
		}
	default:
		panic("genValue: unexpected kind " + t.Kind().String())
	}
}

func genFloat(r interface {
	IntN(int) int
	Uint64() uint64
	NormFloat64() float64
	Float64() float64
}) float64 {
	switch r.IntN(6) {
	case 0:
		return math.Float64frombits(r.Uint64()) // NaNs with payloads, subnormals
	case 1:
		return []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN()}[r.IntN(5)]
	case 2:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	}
	return r.Float64()
}
