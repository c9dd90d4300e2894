package block

import (
	"fmt"
	"strconv"
)

// Codec identifies the compression applied to a block's payload; its value is
// the codec id stored in the block header.
type Codec uint8

// The codecs a block may be compressed with.
const (
	None   Codec = 0 // None stores payloads as they are.
	Snappy Codec = 1 // Snappy is the github.com/golang/snappy block format.
	S2     Codec = 2 // S2 is the github.com/klauspost/compress/s2 block format.
	Zstd   Codec = 3 // Zstd is a github.com/klauspost/compress/zstd frame at the fastest level.
)

// ParseCodec returns the codec named s: "none", "snappy", "s2" or "zstd".
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none":
		return None, nil
	case "snappy":
		return Snappy, nil
	case "s2":
		return S2, nil
	case "zstd":
		return Zstd, nil
	}
	return None, fmt.Errorf("block: unknown codec %q (want s2, snappy, zstd or none)", s)
}

// String returns the codec's name as ParseCodec accepts it.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Snappy:
		return "snappy"
	case S2:
		return "s2"
	case Zstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the codecs this package implements.
func (c Codec) Valid() bool { return c <= Zstd }
