package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// IndexVersion is the index format version this package writes and reads.
const IndexVersion = 1

// indexMagic opens every index file.
const indexMagic = "SLIX"

// ErrCorruptIndex is wrapped by every error that reports a malformed index.
var ErrCorruptIndex = errors.New("shuffle: corrupt index")

// IndexSize returns the size in bytes of the index of numPartitions
// partitions.
func IndexSize(numPartitions int) int { return 12 + 8*(numPartitions+1) + 4 }

// appendIndex appends the index of offsets (numPartitions+1 entries).
func appendIndex(dst []byte, offsets []int64) []byte {
	start := len(dst)
	dst = append(dst, indexMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, IndexVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(offsets)-1))
	for _, off := range offsets {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(off))
	}
	crc := crc32.Checksum(dst[start:], crc32.MakeTable(crc32.Castagnoli))
	return binary.LittleEndian.AppendUint32(dst, crc)
}

// DecodeIndex validates an index file's bytes and returns its
// numPartitions+1 offsets. Errors wrap ErrCorruptIndex.
func DecodeIndex(b []byte) ([]int64, error) {
	offsets, reason := decodeIndex(b)
	if reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrCorruptIndex, reason)
	}
	return offsets, nil
}

// ReadIndex reads and validates the index file at path. Errors name the
// path; those about its contents wrap ErrCorruptIndex.
func ReadIndex(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("shuffle: reading index: %w", err)
	}
	offsets, reason := decodeIndex(b)
	if reason != "" {
		return nil, fmt.Errorf("%w %s: %s", ErrCorruptIndex, path, reason)
	}
	return offsets, nil
}

// decodeIndex returns the offsets, or why b is not a valid index.
func decodeIndex(b []byte) ([]int64, string) {
	if len(b) < IndexSize(0) {
		return nil, fmt.Sprintf("%d bytes is too short", len(b))
	}
	if string(b[:4]) != indexMagic {
		return nil, fmt.Sprintf("bad magic %q", b[:4])
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)); crc != sum {
		return nil, fmt.Sprintf("checksum mismatch (stored %08x, computed %08x)", sum, crc)
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != IndexVersion {
		return nil, fmt.Sprintf("unsupported version %d (want %d)", v, IndexVersion)
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	// Check the length before allocating: n comes from the input.
	if uint64(len(b)) != uint64(IndexSize(0))+8*uint64(n) {
		return nil, fmt.Sprintf("%d bytes for %d partitions (want %d)", len(b), n, uint64(IndexSize(0))+8*uint64(n))
	}
	if n == 0 {
		return nil, "zero partitions"
	}
	offsets := make([]int64, n+1)
	prev := int64(0)
	for i := range offsets {
		u := binary.LittleEndian.Uint64(b[12+8*i:])
		off := int64(u)
		switch {
		case u > 1<<62:
			return nil, fmt.Sprintf("offset %d of partition %d is out of range", u, i)
		case i == 0 && off != 0:
			return nil, fmt.Sprintf("first offset is %d, not 0", off)
		case off < prev:
			return nil, fmt.Sprintf("offset %d of partition %d is before the previous one (%d)", off, i, prev)
		}
		offsets[i], prev = off, off
	}
	return offsets, ""
}
