package codec

import (
	"errors"
	"reflect"
	"unsafe"
)

// ErrDecode is wrapped by every error that Decode and DecodeOrdered return.
var ErrDecode = errors.New("codec: cannot decode")

// ErrEncode is wrapped by the error value that Append panics with when the
// msgpack library cannot encode a value (a chan, a func, or a failing
// EncodeMsgpack method). Append has no error result because every fast path
// is infallible; the task runner turns the panic into a task failure.
var ErrEncode = errors.New("codec: cannot encode")

// Codec encodes and decodes values of T; each value is one complete msgpack
// value. Both functions are safe for concurrent use.
type Codec[T any] struct {
	// Append appends the msgpack encoding of v to dst and returns the
	// extended slice.
	Append func(dst []byte, v T) []byte
	// Decode decodes exactly one value occupying all of b. Trailing bytes,
	// truncation or a wrong msgpack type is an error wrapping ErrDecode.
	// The result never aliases b.
	Decode func(b []byte) (T, error)
}

// For returns the Codec for T: a hand-written fast path when T's kind has
// one; else, when Check accepts T, a codec compiled for T that round-trips
// every value exactly and canonically; else msgpack reflection, which may
// not (see Check). Call it once per type and keep the result; the pools
// live in the returned Codec.
func For[T any]() Codec[T] {
	t := reflect.TypeFor[T]()
	if c, ok := fastFor[T](t); ok {
		return c
	}
	if c, err := exactFor[T](t, false); err == nil {
		return c
	}
	return fallbackFor[T](t)
}

// KeyFor returns the Codec for keys of type K, which by-key operations
// group and partition by their encoding: For's, except that every float in
// K encodes canonically, -0 as +0 and every NaN as one NaN, so that keys Go
// considers equal have equal bytes and all NaNs are one key. Decoding is
// For's. differs reports whether the encoding can differ from For's, which
// it does only when K holds floats outside parts that encode themselves.
func KeyFor[K any]() (c Codec[K], differs bool) {
	t := reflect.TypeFor[K]()
	if !holdsFloats(t, map[reflect.Type]bool{}) {
		return For[K](), false
	}
	switch t.Kind() {
	case reflect.Float32:
		f := retype[K](Codec[float32]{func(dst []byte, v float32) []byte { return appendFloat32(dst, canonical32(v)) }, decodeFloat32})
		return f, true
	case reflect.Float64:
		f := retype[K](Codec[float64]{func(dst []byte, v float64) []byte { return appendFloat64(dst, canonical64(v)) }, decodeFloat64})
		return f, true
	}
	if c, err := exactFor[K](t, true); err == nil {
		return c, true
	}
	return For[K](), false
}

// holdsFloats reports whether the exact codec of t encodes a float.
func holdsFloats(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || t == timeType || t.Kind() != reflect.Pointer && selfEncoding(t) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsFloats(t.Elem(), seen)
	case reflect.Map:
		return holdsFloats(t.Key(), seen) || holdsFloats(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsFloats(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// fastFor picks the fast path by kind, so that named types such as
// time.Duration get it too, unless T customises its encoding.
func fastFor[T any](t reflect.Type) (Codec[T], bool) {
	if customised(t) {
		return Codec[T]{}, false
	}
	switch t.Kind() {
	case reflect.String:
		return retype[T](Codec[string]{appendString, decodeString}), true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return retype[T](Codec[[]byte]{appendBytes, decodeBytes}), true
		}
	case reflect.Bool:
		return retype[T](Codec[bool]{appendBool, decodeBool}), true
	case reflect.Int:
		return retype[T](Codec[int]{appendInt, decodeInt}), true
	case reflect.Int8:
		return retype[T](Codec[int8]{appendInt8, decodeInt8}), true
	case reflect.Int16:
		return retype[T](Codec[int16]{appendInt16, decodeInt16}), true
	case reflect.Int32:
		return retype[T](Codec[int32]{appendInt32, decodeInt32}), true
	case reflect.Int64:
		return retype[T](Codec[int64]{appendInt64, decodeInt64}), true
	case reflect.Uint:
		return retype[T](Codec[uint]{appendUint, decodeUint}), true
	case reflect.Uint8:
		return retype[T](Codec[uint8]{appendUint8, decodeUint8}), true
	case reflect.Uint16:
		return retype[T](Codec[uint16]{appendUint16, decodeUint16}), true
	case reflect.Uint32:
		return retype[T](Codec[uint32]{appendUint32, decodeUint32}), true
	case reflect.Uint64:
		return retype[T](Codec[uint64]{appendUint64, decodeUint64}), true
	case reflect.Float32:
		return retype[T](Codec[float32]{appendFloat32, decodeFloat32}), true
	case reflect.Float64:
		return retype[T](Codec[float64]{appendFloat64, decodeFloat64}), true
	}
	return Codec[T]{}, false
}

// customised reports whether msgpack would encode or decode t through a
// method rather than by kind. Extensions registered with
// msgpack.RegisterExt are not visible from outside the library; a named
// basic type that needs one must also get a method that methodOf sees.
func customised(t reflect.Type) bool {
	return methodOf(t, &encoderIfaces) != viaKind || methodOf(t, &decoderIfaces) != viaKind
}

// retype adapts the codec of a basic type B to T, whose underlying type has
// the same kind and therefore the same memory layout.
func retype[T, B any](c Codec[B]) Codec[T] {
	if same, ok := any(c).(Codec[T]); ok {
		return same
	}
	if reflect.TypeFor[T]().Size() != reflect.TypeFor[B]().Size() {
		panic("codec: retype between types of different size")
	}
	return Codec[T]{
		Append: func(dst []byte, v T) []byte {
			return c.Append(dst, *(*B)(unsafe.Pointer(&v)))
		},
		Decode: func(b []byte) (T, error) {
			v, err := c.Decode(b)
			return *(*T)(unsafe.Pointer(&v)), err
		},
	}
}
