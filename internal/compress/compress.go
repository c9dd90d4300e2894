package compress

import (
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// ErrFormat is wrapped by errors about compressed data that is not valid.
var ErrFormat = errors.New("compress: malformed compressed data")

// Codec is a file compression.
type Codec uint8

// The codecs. None is the zero value: plain files.
const (
	None Codec = iota
	Gzip
	Zstd
	Bzip2
	Snappy
)

// String returns the codec's name as Parse accepts it.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Bzip2:
		return "bz2"
	case Snappy:
		return "snappy"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// Ext returns the file name extension the codec's files end in, with its
// dot; "" for None.
func (c Codec) Ext() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	case Bzip2:
		return ".bz2"
	case Snappy:
		return ".sz"
	}
	return ""
}

// CanWrite reports whether NewWriter supports c: every codec but Bzip2.
func (c Codec) CanWrite() bool { return c <= Snappy && c != Bzip2 }

// Parse returns the codec named s, as --output-codec takes it: "none",
// "gzip", "zstd", "snappy" or "bz2" (which NewWriter refuses). An empty
// name is None.
func Parse(s string) (Codec, error) {
	switch s {
	case "", "none":
		return None, nil
	case "gzip":
		return Gzip, nil
	case "zstd":
		return Zstd, nil
	case "snappy":
		return Snappy, nil
	case "bz2":
		return Bzip2, nil
	}
	return None, fmt.Errorf("compress: unknown codec %q (want gzip, zstd, snappy or none)", s)
}

// ForPath returns the codec that path's extension names, None when it
// names none.
func ForPath(path string) Codec {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || strings.ContainsRune(path[i:], '/') {
		return None
	}
	switch path[i:] {
	case ".gz":
		return Gzip
	case ".zst":
		return Zstd
	case ".bz2":
		return Bzip2
	case ".sz", ".snappy":
		return Snappy
	}
	return None
}

// NewReader returns a reader of r's decompressed bytes. Close releases
// the decoder, not r.
func (c Codec) NewReader(r io.Reader) (io.ReadCloser, error) {
	if c != None {
		r = &trackReader{r: r}
	}
	switch c {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		// Multistream, as gzip(1) and Hadoop read concatenated members.
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, formatErr(c, r, err)
		}
		return &errReader{r: z, c: c, src: r}, nil
	case Zstd:
		// One decoder goroutine, and a window no larger than zstd's
		// default maximum for streams (8 MiB): a frame may not ask for
		// gigabytes of memory.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, formatErr(c, r, err)
		}
		return &errReader{r: z.IOReadCloser(), c: c, src: r}, nil
	case Bzip2:
		return &errReader{r: io.NopCloser(bzip2.NewReader(r)), c: c, src: r}, nil
	case Snappy:
		br := bufio.NewReader(r)
		head, err := br.Peek(len(snappyMagic))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if string(head) == snappyMagic {
			return &errReader{r: io.NopCloser(snappy.NewReader(br)), c: c, src: r}, nil
		}
		if len(head) == 0 {
			return io.NopCloser(br), nil
		}
		return &errReader{r: io.NopCloser(newHadoopSnappyReader(br)), c: c, src: r}, nil
	}
	return nil, fmt.Errorf("compress: unknown codec %d", c)
}

// snappyMagic begins a stream in snappy's framing format: the stream
// identifier chunk.
const snappyMagic = "\xff\x06\x00\x00sNaPpY"

// NewWriter returns a writer that compresses into w. Close flushes the
// stream's end; it does not close w.
func (c Codec) NewWriter(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	case Snappy:
		return snappy.NewBufferedWriter(w), nil
	case Bzip2:
		return nil, errors.New("compress: bz2 can be read but not written: no maintained Go bzip2 encoder exists; use gzip, zstd or snappy")
	}
	return nil, fmt.Errorf("compress: unknown codec %d", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// trackReader remembers the last error of the reader under a
// decompressor, so that errReader can tell the disk's errors, passed on
// as they are, from the data's.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// errReader wraps a decompressor's errors in ErrFormat, except those of
// the reader under it: corrupt input is permanent, a failing disk is not.
type errReader struct {
	r   io.ReadCloser
	c   Codec
	src io.Reader // a *trackReader
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = formatErr(e.c, e.src, err)
	}
	return n, err
}

func (e *errReader) Close() error { return e.r.Close() }

func formatErr(c Codec, src io.Reader, err error) error {
	if t, ok := src.(*trackReader); ok && t.err != nil && errors.Is(err, t.err) {
		return err
	}
	if errors.Is(err, ErrFormat) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrFormat, c, err)
}
