package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// DefaultBlockSize is the raw payload size at which a Writer ends a block.
const DefaultBlockSize = 64 << 10

// MaxBlockSize is the largest raw payload a block may hold. Readers reject
// larger headers before allocating anything for them.
const MaxBlockSize = 16 << 20

// HeaderSize is the length of a block header.
const HeaderSize = 16

// ErrCorrupt is wrapped by every error that reports malformed block data.
var ErrCorrupt = errors.New("block: corrupt")

// ErrRecordTooLarge is wrapped by the error a Writer returns for a record
// whose raw size exceeds MaxBlockSize.
var ErrRecordTooLarge = errors.New("block: record too large")

// castagnoli returns the CRC32C table; crc32 caches it, so this is cheap and
// keeps the package free of mutable globals.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// NextFrame splits the first frame off p, a block payload or the rest of one.
// The frame's capacity ends with it, so appending to it cannot overwrite rest.
// It returns an error wrapping ErrCorrupt when p does not start with a whole
// frame, including when p is empty.
func NextFrame(p []byte) (frame, rest []byte, err error) {
	// One-byte lengths are the common case for keys and small values; this
	// path is small enough to inline into callers' loops.
	if len(p) > 0 {
		if n := int(p[0]); n < 0x80 && n < len(p) {
			return p[1 : n+1 : n+1], p[n+1:], nil
		}
	}
	return nextFrameSlow(p)
}

func nextFrameSlow(p []byte) (frame, rest []byte, err error) {
	v, k := binary.Uvarint(p)
	if k <= 0 || v > uint64(len(p)-k) {
		return nil, nil, frameError(p)
	}
	end := k + int(v)
	return p[k:end:end], p[end:], nil
}

// frameError says why p does not start with a whole frame.
func frameError(p []byte) error {
	v, k := binary.Uvarint(p)
	switch {
	case len(p) == 0:
		return fmt.Errorf("%w: no frame in empty payload", ErrCorrupt)
	case k <= 0:
		return fmt.Errorf("%w: malformed frame length", ErrCorrupt)
	}
	return fmt.Errorf("%w: frame of %d bytes but only %d remain", ErrCorrupt, v, len(p)-k)
}
