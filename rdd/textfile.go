package rdd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/compress"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/task"
)

// Split sizes, as in Hadoop's FileInputFormat: a split is at most
// maxSplitSize bytes, smaller when that gives fewer than the minimum number
// of partitions, and the last split of a file may run splitSlop over.
const (
	maxSplitSize   = 32 << 20
	minSplitSize   = 1 << 10
	splitSlop      = 1.1
	maxLineLength  = 64 << 20 // a longer "line" (binary input) fails the task
	readChunkBytes = 1 << 20
)

// fileSplit is a byte range of one file that one task reads. Size and
// ModTime (Unix nanoseconds) are the file's when the job was planned: a
// task that finds them changed fails, instead of reading half a file that
// is being rewritten. Zero values are not checked.
type fileSplit struct {
	Path       string
	Start, End int64
	Size       int64
	ModTime    int64
	KeepCR     bool // TextOptions.KeepCR
}

// ErrInputChanged is wrapped by the error of a task whose input file
// changed after the job was planned.
var ErrInputChanged = errors.New("rdd: TextFile: an input file changed while the job ran")

// TextOptions sets how TextFileWith splits its input.
type TextOptions struct {
	MinPartitions int   // at least this many splits when the input is large enough (0: the default, 2)
	MaxSplitBytes int64 // no split larger than this (default 32 MiB)
	KeepCR        bool  // keep a line's trailing "\r" (a byte-exact sort needs it), which TextFile drops

	wholeFiles bool // one split per file (formats whose records may span lines)
}

// TextFile reads lines of text from files, directories (every file under
// them, skipping names that start with "." or "_", as Hadoop does) and
// glob patterns. Lines end at "\n"; a trailing "\r" is dropped; a last line
// without a newline is a line. Each file is cut into byte ranges and each
// line belongs to the range its first byte is in, as Hadoop's
// LineRecordReader does, so no line is lost or read twice at a cut.
// Files ending in .gz, .zst, .bz2, .sz or .snappy are decompressed (see
// internal/compress); a compressed file cannot be cut, so it is one split.
func TextFile(paths ...string) *RDD[string] {
	return TextFileWith(TextOptions{}, paths...)
}

// TextFileWith is TextFile with options.
func TextFileWith(opt TextOptions, paths ...string) *RDD[string] {
	return splitSource("TextFile", opt, paths, func(ctx context.Context, tc *task.Context, s fileSplit, yield func(string) bool) error {
		return readLines(ctx, s, yield)
	})
}

// splitSource makes a source that plans paths into splits as opt says,
// packs small ones into partitions, and reads each split with read.
func splitSource[T any](name string, opt TextOptions, paths []string, read func(context.Context, *task.Context, fileSplit, func(T) bool) error) *RDD[T] {
	var splits []fileSplit
	var err error
	if opt.MinPartitions < 0 {
		err = fmt.Errorf("rdd: %sWith(MinPartitions: %d) at %s: the number of partitions must be at least 1, or 0 for the default (2)",
			name, opt.MinPartitions, callSite(2))
	} else {
		splits, err = planSplits(opt, paths...)
	}
	for i := range splits {
		splits[i].KeepCR = opt.KeepCR
	}
	packed := packSplits(splits, splitBytes(opt, splits))
	parts := max(len(packed), 1)
	r := newRDD(name, parts, func(ctx context.Context, tc *task.Context, part int, yield func(T) bool) error {
		if part >= len(packed) {
			return nil
		}
		for _, s := range packed[part] {
			tc.Metrics.InputBytes += s.End - s.Start
			stop := false
			err := read(ctx, tc, s, func(t T) bool {
				if !yield(t) {
					stop = true
					return false
				}
				return true
			})
			if err != nil || stop {
				return err
			}
		}
		return nil
	})
	r.n.err = err
	// The plan is part of the lineage's digest: an executor that plans
	// other splits (a file changed in between) refuses to run the tasks.
	h := sha256.New()
	for _, s := range splits {
		fmt.Fprintf(h, "%s\x00%d %d %d %d\n", s.Path, s.Start, s.End, s.Size, s.ModTime)
	}
	r.n.plan = hex.EncodeToString(h.Sum(nil)[:8])
	r.n.inputBytes = 0
	for _, s := range splits {
		r.n.inputBytes += s.End - s.Start
	}
	return r
}

// splitBytes is the split size planSplits used for opt: the target size of
// a packed partition too.
func splitBytes(opt TextOptions, splits []fileSplit) int64 {
	var total int64
	for _, s := range splits {
		total += s.End - s.Start
	}
	return splitSize(opt, total)
}

// packSplits groups splits into partitions as Hadoop's
// CombineFileInputFormat does: consecutive small splits (whole small files)
// share a partition until it holds size bytes, so many small files make few
// tasks; a split of size bytes or more has a partition of its own.
// Partitions keep the splits' order (files by name, then offset), so
// that reading part files back gives their records in order.
func packSplits(splits []fileSplit, size int64) [][]fileSplit {
	var parts [][]fileSplit
	var cur []fileSplit
	var bytes int64
	for _, s := range splits {
		n := s.End - s.Start
		if n >= size {
			if len(cur) > 0 {
				parts = append(parts, cur)
				cur, bytes = nil, 0
			}
			parts = append(parts, []fileSplit{s})
			continue
		}
		if len(cur) > 0 && bytes+n > size {
			parts = append(parts, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, s)
		bytes += n
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// planSplits expands paths and cuts the files into splits.
func planSplits(opt TextOptions, paths ...string) ([]fileSplit, error) {
	if len(paths) == 0 {
		return nil, errors.New("rdd: TextFile needs at least one path")
	}
	type file struct {
		path    string
		size    int64
		modTime int64
	}
	var files []file
	seen := map[string]bool{}
	add := func(p string, st fs.FileInfo) {
		if !seen[p] {
			seen[p] = true
			files = append(files, file{p, st.Size(), st.ModTime().UnixNano()})
		}
	}
	for _, p := range paths {
		if objstore.IsURL(p) {
			objs, err := objectFiles(context.Background(), p)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				if !seen[o.URL] {
					seen[o.URL] = true
					files = append(files, file{o.URL, o.Size, objectModTime(o).UnixNano()})
				}
			}
			continue
		}
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := filesFor(p).Glob(p)
			if err != nil {
				return nil, fmt.Errorf("rdd: TextFile: bad pattern %q: %w", p, err)
			}
			if len(m) == 0 {
				return nil, Permanent(fmt.Errorf("rdd: TextFile: no files match %s", p))
			}
			matches = m
		}
		for _, m := range matches {
			st, err := filesFor(m).Stat(m)
			if err != nil {
				return nil, inputError(err)
			}
			if !st.IsDir() {
				if !st.Mode().IsRegular() {
					// Opening a FIFO or device could block forever.
					return nil, fmt.Errorf("rdd: TextFile: %s is not a regular file", m)
				}
				if err := checkReadable(m); err != nil {
					return nil, err
				}
				add(m, st)
				continue
			}
			err = filesFor(m).WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				name := d.Name()
				if path != m && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() || !d.Type().IsRegular() {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				if err := checkReadable(path); err != nil {
					return err
				}
				add(path, info)
				return nil
			})
			if err != nil {
				return nil, inputError(err)
			}
		}
	}
	slices.SortStableFunc(files, func(a, b file) int { return strings.Compare(a.path, b.path) })

	var total int64
	for _, f := range files {
		total += f.size
	}
	size := splitSize(opt, total)

	var splits []fileSplit
	for _, f := range files {
		whole := opt.wholeFiles || compress.ForPath(f.path) != compress.None
		if opt.wholeFiles && f.size == 0 {
			// An empty file is a (file name, "") of WholeTextFiles.
			splits = append(splits, fileSplit{Path: f.path, Size: 0, ModTime: f.modTime})
		}
		for off := int64(0); off < f.size; {
			n := min(size, f.size-off)
			if whole || float64(f.size-off) <= float64(size)*splitSlop {
				n = f.size - off
			}
			splits = append(splits, fileSplit{Path: f.path, Start: off, End: off + n, Size: f.size, ModTime: f.modTime})
			off += n
		}
	}
	return splits, nil
}

// splitSize is the size of the splits of an input of total bytes.
func splitSize(opt TextOptions, total int64) int64 {
	minParts := int64(opt.MinPartitions)
	if minParts <= 0 {
		minParts = 2
	}
	maxSplit := opt.MaxSplitBytes
	if maxSplit <= 0 {
		maxSplit = maxSplitSize
	}
	return min(maxSplit, max(minSplitSize, (total+minParts-1)/minParts))
}

func checkReadable(path string) error {
	f, err := filesFor(path).Open(path)
	if err != nil {
		return inputError(err)
	}
	return f.Close()
}

// inputError wraps an error from reaching the input. A missing file is
// permanent: Hadoop, too, fails a job whose input does not exist rather
// than wait for it.
func inputError(err error) error {
	err = fmt.Errorf("rdd: TextFile: %w", err)
	if errors.Is(err, fs.ErrNotExist) {
		return Permanent(err)
	}
	return err
}

// lineTooLong is the permanent error for a line over maxLineLength bytes:
// binary input, most likely, which a retry reads the same.
func lineTooLong(path string, at int64) error {
	return Permanent(fmt.Errorf("rdd: TextFile: %s: a line at byte %d is longer than %d MiB; is this a text file?", path, at, maxLineLength>>20))
}

// readLines yields the lines of s: those whose first byte lies in
// [s.Start, s.End). It reads a line that starts in the range to its end,
// past s.End if need be, and skips a line that began before s.Start.
func readLines(ctx context.Context, s fileSplit, yield func(string) bool) error {
	return readLinesAt(ctx, s, func(_ int64, line string) bool { return yield(line) })
}

// openSplit opens s's file or object (openSplitFile) and checks that it
// is the file that was planned (see fileSplit).
func openSplit(ctx context.Context, s fileSplit) (inputFile, error) {
	f, err := openSplitFile(ctx, s)
	if err != nil {
		return nil, inputError(err)
	}
	if s.ModTime != 0 {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("rdd: TextFile: %w", err)
		}
		if st.Size() != s.Size || st.ModTime().UnixNano() != s.ModTime {
			f.Close()
			return nil, Permanent(fmt.Errorf("%w: %s was %d bytes, modified %s, when the job was planned, and is %d bytes, modified %s, now: inputs must not change while a job reads them",
				ErrInputChanged, s.Path, s.Size, time.Unix(0, s.ModTime).UTC().Format(time.RFC3339Nano), st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano)))
		}
	}
	return f, nil
}

// openDecompressed opens a split that is a whole compressed file, or a
// plain one at s.Start; end is the offset, in what the reader yields,
// where the split ends.
func openDecompressed(ctx context.Context, s fileSplit) (r io.Reader, closeFn func(), end int64, err error) {
	f, err := openSplit(ctx, s)
	if err != nil {
		return nil, nil, 0, err
	}
	c := compress.ForPath(s.Path)
	if c == compress.None {
		return f, func() { f.Close() }, s.End, nil
	}
	if s.Start != 0 {
		f.Close()
		return nil, nil, 0, fmt.Errorf("rdd: TextFile: %s is %s-compressed and cannot be read from byte %d", s.Path, c, s.Start)
	}
	d, err := c.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, 0, decompressError(s.Path, err)
	}
	return &decompressed{d, s.Path}, func() { d.Close(); f.Close() }, math.MaxInt64, nil
}

// decompressed names the file in a decompressor's errors; corrupt data
// is permanent, as a retry reads the same bytes.
type decompressed struct {
	r    io.Reader
	path string
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = decompressError(d.path, err)
	}
	return n, err
}

func decompressError(path string, err error) error {
	err = fmt.Errorf("rdd: TextFile: %s: %w", path, err)
	if errors.Is(err, compress.ErrFormat) {
		return Permanent(err)
	}
	return err
}

// readLinesAt is readLines, yielding each line's offset too: in the file,
// or in the decompressed stream of a compressed file.
func readLinesAt(ctx context.Context, s fileSplit, yield func(off int64, line string) bool) error {
	f, closeFile, end, err := openDecompressed(ctx, s)
	if err != nil {
		return err
	}
	defer closeFile()
	s.End = end

	// pos is the file offset of buf[0]. Starting one byte early tells
	// whether s.Start begins a line: it does when that byte is a newline.
	pos := s.Start
	skip := false
	if s.Start > 0 {
		pos, skip = s.Start-1, true
		if _, err := f.(io.Seeker).Seek(pos, io.SeekStart); err != nil {
			return fmt.Errorf("rdd: TextFile: %w", err)
		}
	}
	// Small splits get small buffers; the buffer grows for long lines.
	buf := make([]byte, 0, min(readChunkBytes, min(s.End-pos, readChunkBytes)+4096))
	eof := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !eof {
			if len(buf) == cap(buf) {
				// A full buffer holds one unfinished line, from pos.
				if len(buf) > maxLineLength {
					return lineTooLong(s.Path, pos)
				}
				buf = slices.Grow(buf, min(cap(buf), maxLineLength+1-len(buf)))
			}
			n, err := f.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if errors.Is(err, ErrPermanent) {
				return err
			} else if err != nil {
				return fmt.Errorf("rdd: TextFile: %s: %w", s.Path, err)
			}
		}
		if skip {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				if eof {
					return nil
				}
				pos += int64(len(buf))
				buf = buf[:0]
				continue
			}
			pos += int64(i + 1)
			buf = buf[:copy(buf, buf[i+1:])]
			skip = false
		}
		if pos >= s.End {
			return nil
		}
		last := bytes.LastIndexByte(buf, '\n')
		if last < 0 && !(eof && len(buf) > 0) {
			if eof {
				return nil
			}
			continue
		}
		// One string per chunk: the lines are substrings of it, so a chunk
		// costs one allocation however many lines it holds.
		end := last + 1
		if eof && end < len(buf) {
			end = len(buf)
		}
		chunk := string(buf[:end])
		for len(chunk) > 0 {
			if pos >= s.End {
				return nil
			}
			i := strings.IndexByte(chunk, '\n')
			if i > maxLineLength || i < 0 && len(chunk) > maxLineLength {
				return lineTooLong(s.Path, pos)
			}
			var line string
			at := pos
			if i < 0 {
				line, chunk = chunk, ""
				pos += int64(len(line))
			} else {
				line, chunk = chunk[:i], chunk[i+1:]
				pos += int64(i + 1)
			}
			if !s.KeepCR {
				line = strings.TrimSuffix(line, "\r")
			}
			if !yield(at, line) {
				return nil
			}
		}
		buf = buf[:copy(buf, buf[end:])]
		if eof && len(buf) == 0 {
			return nil
		}
	}
}
