package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type point struct {
	X, Y  int
	Label string
}

type record struct {
	ID     int64
	Name   string
	Tags   []string
	Attrs  map[string]string
	Points []point
	Blob   []byte
	Ptr    *point
	Any    any
}

func randRecord(r *rand.Rand) record {
	rec := record{ID: randInt(r), Name: fmt.Sprint("rec-", r.IntN(1000)), Blob: []byte(fmt.Sprint(r.Uint64()))}
	for range r.IntN(4) {
		rec.Tags = append(rec.Tags, fmt.Sprint("t", r.IntN(100)))
	}
	if r.IntN(2) == 0 {
		rec.Attrs = map[string]string{}
		for range r.IntN(5) {
			rec.Attrs[fmt.Sprint("k", r.IntN(100))] = fmt.Sprint("v", r.IntN(100))
		}
	}
	for range r.IntN(3) {
		rec.Points = append(rec.Points, point{int(randInt(r)), int(randInt(r)), "p"})
	}
	if r.IntN(2) == 0 {
		rec.Ptr = &point{1, 2, "ptr"}
	}
	if r.IntN(2) == 0 {
		rec.Any = map[string]any{"n": int8(3), "s": "x", "l": []any{true, nil, "y"}}
	}
	return rec
}

func roundTrip[T any](t *testing.T, v T) []byte {
	t.Helper()
	c := For[T]()
	b := c.Append([]byte("prefix"), v)
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatalf("%T: Append overwrote dst", v)
	}
	b = b[len("prefix"):]
	got, err := c.Decode(b)
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("%T: Decode(Append(%+v)) = %+v, %v", v, v, got, err)
	}
	var lib T
	if err := msgpack.Unmarshal(b, &lib); err != nil || !reflect.DeepEqual(lib, v) {
		t.Fatalf("%T: msgpack.Unmarshal(Append(%+v)) = %+v, %v", v, v, lib, err)
	}
	return b
}

func TestFallbackMatchesLibrary(t *testing.T) {
	r := newRand(10)
	for range 50 {
		p := point{int(randInt(r)), int(randInt(r)), fmt.Sprint(r.IntN(10))}
		ps := []point{p, {}, {-1, 1, "z"}}
		for _, v := range []any{p, ps} {
			var b []byte
			switch v := v.(type) {
			case point:
				b = roundTrip(t, v)
			case []point:
				b = roundTrip(t, v)
			}
			if lib, _ := msgpack.Marshal(v); !bytes.Equal(b, lib) {
				t.Fatalf("%T: Append = %x, msgpack.Marshal = %x", v, b, lib)
			}
		}
		roundTrip(t, randRecord(r))
		roundTrip(t, map[string]int{"a": 1, "b": -2, "c": 300})
		roundTrip(t, map[int]string{1: "a", -7: "b"})
		roundTrip(t, &p)
		roundTrip(t, [4]byte{1, 2, 3, 4})
	}
	when := time.Unix(1700000000, 123456789).UTC()
	c := For[time.Time]()
	if b, lib := c.Append(nil, when), must(msgpack.Marshal(when)); !bytes.Equal(b, lib) {
		t.Fatalf("time.Time: Append = %x, msgpack.Marshal = %x", b, lib)
	}
	if got, err := c.Decode(c.Append(nil, when)); err != nil || !got.Equal(when) {
		t.Fatalf("time.Time: Decode = %v, %v", got, err)
	}
	roundTrip(t, (*point)(nil))
	roundTrip(t, map[string]int(nil))
	roundTrip(t, []point(nil))
	roundTrip[any](t, "interface holding a string")
}

func TestFallbackSortsStringMaps(t *testing.T) {
	m := map[string]string{}
	for i := range 100 {
		m[fmt.Sprint("key", i)] = fmt.Sprint(i)
	}
	c := For[map[string]string]()
	first := c.Append(nil, m)
	for range 20 {
		if again := c.Append(nil, m); !bytes.Equal(again, first) {
			t.Fatal("map[string]string encodes differently from run to run")
		}
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(m); err != nil || !bytes.Equal(buf.Bytes(), first) {
		t.Fatalf("Append differs from the library's sorted encoding: %v", err)
	}
}

// exploding decodes by panicking, as a buggy user type might.
type exploding struct{}

func (*exploding) DecodeMsgpack(*msgpack.Decoder) error { panic("boom") }

func TestFallbackDecodeErrors(t *testing.T) {
	rc := For[record]()
	valid := rc.Append(nil, randRecord(newRand(11)))
	for n := range len(valid) {
		if _, err := rc.Decode(valid[:n]); !errors.Is(err, ErrDecode) {
			t.Fatalf("Decode of a %d-byte prefix of %d = %v, want ErrDecode", n, len(valid), err)
		}
	}
	deep := append(bytes.Repeat([]byte{codeFixArray | 1}, maxDepth+1), 1)
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
	}{
		{"trailing", dec[record], append(append([]byte{}, valid...), 0)},
		{"string into struct", dec[point], appendString(nil, "nope")},
		{"int into map", dec[map[string]int], appendInt64(nil, 1)},
		{"never-used code", dec[point], []byte{codeNeverUsed}},
		{"bin claims 4 GiB", dec[record], []byte{codeFixMap | 1, codeFixStr | 4, 'B', 'l', 'o', 'b', codeBin32, 0xff, 0xff, 0xff, 0xff, 0}},
		{"array claims 4 G elements", dec[[]point], []byte{codeArray32, 0xff, 0xff, 0xff, 0xff, 0x80}},
		{"map claims 4 G pairs", dec[map[string]int], []byte{codeMap32, 0xff, 0xff, 0xff, 0xff, 0xa0, 1}},
		{"nesting too deep", dec[any], deep},
		{"panicking DecodeMsgpack", dec[exploding], []byte{codeTrue}},
		{"empty", dec[point], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.in); !errors.Is(err, ErrDecode) {
				t.Fatalf("Decode(%x) = %v, want an error wrapping ErrDecode", tt.in, err)
			}
		})
	}
	// Just inside the limit still decodes.
	ok := append(bytes.Repeat([]byte{codeFixArray | 1}, maxDepth), 1)
	if _, err := For[any]().Decode(ok); err != nil {
		t.Fatalf("nesting of exactly maxDepth: %v", err)
	}
}

func TestFallbackAppendPanicsOnUnencodable(t *testing.T) {
	for name, f := range map[string]func(){
		"chan":       func() { For[chan int]().Append(nil, make(chan int)) },
		"complex128": func() { For[complex128]().Append(nil, 1i) },
		"func field": func() { For[struct{ F func() }]().Append(nil, struct{ F func() }{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				err, _ := recover().(error)
				if !errors.Is(err, ErrEncode) {
					t.Fatalf("panic value %v, want an error wrapping ErrEncode", err)
				}
			}()
			f()
			t.Fatal("Append did not panic")
		})
	}
}

func TestFallbackConcurrent(t *testing.T) {
	c := For[record]()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := newRand(uint64(100 + g))
			var buf []byte
			for range 200 {
				v := randRecord(r)
				buf = c.Append(buf[:0], v)
				got, err := c.Decode(buf)
				if err != nil || !reflect.DeepEqual(got, v) {
					t.Errorf("round trip: %+v, %v; want %+v", got, err, v)
					return
				}
			}
		})
	}
	wg.Wait()
}

// randValue builds a random msgpack-encodable value nested up to depth.
func randValue(r *rand.Rand, depth int) any {
	n := 11
	if depth == 0 {
		n = 9
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return randInt(r)
	case 3:
		return randUint(r)
	case 4:
		return float32(randFloat(r))
	case 5:
		return randFloat(r)
	case 6:
		return strings.Repeat("s", []int{0, 5, 31, 32, 300, 70000}[r.IntN(6)])
	case 7:
		return bytes.Repeat([]byte{7}, []int{0, 5, 300, 70000}[r.IntN(4)])
	case 8:
		return time.Unix(r.Int64N(1<<40), r.Int64N(1e9)*int64(r.IntN(2)))
	case 9:
		l := make([]any, []int{0, 3, 17}[r.IntN(3)])
		for i := range l {
			l[i] = randValue(r, depth-1)
		}
		return l
	}
	m := map[string]any{}
	for i := range []int{0, 3, 17}[r.IntN(3)] {
		m[fmt.Sprint(i)] = randValue(r, depth-1)
	}
	return m
}

func TestValidateAgainstLibraryEncodings(t *testing.T) {
	r := newRand(12)
	for range 300 {
		b, err := msgpack.Marshal(randValue(r, 4))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(b, "any"); err != nil {
			t.Fatalf("validate(%x): %v", b, err)
		}
		if err := validate(append(b, 0), "any"); !errors.Is(err, ErrDecode) {
			t.Fatalf("validate with a trailing byte = %v", err)
		}
		for _, n := range []int{0, len(b) / 2, len(b) - 1} {
			if err := validate(b[:n], "any"); !errors.Is(err, ErrDecode) {
				t.Fatalf("validate of %d-byte prefix of %x = %v", n, b, err)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
