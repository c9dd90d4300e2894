package block

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Writer frames records into compressed, checksummed blocks written to an
// io.Writer. It buffers one block's raw payload; give it a buffered
// destination (bufio.Writer) if blocks are small relative to syscall cost.
// A Writer is not safe for concurrent use.
type Writer struct {
	dst       io.Writer
	codec     Codec
	blockSize int
	written   int64
	err       error // sticky write error

	raw      []byte // pending raw payload
	recStart int    // offset in raw where the current record begins
	out      []byte // header + compressed payload
	hdr      [HeaderSize]byte
	zenc     *zstd.Encoder // created on first use
	table    *crc32.Table
}

// NewWriter returns a Writer that writes blocks compressed with c to w.
func NewWriter(w io.Writer, c Codec) *Writer {
	return &Writer{dst: w, codec: c, blockSize: DefaultBlockSize, table: castagnoli()}
}

// SetBlockSize sets the raw payload size at which EndRecord ends a block;
// n <= 0 means DefaultBlockSize and n is capped at MaxBlockSize.
func (w *Writer) SetBlockSize(n int) {
	if n <= 0 {
		n = DefaultBlockSize
	}
	w.blockSize = min(n, MaxBlockSize)
}

// Reset discards any pending payload and makes w write to dst, keeping its
// buffers, compressor and block size. Written restarts at 0.
func (w *Writer) Reset(dst io.Writer) {
	w.dst = dst
	w.written = 0
	w.err = nil
	w.raw = w.raw[:0]
	w.recStart = 0
}

// Written returns the number of bytes written to the destination so far;
// bytes still pending in the current block are not counted.
func (w *Writer) Written() int64 { return w.written }

// Frame appends one frame holding b to the current record.
func (w *Writer) Frame(b []byte) {
	w.raw = binary.AppendUvarint(w.raw, uint64(len(b)))
	w.raw = append(w.raw, b...)
}

// EndRecord ends the current record and, once the pending payload has
// reached the block size, writes it as a block. A record of more than
// MaxBlockSize raw bytes is dropped and reported with an error wrapping
// ErrRecordTooLarge; the Writer stays usable.
func (w *Writer) EndRecord() error {
	if w.err == nil && len(w.raw) < w.blockSize {
		w.recStart = len(w.raw) // the common case, kept small enough to inline
		return nil
	}
	return w.endRecord()
}

func (w *Writer) endRecord() error {
	if w.err != nil {
		return w.err
	}
	if len(w.raw) > MaxBlockSize {
		rec := len(w.raw) - w.recStart
		if rec > MaxBlockSize {
			w.raw = w.raw[:w.recStart]
			return fmt.Errorf("%w: %d raw bytes, more than MaxBlockSize (%d)", ErrRecordTooLarge, rec, MaxBlockSize)
		}
		// The record fits in a block of its own: write what precedes it first.
		if err := w.writeBlock(w.raw[:w.recStart]); err != nil {
			return err
		}
		w.raw = w.raw[:copy(w.raw, w.raw[w.recStart:])]
	}
	w.recStart = len(w.raw)
	if len(w.raw) >= w.blockSize {
		return w.Flush()
	}
	return nil
}

// Flush writes the pending payload as a block; it does nothing when nothing
// is pending. Frames not yet ended by EndRecord are flushed with the rest, so
// call it between records.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.raw) == 0 {
		return nil
	}
	if len(w.raw) > MaxBlockSize {
		n := len(w.raw)
		w.raw, w.recStart = w.raw[:0], 0
		return fmt.Errorf("%w: %d raw bytes, more than MaxBlockSize (%d)", ErrRecordTooLarge, n, MaxBlockSize)
	}
	err := w.writeBlock(w.raw)
	w.raw, w.recStart = w.raw[:0], 0
	return err
}

// writeBlock compresses p and writes it with its header.
func (w *Writer) writeBlock(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	codec := w.codec
	var payload []byte
	switch codec {
	case None:
	case Snappy:
		n := HeaderSize + snappy.MaxEncodedLen(len(p))
		w.growOut(n)
		payload = snappy.Encode(w.out[HeaderSize:n], p)
	case S2:
		n := HeaderSize + s2.MaxEncodedLen(len(p))
		w.growOut(n)
		payload = s2.Encode(w.out[HeaderSize:n], p)
	case Zstd:
		if w.zenc == nil {
			enc, err := zstd.NewWriter(nil,
				zstd.WithEncoderLevel(zstd.SpeedFastest),
				zstd.WithEncoderConcurrency(1),
				zstd.WithEncoderCRC(false)) // the block CRC covers it
			if err != nil {
				w.err = fmt.Errorf("block: creating zstd encoder: %w", err)
				return w.err
			}
			w.zenc = enc
		}
		w.growOut(HeaderSize)
		w.out = w.zenc.EncodeAll(p, w.out[:HeaderSize])
		payload = w.out[HeaderSize:]
	default:
		return fmt.Errorf("block: cannot write with unknown codec %d", codec)
	}
	if codec != None && len(payload) >= len(p) {
		codec, payload = None, nil // incompressible: store it raw
	}
	if codec == None {
		payload = p
	}

	h := w.hdr[:]
	h[0], h[1], h[2], h[3] = byte(codec), 0, 0, 0
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(p)))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(payload)))
	crc := crc32.Update(crc32.Update(0, w.table, h[:12]), w.table, payload)
	binary.LittleEndian.PutUint32(h[12:16], crc)

	if codec == None {
		// Two writes rather than copying the payload behind the header.
		if err := w.write(h); err != nil {
			return err
		}
		return w.write(payload)
	}
	block := w.out[:HeaderSize+len(payload)]
	copy(block, h)
	return w.write(block)
}

func (w *Writer) write(b []byte) error {
	n, err := w.dst.Write(b)
	w.written += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("block: writing block: %w", err)
	}
	return w.err
}

func (w *Writer) growOut(n int) {
	if cap(w.out) < n {
		w.out = make([]byte, n)
	}
	w.out = w.out[:n]
}
