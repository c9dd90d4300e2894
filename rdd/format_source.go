package rdd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrBadRecord is wrapped by the error of an input record that its format
// cannot decode (a *RecordError): a line that is not JSON, a CSV row with
// the wrong number of fields, a Parquet row group that does not decode.
// It is registered, so errors.Is finds it on a cluster too.
var ErrBadRecord = RegisterError(errors.New("rdd: bad record"))

// RecordError is a malformed input record: where it is and what is wrong.
type RecordError struct {
	Format   string // "JSON lines", "CSV", "Parquet"
	File     string
	Line     int64 // the record's first line, from 1; 0 for Parquet
	RowGroup int   // Parquet: the row group, from 0; -1 otherwise
	Err      error
}

func (e *RecordError) Error() string {
	where := e.File
	switch {
	case e.Line > 0:
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	case e.RowGroup >= 0:
		where = fmt.Sprintf("%s row group %d", e.File, e.RowGroup)
	}
	return fmt.Sprintf("rdd: %s: bad record at %s: %v", e.Format, where, e.Err)
}

// Unwrap returns ErrBadRecord and the decoder's error.
func (e *RecordError) Unwrap() []error { return []error{ErrBadRecord, e.Err} }

// badRecord handles a malformed record in a task: an error that fails
// the task (permanent: the input reads the same on retry) unless the
// session skips bad records (--skip-bad-records N), which counts it in
// the task's metrics; past N in this task alone, the job cannot succeed,
// and the task fails at once. The driver checks the job's total.
func badRecord(tc *task.Context, e *RecordError) error { return badRecords(tc, e, 1) }

// badRecords is badRecord for n records (the rest of a row group).
func badRecords(tc *task.Context, e *RecordError, n int64) error {
	limit := tc.IO.SkipBadRecords
	if limit <= 0 {
		return Permanent(e)
	}
	tc.Metrics.BadRecords += n
	if tc.Metrics.BadRecordSample == "" {
		tc.Metrics.BadRecordSample = e.Error()
	}
	if tc.Metrics.BadRecords > limit {
		return Permanent(fmt.Errorf("%w (%d bad records in one task, more than --skip-bad-records %d allows)", e, tc.Metrics.BadRecords, limit))
	}
	return nil
}

// lineNumbers gives the line numbers of a split's lines, which it counts
// from the split's first line: the count of lines before that line is
// only needed for an error, and is computed then, once per split, by
// reading the file up to it.
type lineNumbers struct {
	s     fileSplit
	first int64 // offset of the split's first line; -1 before it
	base  int64 // lines before first; -1 until needed
	n     int64 // lines of the split so far
}

func newLineNumbers(s fileSplit) *lineNumbers { return &lineNumbers{s: s, first: -1, base: -1} }

// next records a line at off and returns its index in the split.
func (l *lineNumbers) next(off int64) {
	if l.first < 0 {
		l.first = off
	}
	l.n++
}

// current returns the line number, from 1, of the last line next saw.
func (l *lineNumbers) current(ctx context.Context) int64 {
	if l.base < 0 {
		l.base = 0
		if l.first > 0 {
			n, err := countLines(ctx, l.s, l.first)
			if err != nil {
				return 0 // the error then names the file alone
			}
			l.base = n
		}
	}
	return l.base + l.n
}

// countLines counts the newlines in the first end bytes of s's file
// (decompressed).
func countLines(ctx context.Context, s fileSplit, end int64) (int64, error) {
	s.Start, s.End = 0, end
	r, closeFn, _, err := openDecompressed(ctx, s)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	buf := make([]byte, min(end, readChunkBytes))
	var n int64
	for end > 0 {
		k, err := r.Read(buf[:min(int64(len(buf)), end)])
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		end -= int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Line is a line of text with where it came from: the key of Hadoop's
// TextInputFormat (the byte offset of the line) and its file.
type Line struct {
	File   string // the path as planned: as given, or found under a directory or by a glob
	Offset int64  // of the line's first byte in the file; in a compressed file, in its decompressed bytes
	Text   string // without its "\n" (and "\r")
}

// TextFileLines is TextFile, each line with its file and byte offset.
func TextFileLines(paths ...string) *RDD[Line] {
	return TextFileLinesWith(TextOptions{}, paths...)
}

// TextFileLinesWith is TextFileLines with options.
func TextFileLinesWith(opt TextOptions, paths ...string) *RDD[Line] {
	return splitSource("TextFileLines", opt, paths, func(ctx context.Context, tc *task.Context, s fileSplit, yield func(Line) bool) error {
		return readLinesAt(ctx, s, func(off int64, line string) bool {
			return yield(Line{File: s.Path, Offset: off, Text: line})
		})
	})
}

// maxWholeFile bounds a file that WholeTextFiles reads (decompressed):
// each is one element, held in memory and encoded whole.
const maxWholeFile = 256 << 20

// WholeTextFiles reads each file whole, as Spark's wholeTextFiles does: one
// (file name, content) pair per file, compressed files decompressed
// (files past 256 MiB are an error). Paths are as TextFile takes them;
// small files share partitions.
func WholeTextFiles(paths ...string) *RDD[Pair[string, string]] {
	return WholeTextFilesWith(TextOptions{}, paths...)
}

// WholeTextFilesWith is WholeTextFiles with options (MaxSplitBytes sets
// how many bytes of files a partition packs).
func WholeTextFilesWith(opt TextOptions, paths ...string) *RDD[Pair[string, string]] {
	opt.wholeFiles = true
	return splitSource("WholeTextFiles", opt, paths, func(ctx context.Context, tc *task.Context, s fileSplit, yield func(Pair[string, string]) bool) error {
		content, err := readWhole(ctx, s)
		if err != nil {
			return err
		}
		yield(KV(s.Path, content))
		return nil
	})
}

func readWhole(ctx context.Context, s fileSplit) (string, error) {
	if s.Size == 0 {
		f, err := openSplit(ctx, s)
		if err != nil {
			return "", err
		}
		return "", f.Close()
	}
	r, closeFn, _, err := openDecompressed(ctx, s)
	if err != nil {
		return "", err
	}
	defer closeFn()
	var b strings.Builder
	n, err := io.Copy(&b, io.LimitReader(r, maxWholeFile+1))
	if err != nil {
		if errors.Is(err, ErrPermanent) {
			return "", err
		}
		return "", fmt.Errorf("rdd: WholeTextFiles: %s: %w", s.Path, err)
	}
	if n > maxWholeFile {
		return "", Permanent(fmt.Errorf("rdd: WholeTextFiles: %s is larger than %d MiB: read it with TextFile", s.Path, maxWholeFile>>20))
	}
	return b.String(), nil
}
