package rdd

import (
	"context"
	"encoding"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/task"
)

// CSVOptions sets how CSV files are read and written.
type CSVOptions struct {
	// Comma is the field separator; 0 is ','. It must not be '"', '\r',
	// '\n' or the Unicode replacement character.
	Comma rune
	// NoHeader says the files have no header row: a struct's fields are
	// the columns in order. Without it the first row of every file names
	// the columns.
	NoHeader bool
	// MinPartitions and MaxSplitBytes are TextOptions': how small files
	// are packed into partitions.
	MinPartitions int
	MaxSplitBytes int64
}

// CSV reads CSV files (RFC 4180: quoted fields may hold commas, quotes and
// newlines) with a header row into values of T, which is []string (a
// record; the header row is not one) or a struct whose exported fields
// are columns: named by a `csv:"name"` tag, else by the field's name
// (`csv:"-"` skips one), and of type string, bool, an integer, a float, or
// a type with UnmarshalText (time.Time). Columns of the file that no
// field names are ignored; a field whose column a file lacks is an error
// naming both. Compression is chosen by extension as for TextFile.
//
// A record may span lines, so a file is never cut: each file is one
// split (small files share a partition). A row that does not parse (a
// bare quote, the wrong number of fields, "x" for an int) is a bad
// record: the task fails with a *RecordError naming the file and line,
// or, with --skip-bad-records N, the row is skipped and counted.
func CSV[T any](paths ...string) *RDD[T] { return CSVWith[T](CSVOptions{}, paths...) }

// CSVWith is CSV with options.
func CSVWith[T any](opt CSVOptions, paths ...string) *RDD[T] {
	schema, err := csvSchemaOf[T](opt)
	r := splitSource("CSV", TextOptions{MinPartitions: opt.MinPartitions, MaxSplitBytes: opt.MaxSplitBytes, wholeFiles: true}, paths,
		func(ctx context.Context, tc *task.Context, s fileSplit, yield func(T) bool) error {
			return readCSV(ctx, tc, s, opt, schema, yield)
		})
	if err != nil {
		r.fail(fmt.Errorf("rdd: CSV at %s: %w", callSite(1), err))
	}
	return r
}

// csvSchema maps a struct type's fields to CSV columns; nil for []string.
type csvSchema struct {
	names  []string // column names, in field order
	goName []string // the fields' names, for errors
	fields [][]int  // field index paths
	kinds  []csvKind
	types  []reflect.Type
}

type csvKind uint8

const (
	csvString csvKind = iota
	csvBool
	csvInt
	csvUint
	csvFloat
	csvText // encoding.TextMarshaler and TextUnmarshaler
)

var (
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func csvSchemaOf[T any](opt CSVOptions) (*csvSchema, error) {
	if c := opt.Comma; c != 0 && (c == '"' || c == '\r' || c == '\n' || c == utf8.RuneError || !utf8.ValidRune(c)) {
		return nil, fmt.Errorf("CSVOptions.Comma %q cannot separate fields", c)
	}
	t := reflect.TypeFor[T]()
	if t == reflect.TypeFor[[]string]() {
		return nil, nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("the element type %v is neither a struct nor []string", t)
	}
	s := &csvSchema{}
	seen := map[string]string{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("csv"); ok {
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("fields %s and %s of %v are both column %q", other, f.Name, t, name)
		}
		seen[name] = f.Name
		var k csvKind
		pt := reflect.PointerTo(f.Type)
		switch {
		case f.Type.Implements(textMarshaler) && pt.Implements(textUnmarshaler):
			k = csvText
		case f.Type.Kind() == reflect.String:
			k = csvString
		case f.Type.Kind() == reflect.Bool:
			k = csvBool
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Int64:
			k = csvInt
		case f.Type.Kind() >= reflect.Uint && f.Type.Kind() <= reflect.Uint64:
			k = csvUint
		case f.Type.Kind() == reflect.Float32 || f.Type.Kind() == reflect.Float64:
			k = csvFloat
		default:
			return nil, fmt.Errorf("field %s of %v is a %v, which is not a CSV column: use a string, bool, integer, float or a type with MarshalText and UnmarshalText, or tag it `csv:\"-\"`", f.Name, t, f.Type)
		}
		s.names = append(s.names, name)
		s.goName = append(s.goName, t.Name()+"."+f.Name)
		s.fields = append(s.fields, f.Index)
		s.kinds = append(s.kinds, k)
		s.types = append(s.types, f.Type)
	}
	if len(s.names) == 0 {
		return nil, fmt.Errorf("%v has no exported fields to be CSV columns", t)
	}
	return s, nil
}

// setField parses text into field i of v.
func (s *csvSchema) setField(v reflect.Value, i int, text string) error {
	f := v.FieldByIndex(s.fields[i])
	var err error
	switch s.kinds[i] {
	case csvString:
		f.SetString(text)
	case csvBool:
		var b bool
		b, err = strconv.ParseBool(text)
		f.SetBool(b)
	case csvInt:
		var n int64
		n, err = strconv.ParseInt(text, 10, s.types[i].Bits())
		f.SetInt(n)
	case csvUint:
		var n uint64
		n, err = strconv.ParseUint(text, 10, s.types[i].Bits())
		f.SetUint(n)
	case csvFloat:
		var x float64
		x, err = strconv.ParseFloat(text, s.types[i].Bits())
		f.SetFloat(x)
	case csvText:
		err = f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text))
	}
	if err != nil {
		return fmt.Errorf("column %q: %w", s.names[i], err)
	}
	return nil
}

// appendField formats field i of v.
func (s *csvSchema) appendField(dst []byte, v reflect.Value, i int) ([]byte, error) {
	f := v.FieldByIndex(s.fields[i])
	switch s.kinds[i] {
	case csvString:
		return append(dst, f.String()...), nil
	case csvBool:
		return strconv.AppendBool(dst, f.Bool()), nil
	case csvInt:
		return strconv.AppendInt(dst, f.Int(), 10), nil
	case csvUint:
		return strconv.AppendUint(dst, f.Uint(), 10), nil
	case csvFloat:
		return strconv.AppendFloat(dst, f.Float(), 'g', -1, s.types[i].Bits()), nil
	}
	b, err := f.Interface().(encoding.TextMarshaler).MarshalText()
	return append(dst, b...), err
}

// limitedRecords fails a read that has gone on for more than max bytes
// since the last mark: a CSV record cannot be longer than a line may be,
// and an unterminated quote must not make one record of a whole file.
type limitedRecords struct {
	r    io.Reader
	n    int64
	path string
}

func (l *limitedRecords) Read(p []byte) (int, error) {
	if l.n > maxLineLength+int64(len(p)) {
		return 0, Permanent(fmt.Errorf("rdd: CSV: %s: a record longer than %d MiB (an unterminated quote?)", l.path, maxLineLength>>20))
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

func readCSV[T any](ctx context.Context, tc *task.Context, s fileSplit, opt CSVOptions, schema *csvSchema, yield func(T) bool) error {
	if s.Size == 0 {
		return nil
	}
	in, closeFn, _, err := openDecompressed(ctx, s)
	if err != nil {
		return err
	}
	defer closeFn()
	lim := &limitedRecords{r: in, path: s.Path}
	cr := csv.NewReader(lim)
	if opt.Comma != 0 {
		cr.Comma = opt.Comma
	}
	cr.FieldsPerRecord = -1 // checked here, as a bad record
	bad := func(line int, err error) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line, err = pe.StartLine, pe.Err
		}
		return badRecord(tc, &RecordError{Format: "CSV", File: s.Path, Line: int64(line), RowGroup: -1, Err: err})
	}
	width := -1
	var cols []int // cols[i]: the file's column of schema field i
	if schema != nil && opt.NoHeader {
		width = len(schema.names)
		cols = make([]int, width)
		for i := range cols {
			cols[i] = i
		}
	}
	header := !opt.NoHeader
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		lim.n = 0
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrPermanent) {
				return err
			}
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("rdd: CSV: %s: %w", s.Path, err)
			}
			if header {
				return Permanent(&RecordError{Format: "CSV", File: s.Path, Line: int64(pe.StartLine), RowGroup: -1, Err: fmt.Errorf("the header row: %w", pe.Err)})
			}
			if err := bad(0, err); err != nil {
				return err
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if header {
			header = false
			width = len(rec)
			if schema != nil {
				if cols, err = csvColumns(schema, rec); err != nil {
					return Permanent(fmt.Errorf("rdd: CSV: %s: %w", s.Path, err))
				}
			}
			continue
		}
		if width < 0 {
			width = len(rec) // the first record sets it, as encoding/csv does
		}
		if len(rec) != width {
			if err := bad(line, fmt.Errorf("%d fields, not %d", len(rec), width)); err != nil {
				return err
			}
			continue
		}
		var v T
		if schema == nil {
			reflect.ValueOf(&v).Elem().Set(reflect.ValueOf(rec))
		} else {
			rv := reflect.ValueOf(&v).Elem()
			var ferr error
			for i, c := range cols {
				if ferr = schema.setField(rv, i, rec[c]); ferr != nil {
					break
				}
			}
			if ferr != nil {
				if err := bad(line, ferr); err != nil {
					return err
				}
				continue
			}
		}
		if !yield(v) {
			return nil
		}
	}
}

// csvColumns maps the schema's fields to the columns a header names.
func csvColumns(s *csvSchema, header []string) ([]int, error) {
	at := map[string]int{}
	for i, h := range header {
		if _, dup := at[h]; dup {
			return nil, fmt.Errorf("the header names column %q twice", h)
		}
		at[h] = i
	}
	cols := make([]int, len(s.names))
	for i, n := range s.names {
		c, ok := at[n]
		if !ok {
			return nil, fmt.Errorf("the header has no column %q for field %s (columns: %s)", n, s.goName[i], strings.Join(header, ", "))
		}
		cols[i] = c
	}
	return cols, nil
}

// csvWriter formats records as CSV lines, quoting as RFC 4180 needs.
type csvWriter struct {
	comma  rune
	schema *csvSchema
}

// appendRecord appends one record and its "\n". A record of one empty
// field is written `""`: an empty line would be skipped by readers.
func (w *csvWriter) appendRecord(dst []byte, fields []string) []byte {
	for i, f := range fields {
		if i > 0 {
			dst = utf8.AppendRune(dst, w.comma)
		}
		dst = w.appendField(dst, f, len(fields) == 1)
	}
	return append(dst, '\n')
}

func (w *csvWriter) appendField(dst []byte, f string, alone bool) []byte {
	if !(alone && f == "") && !w.needsQuotes(f) {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		dst = append(dst, f[:i+1]...)
		dst = append(dst, '"')
		f = f[i+1:]
	}
	dst = append(dst, f...)
	return append(dst, '"')
}

func (w *csvWriter) needsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if strings.ContainsRune(f, w.comma) || strings.ContainsAny(f, "\"\r\n") {
		return true
	}
	// Leading space is kept by readers that do not trim, but quoting
	// keeps it for those that do; `\.` alone ends a PostgreSQL COPY.
	return f[0] == ' ' || f[0] == '\t' || f == `\.`
}
