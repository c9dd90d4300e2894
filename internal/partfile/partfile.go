// Package partfile stores one partition of an RDD as a file (or a byte
// slice): a persisted partition on an executor's disk or in its memory,
// or a partition of a reliable checkpoint. It is the block format of
// internal/block between a header and a trailer that make a file
// self-validating: a truncated, half-written or corrupt file is an error
// wrapping ErrCorrupt, never a shorter partition.
//
//	header  (16 bytes): "SLUICEPF", version u32 LE (1), zero u32
//	blocks  (see internal/block), whose payloads are framed records
//	trailer (32 bytes): "SLPFEND\x00", frames u64 LE, blocks length u64 LE,
//	                    CRC32C of the previous 24 bytes u32 LE, zero u32
//
// The trailer counts frames, not records (a Pair is two), so that a reader
// checks completeness without knowing the element type. Files are written
// atomically (Create, then Commit: a temporary name, fsync, rename, fsync
// of the directory), so a crash never leaves a file under the final name
// that looks complete and is not.
package partfile

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/block"
)

// ErrCorrupt is wrapped by every error about a malformed partition file.
var ErrCorrupt = errors.New("partfile: corrupt")

const (
	headerSize  = 16
	trailerSize = 32
	version     = 1
	// Overhead is the bytes a partition file adds to its blocks.
	Overhead = headerSize + trailerSize
)

var (
	headerMagic  = [8]byte{'S', 'L', 'U', 'I', 'C', 'E', 'P', 'F'}
	trailerMagic = [8]byte{'S', 'L', 'P', 'F', 'E', 'N', 'D', 0}
	crcTable     = crc32.MakeTable(crc32.Castagnoli)
)

// Writer writes one partition: records of already-framed bytes (what
// rdd's element codec appends), in blocks compressed with a codec.
type Writer struct {
	dst     io.Writer
	bw      *block.Writer
	count   countWriter
	frames  uint64
	raw     int64 // bytes of records given
	started bool
	err     error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewWriter returns a Writer of a partition to w.
func NewWriter(w io.Writer, c block.Codec) *Writer {
	pw := &Writer{dst: w}
	pw.count.w = w
	pw.bw = block.NewWriter(&pw.count, c)
	return pw
}

func (w *Writer) header() error {
	if w.started {
		return nil
	}
	w.started = true
	var h [headerSize]byte
	copy(h[:], headerMagic[:])
	binary.LittleEndian.PutUint32(h[8:], version)
	_, err := w.dst.Write(h[:])
	return err
}

// Record writes one record, given as its frames already framed (uvarint
// length, bytes; one or more).
func (w *Writer) Record(framed []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.header(); w.err != nil {
		return w.err
	}
	w.raw += int64(len(framed))
	for p := framed; len(p) > 0; {
		f, rest, err := block.NextFrame(p)
		if err != nil {
			w.err = fmt.Errorf("partfile: record: %w", err)
			return w.err
		}
		w.bw.Frame(f)
		w.frames++
		p = rest
	}
	w.err = w.bw.EndRecord()
	return w.err
}

// Size returns the bytes written to the destination so far, header
// included; the current block and the trailer are not counted.
func (w *Writer) Size() int64 {
	if !w.started {
		return 0
	}
	return headerSize + w.count.n
}

// Raw returns the bytes of the records written so far, before
// compression: what they take in memory decoded from the file.
func (w *Writer) Raw() int64 { return w.raw }

// Close flushes the last block and writes the trailer. It does not close
// the destination.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.header(); w.err != nil {
		return w.err
	}
	if w.err = w.bw.Flush(); w.err != nil {
		return w.err
	}
	var t [trailerSize]byte
	copy(t[:], trailerMagic[:])
	binary.LittleEndian.PutUint64(t[8:], w.frames)
	binary.LittleEndian.PutUint64(t[16:], uint64(w.count.n))
	binary.LittleEndian.PutUint32(t[24:], crc32.Checksum(t[:24], crcTable))
	_, w.err = w.dst.Write(t[:])
	if w.err == nil {
		w.err = errors.New("partfile: writer closed")
		return nil
	}
	return w.err
}

// Bytes is a Writer into memory.
type Bytes struct {
	*Writer
	buf bytes.Buffer
}

// NewBytes returns a Writer into memory, with blocks stored uncompressed.
func NewBytes() *Bytes {
	b := &Bytes{}
	b.Writer = NewWriter(&b.buf, block.None)
	return b
}

// Finish closes the writer and returns the partition's bytes.
func (b *Bytes) Finish() ([]byte, error) {
	if err := b.Close(); err != nil {
		return nil, err
	}
	return b.buf.Bytes(), nil
}

// File is a Writer into a file that appears under its name only when
// committed.
type File struct {
	*Writer
	f    *os.File
	path string
	buf  *bufio.Writer
}

// Create starts writing the partition file path: its directory is made if
// need be, and the data go to a temporary name beside it.
func Create(path string, c block.Codec) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("partfile: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	f, err := os.OpenFile(path+".tmp-"+hex.EncodeToString(rnd[:]), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("partfile: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return &File{Writer: NewWriter(bw, c), f: f, path: path, buf: bw}, nil
}

// Commit finishes the file and moves it to its name, durably: after
// Commit returns nil the file is complete under its name, and before, the
// name holds nothing or what an earlier commit put there.
func (f *File) Commit() error {
	err := f.Close()
	if err == nil {
		err = f.buf.Flush()
	}
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.f.Name())
		return fmt.Errorf("partfile: writing %s: %w", f.path, err)
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("partfile: syncing the directory of %s: %w", f.path, err)
		}
	}
	return nil
}

// CommitNew is Commit that never replaces a file already under the name
// (another attempt's, of the same partition): the first to commit wins and
// the others' data are removed. It returns the size of the file under the
// name.
func (f *File) CommitNew() (int64, error) {
	err := f.Close()
	if err == nil {
		err = f.buf.Flush()
	}
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.f.Name(), f.path)
		if errors.Is(err, os.ErrExist) {
			err = nil
		}
	}
	os.Remove(f.f.Name())
	if err != nil {
		return 0, fmt.Errorf("partfile: writing %s: %w", f.path, err)
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, fmt.Errorf("partfile: syncing the directory of %s: %w", f.path, err)
		}
	}
	st, err := os.Stat(f.path)
	if err != nil {
		return 0, fmt.Errorf("partfile: %w", err)
	}
	return st.Size(), nil
}

// Abort removes the temporary file.
func (f *File) Abort() {
	f.f.Close()
	os.Remove(f.f.Name())
}

// WriteFile writes data, a partition's bytes (from Bytes.Finish), to path
// atomically, as Commit does.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("partfile: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	err := os.WriteFile(tmp, data, 0o644)
	if err == nil {
		var f *os.File
		if f, err = os.Open(tmp); err == nil {
			err = f.Sync()
			f.Close()
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("partfile: writing %s: %w", path, err)
	}
	return nil
}

// Each reads the partition in src, of size bytes, and calls payload with
// the raw payload of each block in turn (framed records; valid until
// payload returns). It checks the header, the trailer, every block's
// checksum and that the frames and the length are those the trailer
// records; payload returning false stops early without those last checks.
func Each(src io.ReaderAt, size int64, payload func(p []byte) (bool, error)) error {
	if size < Overhead {
		return fmt.Errorf("%w: %d bytes, shorter than a header and a trailer", ErrCorrupt, size)
	}
	var h [headerSize]byte
	if _, err := src.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("partfile: reading the header: %w", err)
	}
	if !bytes.Equal(h[:8], headerMagic[:]) || binary.LittleEndian.Uint32(h[8:]) != version {
		return fmt.Errorf("%w: not a partition file of version %d", ErrCorrupt, version)
	}
	var t [trailerSize]byte
	if _, err := src.ReadAt(t[:], size-trailerSize); err != nil {
		return fmt.Errorf("partfile: reading the trailer: %w", err)
	}
	if !bytes.Equal(t[:8], trailerMagic[:]) {
		return fmt.Errorf("%w: no trailer (a file cut short?)", ErrCorrupt)
	}
	if crc32.Checksum(t[:24], crcTable) != binary.LittleEndian.Uint32(t[24:]) {
		return fmt.Errorf("%w: the trailer's checksum does not match", ErrCorrupt)
	}
	frames, blocksLen := binary.LittleEndian.Uint64(t[8:]), binary.LittleEndian.Uint64(t[16:])
	if blocksLen != uint64(size-Overhead) {
		return fmt.Errorf("%w: the trailer records %d bytes of blocks, the file holds %d", ErrCorrupt, blocksLen, size-Overhead)
	}
	r := block.NewReader(io.NewSectionReader(src, headerSize, size-Overhead))
	var seen uint64
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("partfile: %w", err)
		}
		for q := p; len(q) > 0; seen++ {
			_, rest, err := block.NextFrame(q)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			q = rest
		}
		more, err := payload(p)
		if err != nil || !more {
			return err
		}
	}
	if seen != frames {
		return fmt.Errorf("%w: %d frames, the trailer records %d", ErrCorrupt, seen, frames)
	}
	return nil
}

// EachFile is Each of the file at path.
func EachFile(path string, payload func(p []byte) (bool, error)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("partfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("partfile: %w", err)
	}
	if err := Each(f, st.Size(), payload); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
