package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxDepth bounds the nesting of arrays and maps that the fallback decoder
// accepts: the library decodes nested values recursively, and an input of a
// few megabytes of array headers would otherwise exhaust the stack.
const maxDepth = 1000

// validate checks that b holds exactly one well-formed msgpack value whose
// every declared length fits in b, nested at most maxDepth deep. It walks
// iteratively, so hostile input costs time linear in len(b) and no stack.
func validate(b []byte, what string) error {
	end, err := skipValue(b, 0, what)
	if err != nil {
		return err
	}
	if end != len(b) {
		return trailing(what, len(b)-end)
	}
	return nil
}

// skipValue checks the one msgpack value that starts at b[pos] as validate
// does and returns where it ends.
func skipValue(b []byte, pos int, what string) (int, error) {
	// open holds, per enclosing array or map, how many items are still due.
	var stackBuf [16]uint64
	open := stackBuf[:0]
	due := uint64(1) // items still due overall; each takes at least a byte
	for due > 0 {
		if pos >= len(b) {
			return 0, truncated(what, clampInt(uint64(pos)+due), len(b))
		}
		c := b[pos]
		pos++
		due--
		for len(open) > 0 && open[len(open)-1] == 0 {
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			open[len(open)-1]--
		}
		var skip uint64 // payload bytes after the header
		var items uint64
		container := false
		switch {
		case c <= codePosFixIntMax || c >= codeNegFixIntMin ||
			c == codeNil || c == codeTrue || c == codeFalse:
		case c&0xf0 == codeFixMap:
			items, container = 2*uint64(c&0x0f), true
		case c&0xf0 == codeFixArray:
			items, container = uint64(c&0x0f), true
		case c&0xe0 == codeFixStr:
			skip = uint64(c & 0x1f)
		case c == codeNeverUsed:
			return 0, wrongType(what, c)
		default:
			n, size, isExt, kind := lengthField(c)
			if len(b)-pos < n {
				return 0, truncated(what, pos+n, len(b))
			}
			switch n {
			case 1:
				size = uint64(b[pos])
			case 2:
				size = uint64(binary.BigEndian.Uint16(b[pos:]))
			case 4:
				size = uint64(binary.BigEndian.Uint32(b[pos:]))
			}
			pos += n
			switch kind {
			case lenBytes:
				skip = size
			case lenItems:
				items, container = size, true
			case lenPairs:
				items, container = 2*size, true
			}
			if isExt {
				skip++ // the extension's type byte
			}
		}
		if skip > uint64(len(b)-pos) {
			return 0, truncated(what, clampInt(uint64(pos)+skip), len(b))
		}
		pos += int(skip)
		if container && items > 0 {
			if items > uint64(len(b)-pos) || due+items > uint64(len(b)-pos) {
				return 0, truncated(what, clampInt(uint64(pos)+due+items), len(b))
			}
			if len(open) >= maxDepth {
				return 0, fmt.Errorf("%w: %s: nesting deeper than %d levels", ErrDecode, what, maxDepth)
			}
			open = append(open, items)
			due += items
		}
	}
	return pos, nil
}

// What the length field of a header counts.
const (
	lenNone  = iota // no length field: fixed-size scalar
	lenBytes        // payload bytes (str, bin, ext)
	lenItems        // array elements
	lenPairs        // map key/value pairs
)

// lengthField describes a non-fixed header: the size in bytes of its length
// field (n), or for fixed-size scalars and fixext the payload size (size).
func lengthField(c byte) (n int, size uint64, isExt bool, kind int) {
	switch c {
	case codeStr8, codeBin8:
		return 1, 0, false, lenBytes
	case codeStr16, codeBin16:
		return 2, 0, false, lenBytes
	case codeStr32, codeBin32:
		return 4, 0, false, lenBytes
	case codeExt8:
		return 1, 0, true, lenBytes
	case codeExt16:
		return 2, 0, true, lenBytes
	case codeExt32:
		return 4, 0, true, lenBytes
	case codeArray16:
		return 2, 0, false, lenItems
	case codeArray32:
		return 4, 0, false, lenItems
	case codeMap16:
		return 2, 0, false, lenPairs
	case codeMap32:
		return 4, 0, false, lenPairs
	case codeFloat32:
		return 0, 4, false, lenBytes
	case codeFloat64:
		return 0, 8, false, lenBytes
	}
	switch {
	case c >= codeUint8 && c <= codeUint64:
		return 0, 1 << (c - codeUint8), false, lenBytes
	case c >= codeInt8 && c <= codeInt64:
		return 0, 1 << (c - codeInt8), false, lenBytes
	case c >= codeFixExt1 && c <= codeFixExt16:
		return 0, 1 << (c - codeFixExt1), true, lenBytes
	}
	return 0, 0, false, lenNone
}

// clampInt converts a byte count for an error message, saturating on
// platforms where int is 32 bits.
func clampInt(u uint64) int {
	return int(min(u, math.MaxInt))
}
