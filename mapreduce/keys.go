package mapreduce

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/sluicehq/sluice/internal/codec"
)

// KeyOrder is how a Job sorts its keys, as Hadoop's RawComparator does:
// Append encodes a key so that the byte order of encodings is the sort
// order, and Decode reverses it. Equal encodings are equal keys.
type KeyOrder[K any] struct {
	Append func(dst []byte, k K) []byte
	Decode func(b []byte) (K, error)
}

// Ordered returns the natural order of K: numbers by value (-0 as +0,
// NaNs first), strings by their bytes.
func Ordered[K cmp.Ordered]() KeyOrder[K] {
	a, d := codec.OrderedFor[K]()
	return KeyOrder[K]{Append: a, Decode: d}
}

// defaultOrder is Ordered for any K whose underlying type is ordered (a
// named string or integer type too), and false for other types, which
// need a KeyOrder.
func defaultOrder[K any]() (KeyOrder[K], bool) {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return via[K, string](), true
	case reflect.Int:
		return via[K, int](), true
	case reflect.Int8:
		return via[K, int8](), true
	case reflect.Int16:
		return via[K, int16](), true
	case reflect.Int32:
		return via[K, int32](), true
	case reflect.Int64:
		return via[K, int64](), true
	case reflect.Uint:
		return via[K, uint](), true
	case reflect.Uint8:
		return via[K, uint8](), true
	case reflect.Uint16:
		return via[K, uint16](), true
	case reflect.Uint32:
		return via[K, uint32](), true
	case reflect.Uint64:
		return via[K, uint64](), true
	case reflect.Float32:
		return via[K, float32](), true
	case reflect.Float64:
		return via[K, float64](), true
	}
	return KeyOrder[K]{}, false
}

// via orders K through B, its underlying type, which the caller checked
// by kind: the two have the same memory layout.
func via[K any, B cmp.Ordered]() KeyOrder[K] {
	a, d := codec.OrderedFor[B]()
	return KeyOrder[K]{
		Append: func(dst []byte, k K) []byte { return a(dst, *(*B)(unsafe.Pointer(&k))) },
		Decode: func(b []byte) (K, error) {
			v, err := d(b)
			return *(*K)(unsafe.Pointer(&v)), err
		},
	}
}

// ErrKey is returned when an encoded key cannot be read back.
var ErrKey = errors.New("mapreduce: malformed key encoding")

// AppendString appends s so that encodings of several fields, one after
// the other, sort field by field: 0x00 bytes are escaped as 0x00 0xFF and
// the string ends with 0x00 0x01. Use it (with AppendInt64 and
// AppendUint64) to write the KeyOrder of a composite key.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
		if s[i] == 0 {
			dst = append(dst, 0xff)
		}
	}
	return append(dst, 0, 1)
}

// ReadString reads a string that AppendString wrote at the start of b and
// returns the rest of b.
func ReadString(b []byte) (string, []byte, error) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 == len(b) {
			break
		}
		switch b[i+1] {
		case 1:
			out = append(out, b[:i]...)
			return string(out), b[i+2:], nil
		case 0xff:
			out = append(out, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, fmt.Errorf("%w: 0x00 followed by %#x in a string", ErrKey, b[i+1])
		}
	}
	return "", nil, fmt.Errorf("%w: unterminated string", ErrKey)
}

// AppendInt64 appends v in 8 bytes that sort as the numbers do.
func AppendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// ReadInt64 reads what AppendInt64 wrote at the start of b and returns the
// rest of b.
func ReadInt64(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: %d bytes for an int64", ErrKey, len(b))
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), b[8:], nil
}
