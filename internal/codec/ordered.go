package codec

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// AppendOrdered appends an encoding of k whose byte order is k's order:
// bytes.Compare(AppendOrdered(nil, a), AppendOrdered(nil, b)) has the sign
// of cmp.Compare(a, b), and the encodings are equal exactly when
// cmp.Compare says the keys are. Integers take 8 bytes (big-endian, sign
// bit flipped for signed types), floats 8 bytes of transformed IEEE 754
// bits (float32 is widened exactly; -0 encodes as +0; every NaN encodes as
// eight zero bytes, first, as cmp.Compare orders it), and strings their
// raw bytes with no terminator, so the key must be a whole frame.
func AppendOrdered[K cmp.Ordered](dst []byte, k K) []byte {
	return appendOrdered(dst, k, reflect.TypeFor[K]().Kind())
}

// DecodeOrdered decodes what AppendOrdered wrote; b must be exactly one key.
// A wrong length, an integer out of K's range, a float64 that is not a
// float32, or a non-canonical -0 or NaN is an error wrapping ErrDecode.
func DecodeOrdered[K cmp.Ordered](b []byte) (K, error) {
	return decodeOrdered[K](b, reflect.TypeFor[K]().Kind())
}

// OrderedFor returns AppendOrdered and DecodeOrdered for K with K's kind
// resolved once, for callers that encode many keys of one type.
func OrderedFor[K cmp.Ordered]() (appendKey func(dst []byte, k K) []byte, decodeKey func(b []byte) (K, error)) {
	kind := reflect.TypeFor[K]().Kind()
	if kind == reflect.String {
		// Strings need no transformation; skip the switch.
		return func(dst []byte, k K) []byte {
				return append(dst, *(*string)(unsafe.Pointer(&k))...)
			}, func(b []byte) (K, error) {
				var k K
				*(*string)(unsafe.Pointer(&k)) = string(b)
				return k, nil
			}
	}
	return func(dst []byte, k K) []byte { return appendOrdered(dst, k, kind) },
		func(b []byte) (K, error) { return decodeOrdered[K](b, kind) }
}

// appendOrdered reads k through a pointer of its underlying type, which the
// kind names exactly; cmp.Ordered admits no other kinds.
func appendOrdered[K cmp.Ordered](dst []byte, k K, kind reflect.Kind) []byte {
	p := unsafe.Pointer(&k)
	switch kind {
	case reflect.String:
		return append(dst, *(*string)(p)...)
	case reflect.Int:
		return appendOrderedInt(dst, int64(*(*int)(p)))
	case reflect.Int8:
		return appendOrderedInt(dst, int64(*(*int8)(p)))
	case reflect.Int16:
		return appendOrderedInt(dst, int64(*(*int16)(p)))
	case reflect.Int32:
		return appendOrderedInt(dst, int64(*(*int32)(p)))
	case reflect.Int64:
		return appendOrderedInt(dst, *(*int64)(p))
	case reflect.Uint:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uint)(p)))
	case reflect.Uint8:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uint8)(p)))
	case reflect.Uint16:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uint16)(p)))
	case reflect.Uint32:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uint32)(p)))
	case reflect.Uint64:
		return binary.BigEndian.AppendUint64(dst, *(*uint64)(p))
	case reflect.Uintptr:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uintptr)(p)))
	case reflect.Float32:
		return appendOrderedFloat(dst, float64(*(*float32)(p)))
	case reflect.Float64:
		return appendOrderedFloat(dst, *(*float64)(p))
	}
	panic("codec: cmp.Ordered type of unexpected kind " + kind.String())
}

func decodeOrdered[K cmp.Ordered](b []byte, kind reflect.Kind) (K, error) {
	var k K
	p := unsafe.Pointer(&k)
	var err error
	switch kind {
	case reflect.String:
		*(*string)(p) = string(b)
	case reflect.Int:
		var v int64
		v, err = orderedInt(b, math.MinInt, math.MaxInt, kind)
		*(*int)(p) = int(v)
	case reflect.Int8:
		var v int64
		v, err = orderedInt(b, math.MinInt8, math.MaxInt8, kind)
		*(*int8)(p) = int8(v)
	case reflect.Int16:
		var v int64
		v, err = orderedInt(b, math.MinInt16, math.MaxInt16, kind)
		*(*int16)(p) = int16(v)
	case reflect.Int32:
		var v int64
		v, err = orderedInt(b, math.MinInt32, math.MaxInt32, kind)
		*(*int32)(p) = int32(v)
	case reflect.Int64:
		*(*int64)(p), err = orderedInt(b, math.MinInt64, math.MaxInt64, kind)
	case reflect.Uint:
		var v uint64
		v, err = orderedUint(b, math.MaxUint, kind)
		*(*uint)(p) = uint(v)
	case reflect.Uint8:
		var v uint64
		v, err = orderedUint(b, math.MaxUint8, kind)
		*(*uint8)(p) = uint8(v)
	case reflect.Uint16:
		var v uint64
		v, err = orderedUint(b, math.MaxUint16, kind)
		*(*uint16)(p) = uint16(v)
	case reflect.Uint32:
		var v uint64
		v, err = orderedUint(b, math.MaxUint32, kind)
		*(*uint32)(p) = uint32(v)
	case reflect.Uint64:
		*(*uint64)(p), err = orderedUint(b, math.MaxUint64, kind)
	case reflect.Uintptr:
		var v uint64
		v, err = orderedUint(b, uint64(^uintptr(0)), kind)
		*(*uintptr)(p) = uintptr(v)
	case reflect.Float32:
		var f float64
		f, err = orderedFloat(b, kind)
		f32 := float32(f)
		if err == nil && f == f && float64(f32) != f {
			err = fmt.Errorf("%w: ordered float32: %v is not a float32", ErrDecode, f)
		}
		*(*float32)(p) = f32
	case reflect.Float64:
		*(*float64)(p), err = orderedFloat(b, kind)
	default:
		panic("codec: cmp.Ordered type of unexpected kind " + kind.String())
	}
	if err != nil {
		var zero K
		return zero, err
	}
	return k, nil
}

func appendOrderedInt(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// appendOrderedFloat maps the float line onto unsigned integers in order:
// a positive float's bits already order like integers once the sign bit is
// set; a negative float's order is reversed, which flipping every bit
// undoes.
func appendOrderedFloat(dst []byte, f float64) []byte {
	var u uint64
	switch bits := math.Float64bits(f); {
	case f != f:
		u = 0 // every NaN, below -Inf (^bits(-Inf) = 0x000fffffffffffff)
	case f == 0:
		u = 1 << 63 // -0 as +0
	case bits>>63 != 0:
		u = ^bits
	default:
		u = bits | 1<<63
	}
	return binary.BigEndian.AppendUint64(dst, u)
}

func ordered8(b []byte, kind reflect.Kind) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: ordered %v: want 8 bytes, have %d", ErrDecode, kind, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func orderedInt(b []byte, lo, hi int64, kind reflect.Kind) (int64, error) {
	u, err := ordered8(b, kind)
	if err != nil {
		return 0, err
	}
	v := int64(u ^ 1<<63)
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: ordered %v: %d is out of range", ErrDecode, kind, v)
	}
	return v, nil
}

func orderedUint(b []byte, hi uint64, kind reflect.Kind) (uint64, error) {
	v, err := ordered8(b, kind)
	if err != nil {
		return 0, err
	}
	if v > hi {
		return 0, fmt.Errorf("%w: ordered %v: %d is out of range", ErrDecode, kind, v)
	}
	return v, nil
}

// orderedFloat inverts appendOrderedFloat and refuses the encodings it
// never writes, so that equal keys always have equal bytes.
func orderedFloat(b []byte, kind reflect.Kind) (float64, error) {
	u, err := ordered8(b, kind)
	if err != nil {
		return 0, err
	}
	if u == 0 {
		return math.NaN(), nil
	}
	bits := ^u
	if u>>63 != 0 {
		bits = u &^ (1 << 63)
	}
	f := math.Float64frombits(bits)
	if f != f || f == 0 && math.Signbit(f) {
		return 0, fmt.Errorf("%w: ordered %v: non-canonical encoding %#016x", ErrDecode, kind, u)
	}
	return f, nil
}
