package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Types for the checks: what users write, good and bad.
type (
	stats struct{ count int }
	row   struct {
		Name  string
		Stats stats
	}
	// stamp has unexported fields but encodes itself through
	// MarshalBinary/UnmarshalBinary.
	stamp struct{ sec, nsec int64 }
	// note inherits time.Time's methods, which would drop Text were they
	// used.
	note struct {
		time.Time
		Text string
	}
	onlyTime struct{ time.Time }
	// halfOwn declares MarshalBinary and inherits UnmarshalBinary.
	halfOwn struct {
		time.Time
		Extra int
	}
	halfText int
	crossed  int
	inner    struct{ A, B int }
	// outer embeds an unexported struct, whose exported fields travel.
	outer struct {
		inner
		C int
	}
	padded struct {
		_      [4]byte
		marker struct{}
		Value  int
	}
	dropped struct {
		Keep  int
		Cache map[string]int `msgpack:"-"`
	}
	renamed struct {
		A int `msgpack:"x"`
		B int `msgpack:"x"`
	}
	tree struct {
		Label    string
		Children []tree
		Parent   *tree `msgpack:"up"`
	}
	withAny  struct{ A any }
	withFunc struct{ F func() int }
)

func (s stamp) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(s.sec)), uint64(s.nsec)), nil
}

func (s *stamp) UnmarshalBinary(b []byte) error {
	if len(b) != 16 {
		return errors.New("stamp: want 16 bytes")
	}
	s.sec, s.nsec = int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
	return nil
}

func (halfText) MarshalText() ([]byte, error)  { return []byte("x"), nil }
func (crossed) MarshalBinary() ([]byte, error) { return []byte{1}, nil }
func (halfOwn) MarshalBinary() ([]byte, error) { return []byte{1}, nil }
func (*crossed) UnmarshalText([]byte) error    { return nil }

// TestCheckNamesTheProblem holds every refusal to a message that names
// the part of the type and says what to do.
func TestCheckNamesTheProblem(t *testing.T) {
	for _, tc := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[row](), "field Stats.count of codec.row is unexported and would be lost; export it, or give codec.stats methods"},
		{reflect.TypeFor[[]row](), "field [i].Stats.count of []codec.row is unexported"},
		{reflect.TypeFor[map[string]*row](), "field [k].Stats.count of map[string]*codec.row is unexported"},
		{reflect.TypeFor[any](), "type interface {} is an interface type: a decoded value would not keep its dynamic type"},
		{reflect.TypeFor[withAny](), "field A of codec.withAny is an interface type (interface {})"},
		{reflect.TypeFor[withFunc](), "field F of codec.withFunc is a func (func() int), which cannot be encoded"},
		{reflect.TypeFor[[]chan int](), "element [i] of []chan int is a chan"},
		{reflect.TypeFor[unsafe.Pointer](), "type unsafe.Pointer is an unsafe.Pointer, which cannot be encoded"},
		{reflect.TypeFor[uintptr](), "type uintptr is a uintptr"},
		{reflect.TypeFor[complex128](), "type complex128 is a complex number"},
		{reflect.TypeFor[map[string]*[]int](), "element [k] of map[string]*[]int is a pointer to a slice (*[]int): a pointer to a nil slice would come back as a nil pointer"},
		{reflect.TypeFor[map[*int]string](), "map key [key] of map[*int]string is a pointer (*int): pointer keys compare by address"},
		{reflect.TypeFor[map[struct{ P *int }]string](), "map key [key] of map[struct { P *int }]string has type struct { P *int }, whose P is a pointer (*int)"},
		{reflect.TypeFor[dropped](), `field Cache of codec.dropped has the tag msgpack:"-" and would be lost`},
		{reflect.TypeFor[renamed](), `field B of codec.renamed encodes under the name "x", as field A does`},
		{reflect.TypeFor[halfText](), "type codec.halfText has MarshalText but no UnmarshalText"},
		{reflect.TypeFor[crossed](), "type codec.crossed encodes with MarshalBinary but decodes with UnmarshalText"},
		{reflect.TypeFor[halfOwn](), "type codec.halfOwn declares MarshalBinary but inherits UnmarshalBinary from an embedded field"},
	} {
		err := Check(tc.t)
		var te *TypeError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%v) = %v\n\twant a *TypeError containing %q", tc.t, err, tc.want)
		}
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[stamp](), reflect.TypeFor[onlyTime](), reflect.TypeFor[note](), reflect.TypeFor[outer](), reflect.TypeFor[padded](),
		reflect.TypeFor[tree](), reflect.TypeFor[fuzzRecord](), reflect.TypeFor[time.Time](), reflect.TypeFor[upper](),
		reflect.TypeFor[celsius](), reflect.TypeFor[map[[2]float64][]*point](), reflect.TypeFor[*[3]myByte](),
	} {
		if err := Check(typ); err != nil {
			t.Errorf("Check(%v) = %v, want nil", typ, err)
		}
	}
	if err := CheckKey(reflect.TypeFor[struct{ P *int }]()); err == nil || !strings.Contains(err.Error(), "field P of struct { P *int } has type *int, a pointer") {
		t.Errorf("CheckKey(struct{ P *int }) = %v", err)
	}
}

// TestExactRoundTripsWhatCheckAccepts: an unexported field that a method
// pair encodes, an embedded unexported struct and skipped padding all
// come back as they were.
func TestExactRoundTripsWhatCheckAccepts(t *testing.T) {
	exactly(t, stamp{sec: 3, nsec: 7})
	exactly(t, outer{inner{1, 2}, 3})
	exactly(t, padded{Value: 5})
	exactly(t, onlyTime{time.Unix(1e9, 5).In(time.FixedZone("ABC", 3600))})
	exactly(t, note{time.Unix(1e9, 5).UTC(), "kept"})
	leaf := &tree{Label: "up"}
	exactly(t, tree{Label: "root", Children: []tree{{Label: "a"}, {Label: "b", Children: []tree{}}}, Parent: leaf})
	exactly(t, []*point{nil, {1, 2, "p"}})
	exactly(t, map[[2]float64]string{{math.Copysign(0, -1), 1}: "negative zero", {0, 1}: "zero"})
}

// exactly round-trips v through For and fails unless it comes back equal,
// with the same bytes when encoded again.
func exactly[T any](t *testing.T, v T) {
	t.Helper()
	c := For[T]()
	b := c.Append(nil, v)
	got, err := c.Decode(b)
	if err != nil || !same(reflect.ValueOf(got), reflect.ValueOf(v)) {
		t.Fatalf("%T: Decode(Append(%+v)) = %+v, %v", v, v, got, err)
	}
	if again := c.Append(nil, got); !bytes.Equal(again, b) {
		t.Fatalf("%T: %+v encodes as %x, its decoded copy as %x", v, v, b, again)
	}
}

// TestExactMapsAreCanonical: a map encodes to the same bytes however it
// was built and however often it is encoded, at any depth.
func TestExactMapsAreCanonical(t *testing.T) {
	type visits struct {
		Pages map[string]int
		ByDay map[int]map[string]float64
	}
	build := func(reverse bool) visits {
		v := visits{Pages: map[string]int{}, ByDay: map[int]map[string]float64{}}
		for i := range 64 {
			if reverse {
				i = 63 - i
			}
			v.Pages[fmt.Sprint("/page/", i)] = i
			day := v.ByDay[i%5]
			if day == nil {
				day = map[string]float64{}
				v.ByDay[i%5] = day
			}
			day[fmt.Sprint("k", i)] = float64(i) / 3
		}
		return v
	}
	c := For[visits]()
	first := c.Append(nil, build(false))
	for i := range 20 {
		if b := c.Append(nil, build(i%2 == 1)); !bytes.Equal(b, first) {
			t.Fatalf("encoding %d of equal maps differs from the first", i)
		}
	}
	mc := For[map[string]int]()
	m := build(false).Pages
	firstMap := mc.Append(nil, m)
	for range 20 {
		if b := mc.Append(nil, m); !bytes.Equal(b, firstMap) {
			t.Fatal("map[string]int encodes differently from run to run")
		}
	}
}

// TestKeyForCanonicalFloats: keys Go considers equal (-0 and +0) have one
// encoding, and so do all NaNs; decoding is For's.
func TestKeyForCanonicalFloats(t *testing.T) {
	negZero := math.Copysign(0, -1)
	otherNaN := math.Float64frombits(0x7ff8000000000abc)
	kc, differs := KeyFor[float64]()
	if !differs {
		t.Fatal("KeyFor[float64] says its encoding is For's")
	}
	if a, b := kc.Append(nil, negZero), kc.Append(nil, 0); !bytes.Equal(a, b) {
		t.Errorf("-0 encodes as %x, +0 as %x", a, b)
	}
	if a, b := kc.Append(nil, math.NaN()), kc.Append(nil, otherNaN); !bytes.Equal(a, b) {
		t.Errorf("NaNs encode as %x and %x", a, b)
	}
	type key struct {
		Name  string
		Score float32
		Pos   [2]float64
	}
	sc, differs := KeyFor[key]()
	if !differs {
		t.Fatal("KeyFor[key] says its encoding is For's")
	}
	a := sc.Append(nil, key{"a", float32(negZero), [2]float64{negZero, otherNaN}})
	b := sc.Append(nil, key{"a", 0, [2]float64{0, math.NaN()}})
	if !bytes.Equal(a, b) {
		t.Errorf("equal struct keys encode as %x and %x", a, b)
	}
	if got, err := sc.Decode(a); err != nil || got.Name != "a" || math.Signbit(got.Pos[0]) || !math.IsNaN(got.Pos[1]) {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	if _, differs := KeyFor[string](); differs {
		t.Error("KeyFor[string] differs from For")
	}
	// For keeps every bit of a value.
	if got, _ := For[[2]float64]().Decode(For[[2]float64]().Append(nil, [2]float64{negZero, otherNaN})); !math.Signbit(got[0]) || math.Float64bits(got[1]) != 0x7ff8000000000abc {
		t.Errorf("For lost the bits of -0 or a NaN payload: %v", got)
	}
}

// TestTimeKeepsItsLocation: UTC and Local times come back ==, other
// locations as the same instant in a location of the same name.
func TestTimeKeepsItsLocation(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	c := For[time.Time]()
	for _, tm := range []time.Time{at.UTC(), at.Local(), {}, at.In(time.FixedZone("XYZ", -(3*3600 + 1800))), at.Add(1 << 62).UTC()} {
		got, err := c.Decode(c.Append(nil, tm))
		if err != nil {
			t.Fatalf("%v: %v", tm, err)
		}
		if tm.Location() == time.UTC || tm.Location() == time.Local {
			if got != tm {
				t.Errorf("%v (%s) came back as %v (%s), not ==", tm, tm.Location(), got, got.Location())
			}
		}
		if !sameTime(got, tm) {
			t.Errorf("%v came back as %v", tm, got)
		}
	}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		tm := at.In(ny)
		got, err := c.Decode(c.Append(nil, tm))
		if err != nil || got.Location().String() != "America/New_York" || !sameTime(got, tm) {
			t.Errorf("%v came back as %v in %v, %v", tm, got, got.Location(), err)
		}
		// Six months on, the zone must still follow New York's rules.
		if later := got.AddDate(0, 6, 0); later.Format(time.RFC3339) != tm.AddDate(0, 6, 0).Format(time.RFC3339) {
			t.Errorf("six months after the decoded time is %v, want %v", later, tm.AddDate(0, 6, 0))
		}
	}
	// Monotonic readings are dropped, as by every encoding.
	now := time.Now()
	if got, err := c.Decode(c.Append(nil, now)); err != nil || got != now.Round(0) {
		t.Errorf("time.Now() came back as %v, %v; want %v", got, err, now.Round(0))
	}
}

// TestEncodeCycleIsAnError: a cycle of pointers is an encoding error, not
// a stack overflow.
func TestEncodeCycleIsAnError(t *testing.T) {
	type link struct {
		Next *link
		N    int
	}
	l := &link{N: 1}
	l.Next = l
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrEncode) || !strings.Contains(err.Error(), "cycle") {
			t.Fatalf("panic value %v, want ErrEncode naming a cycle", err)
		}
	}()
	For[link]().Append(nil, *l)
	t.Fatal("Append of a cycle returned")
}

// TestDeepListsUpToTheDecodeLimit: what Append writes, Decode reads; a
// list nested deeper than Decode accepts is an encoding error.
func TestDeepListsUpToTheDecodeLimit(t *testing.T) {
	type link struct {
		Next *link
		N    int
	}
	list := func(n int) *link {
		var l *link
		for i := range n {
			l = &link{Next: l, N: i}
		}
		return l
	}
	exactly(t, list(maxDepth))
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrEncode) {
			t.Fatalf("panic value %v, want ErrEncode", err)
		}
	}()
	For[*link]().Append(nil, list(maxDepth+1))
	t.Fatal("Append of a list deeper than Decode accepts returned")
}

// same compares values as the exact codec promises to keep them: floats
// by bits (NaN payloads included), times by instant, zone and location
// name, nil-ness of pointers, slices and maps included.
func same(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return sameTime(a.Interface().(time.Time), b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float()) || a.Float() != a.Float() && b.Float() != b.Float()
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		fallthrough
	case reflect.Array:
		for i := range a.Len() {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			if hasNaN(it.Key()) {
				continue // not found by lookup; the count and the bytes check it
			}
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !same(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).Name == "_" {
				continue
			}
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	}
	panic("same: unexpected kind " + a.Kind().String())
}

func hasNaN(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return v.Float() != v.Float()
	case reflect.Array:
		for i := range v.Len() {
			if hasNaN(v.Index(i)) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if hasNaN(v.Field(i)) {
				return true
			}
		}
	}
	return false
}

func sameTime(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return a.Equal(b) && an == bn && ao == bo && a.Location().String() == b.Location().String() &&
		a.Format(time.RFC3339Nano+" MST") == b.Format(time.RFC3339Nano+" MST")
}
