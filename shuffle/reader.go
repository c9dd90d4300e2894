package shuffle

import (
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/internal/block"
)

// SectionBlocks returns a block reader of the n bytes at off in r: one
// partition's range of a data file.
func SectionBlocks(r io.ReaderAt, off, n int64) *block.Reader {
	return block.NewReader(io.NewSectionReader(r, off, n))
}

// PartitionReader reads the blocks of one partition of a map output.
type PartitionReader struct {
	f        *os.File
	blocks   *block.Reader
	dataPath string
	part     int
	off, n   int64
}

// OpenPartition opens partition p of the map output in dataPath and
// indexPath. It checks the index, and that the data file has the size the
// index says, before returning.
func OpenPartition(dataPath, indexPath string, p int) (*PartitionReader, error) {
	offsets, err := ReadIndex(indexPath)
	if err != nil {
		return nil, err
	}
	if n := len(offsets) - 1; p < 0 || p >= n {
		return nil, fmt.Errorf("shuffle: partition %d out of range: %s has %d partitions", p, indexPath, n)
	}
	f, err := os.Open(dataPath)
	if err != nil {
		return nil, fmt.Errorf("shuffle: opening map output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shuffle: opening map output: %w", err)
	}
	if size, want := fi.Size(), offsets[len(offsets)-1]; size != want {
		f.Close()
		return nil, fmt.Errorf("%w %s: says the data is %d bytes, but %s has %d", ErrCorruptIndex, indexPath, want, dataPath, size)
	}
	off, end := offsets[p], offsets[p+1]
	return &PartitionReader{
		f:        f,
		blocks:   SectionBlocks(f, off, end-off),
		dataPath: dataPath,
		part:     p,
		off:      off,
		n:        end - off,
	}, nil
}

// Next returns the raw payload of the partition's next block, valid until
// the next call; io.EOF at the end of the partition. Corrupt data gives an
// error wrapping block.ErrCorrupt.
func (r *PartitionReader) Next() ([]byte, error) {
	p, err := r.blocks.Next()
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("shuffle: %s partition %d (bytes %d to %d): %w", r.dataPath, r.part, r.off, r.off+r.n, err)
	}
	return p, err
}

// Close closes the data file.
func (r *PartitionReader) Close() error { return r.f.Close() }
