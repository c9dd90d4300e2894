package rdd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/internal/compress"
	"github.com/sluicehq/sluice/internal/task"
)

// Parquet reads Parquet files into values of T, a struct whose fields name
// columns as github.com/parquet-go/parquet-go maps them (a `parquet:"name"`
// tag, else the field's name; nested structs, slices and maps are groups
// and repeated fields). Only the columns T has are read (column
// projection): a file's other columns are not decoded, nor even read from
// disk. A column of T that a file lacks is an error naming both, not a
// zero. Each file is one split (small files share partitions). A row group
// that does not decode is a bad record: the task fails with a
// *RecordError naming the file and row group, or, with --skip-bad-records
// N, the rest of the row group is skipped and its rows counted.
func Parquet[T any](paths ...string) *RDD[T] { return ParquetWith[T](TextOptions{}, paths...) }

// ParquetWith is Parquet with options: how small files are packed into
// partitions.
func ParquetWith[T any](opt TextOptions, paths ...string) *RDD[T] {
	opt.wholeFiles = true
	schema, err := parquetSchemaOf[T]()
	r := splitSource("Parquet", opt, paths, func(ctx context.Context, tc *task.Context, s fileSplit, yield func(T) bool) error {
		return readParquet(ctx, tc, s, schema, yield)
	})
	if err != nil {
		r.fail(fmt.Errorf("rdd: Parquet at %s: %w", callSite(1), err))
	}
	return r
}

// parquetSchemaOf returns the Parquet schema of T, or why T has none.
func parquetSchemaOf[T any]() (schema *parquet.Schema, err error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("the element type %v is not a struct, which Parquet rows need", t)
	}
	defer func() {
		if p := recover(); p != nil {
			schema, err = nil, fmt.Errorf("%v has no Parquet schema: %v", t, p)
		}
	}()
	var zero T
	return parquet.SchemaOf(zero), nil
}

// parquetBatch is how many rows a reader decodes at a time.
const parquetBatch = 256

func readParquet[T any](ctx context.Context, tc *task.Context, s fileSplit, schema *parquet.Schema, yield func(T) bool) (err error) {
	f, err := openSplit(ctx, s)
	if err != nil {
		return err
	}
	defer f.Close()
	if compress.ForPath(s.Path) != compress.None {
		return Permanent(fmt.Errorf("rdd: Parquet: %s: a Parquet file compresses its pages itself; the file must not be compressed whole", s.Path))
	}
	file, err := openParquet(f, s)
	if err != nil {
		return err
	}
	for _, col := range schema.Columns() {
		if _, ok := file.Schema().Lookup(col...); !ok {
			return Permanent(fmt.Errorf("rdd: Parquet: %s has no column %s, which the element type has (columns: %s)",
				s.Path, strings.Join(col, "."), parquetColumns(file.Schema())))
		}
	}
	rows := make([]T, parquetBatch)
	for i, rg := range file.RowGroups() {
		done, stop, err := readRowGroup(ctx, rg, rows, yield)
		if stop || err == nil {
			if stop {
				return nil
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrPermanent) {
			return err
		}
		e := &RecordError{Format: "Parquet", File: s.Path, RowGroup: i, Err: err}
		if err := badRecords(tc, e, rg.NumRows()-done); err != nil {
			return err
		}
	}
	return nil
}

// openParquet reads a file's footer; a library panic on a malformed file
// is an error naming the file.
func openParquet(f inputFile, s fileSplit) (file *parquet.File, err error) {
	if err := checkParquetFooter(f, s); err != nil {
		return nil, Permanent(fmt.Errorf("rdd: Parquet: %s is not a valid Parquet file: %w", s.Path, err))
	}
	defer func() {
		if p := recover(); p != nil {
			file, err = nil, Permanent(fmt.Errorf("rdd: Parquet: %s is not a valid Parquet file: %v", s.Path, p))
		}
	}()
	file, err = parquet.OpenFile(f, s.Size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, Permanent(fmt.Errorf("rdd: Parquet: %s is not a valid Parquet file: %w", s.Path, err))
	}
	return file, nil
}

// maxParquetFooter bounds a file's footer (its metadata), which the
// library reads whole into memory.
const maxParquetFooter = 256 << 20

// checkParquetFooter checks a file's magic numbers and that its footer
// fits in it, before the library allocates what the footer's length
// claims.
func checkParquetFooter(f inputFile, s fileSplit) error {
	if s.Size < 12 {
		return fmt.Errorf("%d bytes is too short", s.Size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(tail[:], s.Size-8); err != nil {
		return err
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		if string(tail[4:]) == "PARE" {
			return errors.New("its footer is encrypted, which Sluice does not read")
		}
		return fmt.Errorf("it does not begin and end with PAR1 (%q, %q)", head, tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > s.Size-12 || n > maxParquetFooter {
		return fmt.Errorf("its footer claims %d bytes of a %d-byte file", n, s.Size)
	}
	return nil
}

// readRowGroup yields the rows of rg, reading only T's columns; done
// counts the rows yielded. A library panic is an error.
func readRowGroup[T any](ctx context.Context, rg parquet.RowGroup, rows []T, yield func(T) bool) (done int64, stop bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed: %v", p)
		}
	}()
	r := parquet.NewGenericRowGroupReader[T](rg)
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return done, false, err
		}
		clear(rows)
		n, err := r.Read(rows)
		for _, row := range rows[:n] {
			done++
			if !yield(row) {
				return done, true, nil
			}
		}
		if err == io.EOF {
			return done, false, nil
		}
		if err != nil {
			return done, false, err
		}
	}
}

func parquetColumns(s *parquet.Schema) string {
	var names []string
	for _, c := range s.Columns() {
		names = append(names, strings.Join(c, "."))
	}
	return strings.Join(names, ", ")
}

// parquetCodec is the page compression of a Parquet output: snappy by
// default, as Spark and Hive write it.
func parquetCodec(c string) (parquet.WriterOption, string, error) {
	switch c {
	case "", "snappy":
		return parquet.Compression(&parquet.Snappy), ".snappy", nil
	case "gzip":
		return parquet.Compression(&parquet.Gzip), ".gz", nil
	case "zstd":
		return parquet.Compression(&parquet.Zstd), ".zstd", nil
	case "none":
		return parquet.Compression(&parquet.Uncompressed), "", nil
	}
	return nil, "", fmt.Errorf("--output-codec %s cannot compress Parquet pages: use snappy, gzip, zstd or none", c)
}

// parquetRowGroupBytes is the most a Parquet writer buffers before it
// writes a row group: a task's buffers stay within its memory budget.
func parquetRowGroupBytes(tc *task.Context) int64 {
	return max(1<<20, min(128<<20, tc.Memory/2))
}

// writeParquet writes partition part of r to w as one Parquet file.
func (r *RDD[T]) writeParquet(ctx context.Context, tc *task.Context, part int, codec string, w io.Writer) (err error) {
	opt, _, err := parquetCodec(codec)
	if err != nil {
		return err
	}
	pw := parquet.NewGenericWriter[T](w, opt)
	limit := parquetRowGroupBytes(tc)
	var flushed int64
	batch := make([]T, 0, parquetBatch)
	flush := func() error {
		if _, err := pw.Write(batch); err != nil {
			return err
		}
		batch = batch[:0]
		if size := pw.Size(); size-flushed > limit {
			if err := pw.Flush(); err != nil {
				return err
			}
			flushed = pw.Size()
		}
		return nil
	}
	var werr error
	err = r.iterate(ctx, tc, part, func(t T) bool {
		batch = append(batch, t)
		if len(batch) == cap(batch) {
			werr = flush()
		}
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil {
		err = pw.Close()
	}
	if err != nil {
		return fmt.Errorf("rdd: SaveAsParquet: %w", err)
	}
	return nil
}
