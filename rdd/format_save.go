package rdd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/compress"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/task"
)

// The output formats of the SaveAs actions, as task.Action.Format names
// them.
const (
	formatText    = ""
	formatJSON    = "json"
	formatCSV     = "csv" // "csv" or "csv:" + the separator + (":noheader")
	formatParquet = "parquet"
)

// SaveOption changes how a SaveAs action writes.
type SaveOption func(*saveOptions)

type saveOptions struct {
	codec    string
	codecSet bool
	csv      CSVOptions
}

// WithCodec compresses the part files with codec: "gzip", "zstd",
// "snappy" or "none" (for Parquet, the compression of its pages:
// "snappy", "gzip", "zstd" or "none"), whatever --output-codec says.
func WithCodec(codec string) SaveOption {
	return func(o *saveOptions) { o.codec, o.codecSet = codec, true }
}

// WithCSV sets SaveAsCSV's separator (Comma) and whether it writes a
// header row (NoHeader); its other fields are for reading.
func WithCSV(opt CSVOptions) SaveOption { return func(o *saveOptions) { o.csv = opt } }

// SaveAsJSONLines writes r as JSON lines, one encoding/json value per
// line, into dir as SaveAsTextFile does: part-NNNNN.json (with the
// codec's extension, part-00000.json.gz), then _SUCCESS. A string that
// is not valid UTF-8 fails the task, since JSON would change it.
func SaveAsJSONLines[T any](ctx context.Context, run Runner, r *RDD[T], dir string, opts ...SaveOption) error {
	if err := checkJSON[T](); err != nil {
		return err
	}
	return save(ctx, run, r, dir, "SaveAsJSONLines", formatJSON, opts)
}

// SaveAsCSV writes r as CSV into dir as SaveAsTextFile does:
// part-NNNNN.csv (with the codec's extension), then _SUCCESS. T is a
// struct, whose fields are columns as CSV reads them and each part file
// begins with a header row, or []string, written as it is with no
// header. Fields are quoted as RFC 4180 needs; CSV itself cannot keep
// "\r\n" inside a field apart from "\n": readers (Go's, Python's, Spark's)
// turn it into "\n".
func SaveAsCSV[T any](ctx context.Context, run Runner, r *RDD[T], dir string, opts ...SaveOption) error {
	var o saveOptions
	for _, f := range opts {
		f(&o)
	}
	if _, err := csvSchemaOf[T](o.csv); err != nil {
		return fmt.Errorf("rdd: SaveAsCSV at %s: %w", callSite(1), err)
	}
	format := formatCSV
	if o.csv.Comma != 0 || o.csv.NoHeader {
		format += ":" + string(cmpRune(o.csv.Comma, ','))
		if o.csv.NoHeader {
			format += ":noheader"
		}
	}
	return save(ctx, run, r, dir, "SaveAsCSV", format, opts)
}

func cmpRune(r, def rune) rune {
	if r == 0 {
		return def
	}
	return r
}

// SaveAsParquet writes r as Parquet into dir as SaveAsTextFile does: one
// file part-NNNNN.CODEC.parquet per partition (part-00000.snappy.parquet,
// as Spark names them), then _SUCCESS. T is a struct, mapped to columns as
// Parquet reads them. Pages are compressed with snappy unless
// --output-codec or WithCodec says otherwise; a row group is written
// whenever the writer holds 128 MiB (or half of --memory).
func SaveAsParquet[T any](ctx context.Context, run Runner, r *RDD[T], dir string, opts ...SaveOption) error {
	if _, err := parquetSchemaOf[T](); err != nil {
		return fmt.Errorf("rdd: SaveAsParquet at %s: %w", callSite(1), err)
	}
	return save(ctx, run, r, dir, "SaveAsParquet", formatParquet, opts)
}

// ioSettingsOf is what a Runner may tell actions of the session's file
// settings: the driver's Session does (--output-codec).
type ioSettingsOf interface{ IOSettings() task.IOSettings }

// outputCodec resolves the codec of a save: an option, else the session's
// --output-codec, else none; checked here, in the driver, before any task
// runs.
func outputCodec(run Runner, format string, opts []SaveOption) (string, error) {
	var o saveOptions
	for _, f := range opts {
		f(&o)
	}
	c, flag := o.codec, "WithCodec"
	if !o.codecSet {
		if s, ok := run.(ioSettingsOf); ok {
			c, flag = s.IOSettings().OutputCodec, "--output-codec"
		}
	}
	if format == formatParquet {
		if _, _, err := parquetCodec(c); err != nil {
			return "", fmt.Errorf("%s: %w", flag, err)
		}
		return c, nil
	}
	codec, err := compress.Parse(c)
	if err == nil && !codec.CanWrite() {
		_, err = codec.NewWriter(nil)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return codec.String(), nil
}

// partSuffix is the suffix of a part file's name for format and codec.
func partSuffix(format, codec string) (string, error) {
	if format == formatParquet {
		_, s, err := parquetCodec(codec)
		return s + ".parquet", err
	}
	c, err := compress.Parse(codec)
	if err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(format, ":")
	if name != "" {
		name = "." + name
	}
	return name + c.Ext(), nil
}

// save runs a SaveAs action: every partition written by one committed
// task attempt under dir/_temporary, then the job commit.
func save[T any](ctx context.Context, run Runner, r *RDD[T], dir, action, format string, opts []SaveOption) error {
	if dir == "" {
		return fmt.Errorf("rdd: %s: empty output directory name", action)
	}
	codec, err := outputCodec(run, format, opts)
	if err != nil {
		return fmt.Errorf("rdd: %s: %w", action, err)
	}
	g, err := r.graph()
	if err != nil {
		return err
	}
	name := jobName(callers())
	if objstore.IsURL(dir) {
		return saveObjects(ctx, run, r, g, dir, action, name, task.Action{Kind: task.ActSave, Path: dir, Format: format, Codec: codec})
	}
	created, err := commit.SetupJob(dir)
	if err != nil {
		return fmt.Errorf("rdd: %s: %w", action, err)
	}
	if err := g.prepare(ctx, run, r.n); err != nil {
		commit.AbortJob(dir, created)
		return err
	}
	parts := make([]int, r.n.parts)
	for i := range parts {
		parts[i] = i
	}
	err = run.RunJob(ctx, &task.Job{
		Name:  name,
		Graph: g.pub, Node: r.n.id, Partitions: parts,
		Action: task.Action{Kind: task.ActSave, Path: dir, Format: format, Codec: codec},
		Result: func(int, []byte) error { return nil },
	})
	if err == nil {
		if err = commit.CommitJob(dir, len(parts)); err != nil {
			err = fmt.Errorf("rdd: %s: %w", action, err)
		}
	}
	if err != nil {
		commit.AbortJob(dir, created)
	}
	return err
}

// savePartition writes one partition as a task attempt of the output
// commit protocol (internal/commit): to the attempt's temporary file, then
// committed if the driver authorises this attempt.
func (r *RDD[T]) savePartition(ctx context.Context, tc *task.Context, part int, act task.Action) error {
	suffix, err := partSuffix(act.Format, act.Codec)
	if err != nil {
		return Permanent(fmt.Errorf("rdd: save: %w", err))
	}
	a, err := commit.NewAttempt(act.Path, tc.Stage, part, tc.Attempt)
	if err != nil {
		return fmt.Errorf("rdd: save: %w", err)
	}
	if err := r.writeFormat(ctx, tc, part, act, a.PathWithSuffix(suffix)); err != nil {
		a.Abort()
		return err
	}
	ok, err := a.Commit(ctx, tc.Commit)
	if err == nil && !ok {
		err = fmt.Errorf("%w: partition %d attempt %d", task.ErrCommitDenied, part, tc.Attempt)
	}
	return err
}

// writeFormat writes partition part to the file path in act's format.
func (r *RDD[T]) writeFormat(ctx context.Context, tc *task.Context, part int, act task.Action, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("rdd: save: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			f.Close() // user code panicked
		}
	}()
	err = r.writeFormatTo(ctx, tc, part, act, f)
	closed = true
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFormatTo writes partition part to w in act's format (and codec),
// through a buffer it flushes.
func (r *RDD[T]) writeFormatTo(ctx context.Context, tc *task.Context, part int, act task.Action, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var err error
	if act.Format == formatParquet {
		err = r.writeParquet(ctx, tc, part, act.Codec, bw)
	} else {
		err = r.writeRecords(ctx, tc, part, act, bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	return err
}

// writeRecords writes the records of a line-based format through the
// codec.
func (r *RDD[T]) writeRecords(ctx context.Context, tc *task.Context, part int, act task.Action, bw *bufio.Writer) error {
	c, err := compress.Parse(act.Codec)
	if err != nil {
		return Permanent(err)
	}
	cw, err := c.NewWriter(bw)
	if err != nil {
		return Permanent(err)
	}
	appendRecord, header, err := recordAppender[T](act.Format)
	if err != nil {
		return Permanent(err)
	}
	var line []byte
	var werr error
	if header != nil {
		_, werr = cw.Write(header)
	}
	if werr == nil {
		err = r.iterate(ctx, tc, part, func(t T) bool {
			line, werr = appendRecord(line[:0], t)
			if werr == nil {
				_, werr = cw.Write(line)
			}
			return werr == nil
		})
	}
	if err == nil {
		err = werr
	}
	if err == nil {
		err = cw.Close()
	}
	return err
}

// recordAppender returns how format writes a record of T (with its
// "\n"), and the header line that begins each file, if any.
func recordAppender[T any](format string) (func([]byte, T) ([]byte, error), []byte, error) {
	name, args, _ := strings.Cut(format, ":")
	switch name {
	case formatText:
		return func(dst []byte, t T) ([]byte, error) { return append(appendText(dst, t), '\n'), nil }, nil, nil
	case formatJSON:
		return func(dst []byte, t T) ([]byte, error) {
			b, err := appendJSONLine(dst, t)
			if err != nil {
				err = Permanent(fmt.Errorf("rdd: SaveAsJSONLines: %w", err))
			}
			return b, err
		}, nil, nil
	case formatCSV:
		opt := CSVOptions{Comma: ','}
		if args != "" {
			sep, size := utf8.DecodeRuneInString(args)
			opt.Comma, opt.NoHeader = sep, args[size:] == ":noheader"
		}
		schema, err := csvSchemaOf[T](opt)
		if err != nil {
			return nil, nil, err
		}
		w := &csvWriter{comma: opt.Comma, schema: schema}
		if schema == nil {
			return func(dst []byte, t T) ([]byte, error) {
				return w.appendRecord(dst, any(t).([]string)), nil
			}, nil, nil
		}
		var header []byte
		if !opt.NoHeader {
			header = w.appendRecord(nil, schema.names)
		}
		fields := make([]string, len(schema.names))
		var buf []byte
		return func(dst []byte, t T) ([]byte, error) {
			v := reflect.ValueOf(&t).Elem()
			buf = buf[:0]
			ends := make([]int, len(fields))
			for i := range fields {
				var err error
				if buf, err = schema.appendField(buf, v, i); err != nil {
					return dst, Permanent(fmt.Errorf("rdd: SaveAsCSV: column %q: %w", schema.names[i], err))
				}
				ends[i] = len(buf)
			}
			s := string(buf)
			start := 0
			for i, e := range ends {
				fields[i], start = s[start:e], e
			}
			return w.appendRecord(dst, fields), nil
		}, header, nil
	}
	return nil, nil, errors.New("rdd: save: unknown format " + format)
}
