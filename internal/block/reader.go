package block

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// readBufferSize is the Reader's read-ahead; it batches header and small
// payload reads into few calls on the source.
const readBufferSize = 64 << 10

// Reader reads the blocks a Writer wrote and returns their raw payloads.
// A Reader is not safe for concurrent use.
type Reader struct {
	src     *bufio.Reader
	off     int64 // offset of the next block in the stream
	err     error // sticky: io.EOF or the first error
	hdr     [HeaderSize]byte
	payload []byte // stored bytes of the current block
	raw     []byte // decompressed bytes of the current block
	zdec    *zstd.Decoder
	table   *crc32.Table
}

// NewReader returns a Reader of the blocks in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: bufio.NewReaderSize(r, readBufferSize), table: castagnoli()}
}

// Reset makes r read from src, keeping its buffers and decompressors.
func (r *Reader) Reset(src io.Reader) {
	r.src.Reset(src)
	r.off = 0
	r.err = nil
}

// Next returns the raw payload of the next block, valid until the next call
// to Next or Reset. It returns io.EOF when the stream ends exactly at a block
// boundary. Malformed data (truncation, a checksum mismatch, an unknown
// codec, an impossible length) gives an error wrapping ErrCorrupt that
// names the problem and the block's offset; an error from the source is
// returned wrapped as it is. After an error, Next keeps returning it.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return p, nil
}

func (r *Reader) next() ([]byte, error) {
	h := r.hdr[:]
	if n, err := io.ReadFull(r.src, h); err != nil {
		switch {
		case err == io.EOF:
			return nil, io.EOF
		case err == io.ErrUnexpectedEOF:
			return nil, r.corrupt("truncated header (%d of %d bytes)", n, HeaderSize)
		}
		return nil, fmt.Errorf("block: reading header at offset %d: %w", r.off, err)
	}
	codec := Codec(h[0])
	rawLen := binary.LittleEndian.Uint32(h[4:8])
	payLen := binary.LittleEndian.Uint32(h[8:12])
	switch {
	case !codec.Valid():
		return nil, r.corrupt("unknown codec id %d", h[0])
	case h[1]|h[2]|h[3] != 0:
		return nil, r.corrupt("reserved header bytes %x are not zero", h[1:4])
	case rawLen == 0:
		return nil, r.corrupt("empty block")
	case rawLen > MaxBlockSize:
		return nil, r.corrupt("raw length %d exceeds MaxBlockSize (%d)", rawLen, MaxBlockSize)
	case codec == None && payLen != rawLen:
		return nil, r.corrupt("uncompressed block with payload length %d, raw length %d", payLen, rawLen)
	case payLen == 0 || payLen > rawLen:
		// Writers store a block raw when compression does not shrink it.
		return nil, r.corrupt("%s payload length %d for raw length %d", codec, payLen, rawLen)
	}

	payload, n, err := r.readPayload(int(payLen))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, r.corrupt("truncated payload (%d of %d bytes)", n, payLen)
		}
		return nil, fmt.Errorf("block: reading payload at offset %d: %w", r.off, err)
	}
	want := binary.LittleEndian.Uint32(h[12:16])
	if got := crc32.Update(crc32.Update(0, r.table, h[:12]), r.table, payload); got != want {
		return nil, r.corrupt("checksum mismatch (stored %08x, computed %08x)", want, got)
	}

	raw, err := r.decode(codec, payload, int(rawLen))
	if err != nil {
		return nil, err
	}
	r.off += HeaderSize + int64(payLen)
	return raw, nil
}

// readPayload reads n bytes into r.payload. When the buffer must grow, it
// grows as data arrives, so a header that lies about a length on a short
// stream costs no more memory than the stream holds.
func (r *Reader) readPayload(n int) ([]byte, int, error) {
	if cap(r.payload) >= n {
		p := r.payload[:n]
		m, err := io.ReadFull(r.src, p)
		return p, m, err
	}
	p := r.payload[:0]
	for len(p) < n {
		step := min(n-len(p), max(len(p), readBufferSize))
		p = slices.Grow(p, step)
		m, err := io.ReadFull(r.src, p[len(p):len(p)+step])
		p = p[:len(p)+m]
		if err != nil {
			r.payload = p[:0]
			return p, len(p), err
		}
	}
	r.payload = p
	return p, n, nil
}

func (r *Reader) decode(codec Codec, payload []byte, rawLen int) ([]byte, error) {
	if codec == None {
		return payload, nil
	}
	if cap(r.raw) < rawLen {
		r.raw = make([]byte, rawLen)
	}
	dst := r.raw[:rawLen]
	var (
		out []byte
		err error
	)
	switch codec {
	case Snappy:
		if n, lerr := snappy.DecodedLen(payload); lerr != nil || n != rawLen {
			return nil, r.corrupt("snappy length prefix does not match raw length %d", rawLen)
		}
		out, err = snappy.Decode(dst, payload)
	case S2:
		if n, lerr := s2.DecodedLen(payload); lerr != nil || n != rawLen {
			return nil, r.corrupt("s2 length prefix does not match raw length %d", rawLen)
		}
		out, err = s2.Decode(dst, payload)
	case Zstd:
		if r.zdec == nil {
			if r.zdec, err = zstd.NewReader(nil,
				zstd.WithDecoderConcurrency(1), // DecodeAll only: no goroutines
				zstd.WithDecoderMaxMemory(MaxBlockSize),
				zstd.WithDecodeAllCapLimit(true)); err != nil {
				return nil, fmt.Errorf("block: creating zstd decoder: %w", err)
			}
		}
		// The capacity limit makes the decoder refuse to write past rawLen.
		out, err = r.zdec.DecodeAll(payload, dst[:0:rawLen])
	}
	if err != nil {
		return nil, r.corrupt("%s: %v", codec, err)
	}
	if len(out) != rawLen {
		return nil, r.corrupt("%s payload decoded to %d bytes, header says %d", codec, len(out), rawLen)
	}
	return out, nil
}

func (r *Reader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: block at offset %d: %s", ErrCorrupt, r.off, fmt.Sprintf(format, args...))
}
