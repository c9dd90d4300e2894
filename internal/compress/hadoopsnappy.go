package compress

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/snappy"
)

// maxHadoopBlock bounds one block of Hadoop's snappy stream. Hadoop's
// io.compression.codec.snappy.buffersize is 256 KiB; a block that claims
// more than this is corrupt, and must not make the reader allocate it.
const maxHadoopBlock = 64 << 20

// hadoopSnappyReader reads Hadoop's BlockCompressorStream with snappy: a
// sequence of blocks, each a big-endian uint32 of its uncompressed length
// followed by chunks (a big-endian uint32 length and that many bytes of a
// snappy block) whose uncompressed lengths add up to it.
type hadoopSnappyReader struct {
	r    io.Reader
	left int    // uncompressed bytes of the current block still to come
	buf  []byte // decoded, not yet read
	comp []byte
	err  error
}

func newHadoopSnappyReader(r io.Reader) *hadoopSnappyReader { return &hadoopSnappyReader{r: r} }

func (h *hadoopSnappyReader) Read(p []byte) (int, error) {
	for len(h.buf) == 0 {
		if h.err != nil {
			return 0, h.err
		}
		h.err = h.next()
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	return n, nil
}

// next decodes the next chunk into buf, reading a block header first
// when the current block is done. io.EOF only at a block boundary.
func (h *hadoopSnappyReader) next() error {
	var hdr [4]byte
	if h.left == 0 {
		if _, err := io.ReadFull(h.r, hdr[:]); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return fmt.Errorf("%w: snappy (Hadoop): a block header: %w", ErrFormat, err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxHadoopBlock {
			return fmt.Errorf("%w: snappy (Hadoop): a block of %d bytes, over the %d allowed", ErrFormat, n, maxHadoopBlock)
		}
		h.left = int(n)
		if n == 0 {
			return nil
		}
	}
	if _, err := io.ReadFull(h.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: snappy (Hadoop): a chunk header: %w", ErrFormat, noEOF(err))
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(snappy.MaxEncodedLen(h.left)) || n == 0 {
		return fmt.Errorf("%w: snappy (Hadoop): a chunk of %d bytes in a block with %d bytes to go", ErrFormat, n, h.left)
	}
	if cap(h.comp) < int(n) {
		h.comp = make([]byte, n)
	}
	h.comp = h.comp[:n]
	if _, err := io.ReadFull(h.r, h.comp); err != nil {
		return fmt.Errorf("%w: snappy (Hadoop): a chunk: %w", ErrFormat, noEOF(err))
	}
	dl, err := snappy.DecodedLen(h.comp)
	if err != nil || dl > h.left {
		return fmt.Errorf("%w: snappy (Hadoop): a chunk that decodes to %d bytes in a block with %d bytes to go", ErrFormat, dl, h.left)
	}
	out, err := snappy.Decode(nil, h.comp)
	if err != nil {
		return fmt.Errorf("%w: snappy (Hadoop): %w", ErrFormat, err)
	}
	h.left -= len(out)
	h.buf = out
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendHadoopSnappy appends data to dst as one block of Hadoop's snappy
// stream (one chunk; none when data is empty), as Hadoop's SnappyCodec writes it; for tests and
// tools that make files Hadoop would.
func AppendHadoopSnappy(dst, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	if len(data) == 0 {
		return dst // an empty block has no chunk
	}
	c := snappy.Encode(nil, data)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c)))
	return append(dst, c...)
}
