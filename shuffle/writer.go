package shuffle

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/block"
)

// writeBufferSize batches block writes into few syscalls.
const writeBufferSize = 256 << 10

// errDone reports use of a Writer after Commit or Abort.
var errDone = errors.New("shuffle: map output already committed or aborted")

// Writer writes one map task's output for numPartitions reduce partitions.
// Records go to the current partition, which only moves forward; nothing is
// visible under the final names until Commit. A Writer is not safe for
// concurrent use.
type Writer struct {
	dataPath, indexPath string
	data, index         *os.File // temporary files until Commit
	bw                  *bufio.Writer
	blk                 *block.Writer
	offsets             []int64 // offsets[p] = start of partition p
	cur                 int
	done                bool // committed or aborted
}

// Create starts a map output for numPartitions partitions, compressed with
// c. It writes to temporary files "<path>.tmp-<random>" beside dataPath and
// indexPath.
func Create(dataPath, indexPath string, numPartitions int, c block.Codec) (*Writer, error) {
	if numPartitions < 1 || numPartitions > 1<<30 {
		return nil, fmt.Errorf("shuffle: %d partitions, want 1 to %d", numPartitions, 1<<30)
	}
	if !c.Valid() {
		return nil, fmt.Errorf("shuffle: unknown codec %s", c)
	}
	if dataPath == indexPath {
		return nil, fmt.Errorf("shuffle: data and index are the same file %s", dataPath)
	}
	data, err := createTemp(dataPath)
	if err != nil {
		return nil, err
	}
	index, err := createTemp(indexPath)
	if err != nil {
		data.Close()
		os.Remove(data.Name())
		return nil, err
	}
	bw := bufio.NewWriterSize(data, writeBufferSize)
	return &Writer{
		dataPath:  dataPath,
		indexPath: indexPath,
		data:      data,
		index:     index,
		bw:        bw,
		blk:       block.NewWriter(bw, c),
		offsets:   make([]int64, numPartitions+1),
	}, nil
}

func createTemp(path string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("shuffle: creating map output: %w", err)
	}
	return f, nil
}

// Partition makes p the partition that the following records belong to. p
// must not be less than the current partition (initially 0); moving on ends
// the current partition's last block.
func (w *Writer) Partition(p int) error {
	if w.done {
		return errDone
	}
	if p == w.cur {
		return nil
	}
	if p < w.cur || p >= len(w.offsets)-1 {
		return fmt.Errorf("shuffle: Partition(%d) after partition %d of %d: partitions must be written in ascending order", p, w.cur, len(w.offsets)-1)
	}
	if err := w.blk.Flush(); err != nil {
		return fmt.Errorf("shuffle: writing %s: %w", w.dataPath, err)
	}
	for q := w.cur + 1; q <= p; q++ {
		w.offsets[q] = w.blk.Written()
	}
	w.cur = p
	return nil
}

// Frame appends one frame to the current record.
func (w *Writer) Frame(b []byte) { w.blk.Frame(b) }

// EndRecord ends the current record.
func (w *Writer) EndRecord() error {
	if w.done {
		return errDone
	}
	if err := w.blk.EndRecord(); err != nil {
		return fmt.Errorf("shuffle: writing %s: %w", w.dataPath, err)
	}
	return nil
}

// Commit finishes the output and moves it into place: the data file first,
// then the index, so an index never appears without its data. sizes[p] is
// the byte length of partition p in the data file. On error the temporary
// files are removed.
func (w *Writer) Commit() (sizes []int64, err error) {
	if w.done {
		return nil, errDone
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if err := w.blk.Flush(); err != nil {
		return nil, fmt.Errorf("shuffle: writing %s: %w", w.dataPath, err)
	}
	if err := w.bw.Flush(); err != nil {
		return nil, fmt.Errorf("shuffle: writing %s: %w", w.dataPath, err)
	}
	n := len(w.offsets) - 1
	for q := w.cur + 1; q <= n; q++ {
		w.offsets[q] = w.blk.Written()
	}
	if _, err := w.index.Write(appendIndex(make([]byte, 0, IndexSize(n)), w.offsets)); err != nil {
		return nil, fmt.Errorf("shuffle: writing %s: %w", w.indexPath, err)
	}
	if err := w.data.Close(); err != nil {
		return nil, fmt.Errorf("shuffle: writing %s: %w", w.dataPath, err)
	}
	if err := w.index.Close(); err != nil {
		return nil, fmt.Errorf("shuffle: writing %s: %w", w.indexPath, err)
	}
	if err := os.Rename(w.data.Name(), w.dataPath); err != nil {
		return nil, fmt.Errorf("shuffle: committing map output: %w", err)
	}
	if err := os.Rename(w.index.Name(), w.indexPath); err != nil {
		// The data stays: it is unreachable without a new index, and if an
		// earlier attempt's index is in place, this data is byte-identical
		// to the data that index describes.
		return nil, fmt.Errorf("shuffle: committing map output: %w", err)
	}
	w.done = true
	sizes = make([]int64, n)
	for p := range sizes {
		sizes[p] = w.offsets[p+1] - w.offsets[p]
	}
	return sizes, nil
}

// Abort closes and removes the temporary files. It does nothing after
// Commit and is safe to call more than once.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.data.Close()
	w.index.Close()
	os.Remove(w.data.Name())
	os.Remove(w.index.Name())
}
