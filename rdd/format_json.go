package rdd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/task"
)

// JSONLines reads files of JSON lines (one JSON value per line, as Spark's
// JSON source and `jq -c` write them) into values of T, decoded by
// encoding/json: struct fields by name or `json` tag, unknown fields
// ignored, missing ones left zero. Blank lines are skipped. Paths and
// splitting are TextFile's, compression by extension too. A line that does
// not decode into T is a bad record: the task fails with a *RecordError
// naming the file and line, or, with --skip-bad-records N, the line is
// skipped and counted.
func JSONLines[T any](paths ...string) *RDD[T] {
	return JSONLinesWith[T](TextOptions{}, paths...)
}

// JSONLinesWith is JSONLines with options.
func JSONLinesWith[T any](opt TextOptions, paths ...string) *RDD[T] {
	return splitSource("JSONLines", opt, paths, func(ctx context.Context, tc *task.Context, s fileSplit, yield func(T) bool) error {
		lines := newLineNumbers(s)
		var ferr error
		err := readLinesAt(ctx, s, func(off int64, line string) bool {
			lines.next(off)
			if strings.TrimSpace(line) == "" {
				return true
			}
			var v T
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				ferr = badRecord(tc, &RecordError{Format: "JSON lines", File: s.Path, Line: lines.current(ctx), RowGroup: -1, Err: err})
				return ferr == nil
			}
			return yield(v)
		})
		if ferr != nil {
			return ferr
		}
		return err
	})
}

// errInvalidUTF8 fails the writing of a string that is not valid UTF-8:
// JSON would carry U+FFFD instead, and the record would not read back as
// it was.
var errInvalidUTF8 = errors.New("a string is not valid UTF-8, which JSON cannot carry: it would read back changed; use []byte for binary data")

// appendJSONLine appends v as one line of JSON lines output.
func appendJSONLine(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	b := buf.Bytes() // ends in "\n"
	if hasReplacementEscape(b) {
		return dst, errInvalidUTF8
	}
	return append(dst, b...), nil
}

// hasReplacementEscape reports whether encoding/json wrote `\ufffd`, which
// it writes only for invalid UTF-8 (a real U+FFFD it writes as itself).
// An escaped backslash before "ufffd" (`\\ufffd`) is a string's text.
func hasReplacementEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\ufffd`))
		if i < 0 {
			return false
		}
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		b = b[i+1:]
	}
}

// checkJSON reports whether T can be written as JSON: a value of a type
// encoding/json refuses (a func, a chan, a map with keys it cannot
// write) fails here, before any task runs.
func checkJSON[T any]() error {
	var zero T
	if _, err := json.Marshal(zero); err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return fmt.Errorf("rdd: SaveAsJSONLines: %w", err)
		}
	}
	return nil
}
