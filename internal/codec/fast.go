package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// msgpack format codes, from the msgpack specification.
const (
	codePosFixIntMax = 0x7f
	codeFixMap       = 0x80
	codeFixArray     = 0x90
	codeFixStr       = 0xa0
	codeNil          = 0xc0
	codeNeverUsed    = 0xc1
	codeFalse        = 0xc2
	codeTrue         = 0xc3
	codeBin8         = 0xc4
	codeBin16        = 0xc5
	codeBin32        = 0xc6
	codeExt8         = 0xc7
	codeExt16        = 0xc8
	codeExt32        = 0xc9
	codeFloat32      = 0xca
	codeFloat64      = 0xcb
	codeUint8        = 0xcc
	codeUint16       = 0xcd
	codeUint32       = 0xce
	codeUint64       = 0xcf
	codeInt8         = 0xd0
	codeInt16        = 0xd1
	codeInt32        = 0xd2
	codeInt64        = 0xd3
	codeFixExt1      = 0xd4
	codeFixExt4      = 0xd6
	codeFixExt8      = 0xd7
	codeFixExt16     = 0xd8
	codeStr8         = 0xd9
	codeStr16        = 0xda
	codeStr32        = 0xdb
	codeArray16      = 0xdc
	codeArray32      = 0xdd
	codeMap16        = 0xde
	codeMap32        = 0xdf
	codeNegFixIntMin = 0xe0
)

// Encoders. Each writes what msgpack.Marshal writes for the same Go type:
// int and uint in the smallest width, the sized types at their own width
// (the library preserves their type unless UseCompactInts is set).

func appendString(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, codeFixStr|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, codeStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, codeStr16), uint16(n))
	case uint64(n) <= math.MaxUint32:
		dst = binary.BigEndian.AppendUint32(append(dst, codeStr32), uint32(n))
	default:
		panic(fmt.Errorf("%w: string of %d bytes exceeds msgpack's 4 GiB limit", ErrEncode, n))
	}
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case b == nil:
		return append(dst, codeNil)
	case n <= math.MaxUint8:
		dst = append(dst, codeBin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, codeBin16), uint16(n))
	case uint64(n) <= math.MaxUint32:
		dst = binary.BigEndian.AppendUint32(append(dst, codeBin32), uint32(n))
	default:
		panic(fmt.Errorf("%w: []byte of %d bytes exceeds msgpack's 4 GiB limit", ErrEncode, n))
	}
	return append(dst, b...)
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, codeTrue)
	}
	return append(dst, codeFalse)
}

func appendCompactUint(dst []byte, v uint64) []byte {
	switch {
	case v <= codePosFixIntMax:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, codeUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, codeUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, codeUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, codeUint64), v)
}

func appendCompactInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendCompactUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, codeInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, codeInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, codeInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, codeInt64), uint64(v))
}

func appendInt(dst []byte, v int) []byte { return appendCompactInt(dst, int64(v)) }
func appendUint(dst []byte, v uint) []byte {
	return appendCompactUint(dst, uint64(v))
}
func appendInt8(dst []byte, v int8) []byte   { return append(dst, codeInt8, byte(v)) }
func appendUint8(dst []byte, v uint8) []byte { return append(dst, codeUint8, v) }
func appendInt16(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, codeInt16), uint16(v))
}
func appendUint16(dst []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, codeUint16), v)
}
func appendInt32(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, codeInt32), uint32(v))
}
func appendUint32(dst []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, codeUint32), v)
}
func appendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, codeInt64), uint64(v))
}
func appendUint64(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, codeUint64), v)
}
func appendFloat32(dst []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, codeFloat32), math.Float32bits(v))
}
func appendFloat64(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, codeFloat64), math.Float64bits(v))
}

// Decoders. Each takes one whole value and accepts every encoding the
// library accepts for the type, except nil, which only []byte takes.

func decodeString(b []byte) (string, error) {
	h, n, err := strHeader(b, "string")
	if err != nil {
		return "", err
	}
	return string(b[h : h+n]), nil
}

func decodeBytes(b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] == codeNil {
		if len(b) > 1 {
			return nil, trailing("[]byte", len(b)-1)
		}
		return nil, nil
	}
	h, n, err := strHeader(b, "[]byte")
	if err != nil {
		return nil, err
	}
	// A copy, never nil: the library also decodes an empty bin as []byte{}.
	return append(make([]byte, 0, n), b[h:h+n]...), nil
}

// strHeader parses a str or bin header (the library reads either as a
// string or a []byte) and checks that the payload is exactly the rest of b.
func strHeader(b []byte, what string) (h, n int, err error) {
	if len(b) == 0 {
		return 0, 0, truncated(what, 1, 0)
	}
	var size uint64
	switch c := b[0]; {
	case c&0xe0 == codeFixStr:
		h, size = 1, uint64(c&0x1f)
	case c == codeStr8 || c == codeBin8:
		h = 2
	case c == codeStr16 || c == codeBin16:
		h = 3
	case c == codeStr32 || c == codeBin32:
		h = 5
	default:
		return 0, 0, wrongType(what, c)
	}
	if len(b) < h {
		return 0, 0, truncated(what, h, len(b))
	}
	switch h {
	case 2:
		size = uint64(b[1])
	case 3:
		size = uint64(binary.BigEndian.Uint16(b[1:]))
	case 5:
		size = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	if rest := uint64(len(b) - h); rest != size {
		if rest < size {
			return 0, 0, truncated(what, clampInt(size+uint64(h)), len(b))
		}
		return 0, 0, trailing(what, int(rest-size))
	}
	return h, int(size), nil
}

func decodeBool(b []byte) (bool, error) {
	if len(b) == 0 {
		return false, truncated("bool", 1, 0)
	}
	if c := b[0]; c != codeTrue && c != codeFalse {
		return false, wrongType("bool", c)
	}
	if len(b) > 1 {
		return false, trailing("bool", len(b)-1)
	}
	return b[0] == codeTrue, nil
}

// integer parses any msgpack integer occupying all of b. A negative value
// is returned as its two's complement with neg set; otherwise v is the
// value itself, which may exceed math.MaxInt64.
func integer(b []byte, what string) (v uint64, neg bool, err error) {
	if len(b) == 0 {
		return 0, false, truncated(what, 1, 0)
	}
	c := b[0]
	size := 1
	switch {
	case c <= codePosFixIntMax:
		v = uint64(c)
	case c >= codeNegFixIntMin:
		v, neg = uint64(int64(int8(c))), true
	case c >= codeUint8 && c <= codeUint64:
		size += 1 << (c - codeUint8)
	case c >= codeInt8 && c <= codeInt64:
		size += 1 << (c - codeInt8)
	default:
		return 0, false, wrongType(what, c)
	}
	if len(b) != size {
		if len(b) < size {
			return 0, false, truncated(what, size, len(b))
		}
		return 0, false, trailing(what, len(b)-size)
	}
	switch c {
	case codeUint8:
		v = uint64(b[1])
	case codeUint16:
		v = uint64(binary.BigEndian.Uint16(b[1:]))
	case codeUint32:
		v = uint64(binary.BigEndian.Uint32(b[1:]))
	case codeUint64:
		v = binary.BigEndian.Uint64(b[1:])
	case codeInt8:
		v = uint64(int64(int8(b[1])))
	case codeInt16:
		v = uint64(int64(int16(binary.BigEndian.Uint16(b[1:]))))
	case codeInt32:
		v = uint64(int64(int32(binary.BigEndian.Uint32(b[1:]))))
	case codeInt64:
		v = binary.BigEndian.Uint64(b[1:])
	}
	if c >= codeInt8 && c <= codeInt64 {
		neg = int64(v) < 0
	}
	return v, neg, nil
}

func signed(b []byte, lo, hi int64, what string) (int64, error) {
	v, neg, err := integer(b, what)
	if err != nil {
		return 0, err
	}
	if neg && int64(v) >= lo || !neg && v <= uint64(hi) {
		return int64(v), nil
	}
	if neg {
		return 0, fmt.Errorf("%w: %s: %d is out of range", ErrDecode, what, int64(v))
	}
	return 0, fmt.Errorf("%w: %s: %d is out of range", ErrDecode, what, v)
}

func unsigned(b []byte, hi uint64, what string) (uint64, error) {
	v, neg, err := integer(b, what)
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, fmt.Errorf("%w: %s: %d is negative", ErrDecode, what, int64(v))
	}
	if v > hi {
		return 0, fmt.Errorf("%w: %s: %d is out of range", ErrDecode, what, v)
	}
	return v, nil
}

func decodeInt(b []byte) (int, error) {
	v, err := signed(b, math.MinInt, math.MaxInt, "int")
	return int(v), err
}
func decodeInt8(b []byte) (int8, error) {
	v, err := signed(b, math.MinInt8, math.MaxInt8, "int8")
	return int8(v), err
}
func decodeInt16(b []byte) (int16, error) {
	v, err := signed(b, math.MinInt16, math.MaxInt16, "int16")
	return int16(v), err
}
func decodeInt32(b []byte) (int32, error) {
	v, err := signed(b, math.MinInt32, math.MaxInt32, "int32")
	return int32(v), err
}
func decodeInt64(b []byte) (int64, error) {
	// Fast path for the fixed width that Append writes.
	if len(b) == 9 && b[0] == codeInt64 {
		return int64(binary.BigEndian.Uint64(b[1:])), nil
	}
	return signed(b, math.MinInt64, math.MaxInt64, "int64")
}
func decodeUint(b []byte) (uint, error) {
	v, err := unsigned(b, math.MaxUint, "uint")
	return uint(v), err
}
func decodeUint8(b []byte) (uint8, error) {
	v, err := unsigned(b, math.MaxUint8, "uint8")
	return uint8(v), err
}
func decodeUint16(b []byte) (uint16, error) {
	v, err := unsigned(b, math.MaxUint16, "uint16")
	return uint16(v), err
}
func decodeUint32(b []byte) (uint32, error) {
	v, err := unsigned(b, math.MaxUint32, "uint32")
	return uint32(v), err
}
func decodeUint64(b []byte) (uint64, error) {
	return unsigned(b, math.MaxUint64, "uint64")
}

// decodeFloat32 takes a float32 or an integer, as the library does (an
// encoder with UseCompactFloats writes integral floats as integers); it
// refuses a float64, which the library refuses too.
func decodeFloat32(b []byte) (float32, error) {
	if len(b) > 0 && b[0] == codeFloat32 {
		if len(b) != 5 {
			return 0, sizeErr("float32", 5, len(b))
		}
		return math.Float32frombits(binary.BigEndian.Uint32(b[1:])), nil
	}
	v, neg, err := integer(b, "float32")
	if err != nil {
		return 0, err
	}
	if neg {
		return float32(int64(v)), nil
	}
	return float32(v), nil
}

// decodeFloat64 takes a float64, a float32 (widened exactly) or an integer.
func decodeFloat64(b []byte) (float64, error) {
	if len(b) > 0 {
		switch b[0] {
		case codeFloat64:
			if len(b) != 9 {
				return 0, sizeErr("float64", 9, len(b))
			}
			return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), nil
		case codeFloat32:
			if len(b) != 5 {
				return 0, sizeErr("float64", 5, len(b))
			}
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))), nil
		}
	}
	v, neg, err := integer(b, "float64")
	if err != nil {
		return 0, err
	}
	if neg {
		return float64(int64(v)), nil
	}
	return float64(v), nil
}

func sizeErr(what string, want, got int) error {
	if got < want {
		return truncated(what, want, got)
	}
	return trailing(what, got-want)
}

func truncated(what string, want, got int) error {
	return fmt.Errorf("%w: %s: truncated: the value needs %d bytes, the input has %d", ErrDecode, what, want, got)
}

func trailing(what string, n int) error {
	return fmt.Errorf("%w: %s: %d trailing bytes after the value", ErrDecode, what, n)
}

func wrongType(what string, c byte) error {
	return fmt.Errorf("%w: %s: input holds a msgpack %s (code 0x%02x)", ErrDecode, what, codeName(c), c)
}

// codeName names the msgpack type that a leading byte announces.
func codeName(c byte) string {
	switch {
	case c <= codePosFixIntMax || c >= codeNegFixIntMin ||
		c >= codeUint8 && c <= codeInt64:
		return "integer"
	case c&0xf0 == codeFixMap || c == codeMap16 || c == codeMap32:
		return "map"
	case c&0xf0 == codeFixArray || c == codeArray16 || c == codeArray32:
		return "array"
	case c&0xe0 == codeFixStr || c >= codeStr8 && c <= codeStr32:
		return "string"
	case c >= codeBin8 && c <= codeBin32:
		return "binary"
	case c >= codeExt8 && c <= codeExt32 || c >= codeFixExt1 && c <= codeFixExt16:
		return "extension"
	case c == codeFloat32 || c == codeFloat64:
		return "float"
	case c == codeNil:
		return "nil"
	case c == codeTrue || c == codeFalse:
		return "bool"
	}
	return "invalid code"
}
