package rdd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/internal/fuzztest"
	"github.com/sluicehq/sluice/internal/task"
)

// fuzzRec has a column of each kind the readers decode.
type fuzzRec struct {
	Name string   `json:"name" csv:"name" parquet:"name"`
	N    int64    `json:"n" csv:"n" parquet:"n"`
	X    float64  `json:"x" csv:"x" parquet:"x"`
	OK   bool     `json:"ok" csv:"ok" parquet:"ok,optional"`
	Tags []string `json:"tags" csv:"-" parquet:"tags,list"`
}

// readAll reads the file at path as one whole-file split with read, with
// bad records failing (skip 0) or skipped (skip > 0): any outcome but a
// panic or a hang; an error is a bad record, an input error or
// ErrPermanent.
func readAll[T any](t *testing.T, path string, skip int64, read func(context.Context, *task.Context, fileSplit, func(T) bool) error) {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tc := &task.Context{IO: task.IOSettings{SkipBadRecords: skip}}
	s := fileSplit{Path: path, End: st.Size(), Size: st.Size(), ModTime: st.ModTime().UnixNano()}
	n := 0
	err = read(context.Background(), tc, s, func(T) bool { n++; return n < 1<<20 })
	if err != nil && !errors.Is(err, ErrPermanent) && !errors.Is(err, ErrBadRecord) {
		t.Fatalf("an error that is neither a bad record nor permanent: %v", err)
	}
	if tc.Metrics.BadRecords > skip {
		t.Fatalf("%d bad records skipped, over %d", tc.Metrics.BadRecords, skip)
	}
}

// FuzzReadCSV reads arbitrary bytes as a CSV file with a header, into
// structs and into records: records or errors naming a line, never a
// panic or a hang.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("name,n,x,ok\na,1,0.5,true\n\"b,\n\"\"c\",2,1e9,false\n"), false)
	f.Add([]byte("name,n,x,ok\na,1\n\"open\n"), true)
	f.Add([]byte("x\n\"\"\"\n"), false)
	path := filepath.Join(f.TempDir(), "in.csv")
	schema, err := csvSchemaOf[fuzzRec](CSVOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, noHeader bool) {
		defer fuzztest.Guard(t)()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opt := CSVOptions{NoHeader: noHeader}
		for _, skip := range []int64{0, 1 << 20} {
			readAll(t, path, skip, func(ctx context.Context, tc *task.Context, s fileSplit, y func(fuzzRec) bool) error {
				return readCSV(ctx, tc, s, opt, schema, y)
			})
			readAll(t, path, skip, func(ctx context.Context, tc *task.Context, s fileSplit, y func([]string) bool) error {
				return readCSV(ctx, tc, s, opt, nil, y)
			})
		}
	})
}

// FuzzReadParquet reads arbitrary bytes as a Parquet file: rows or an
// error naming the file or a row group, never a panic or a hang.
func FuzzReadParquet(f *testing.F) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[fuzzRec](&buf, parquet.MaxRowsPerRowGroup(2))
	w.Write([]fuzzRec{{Name: "a", N: 1, X: 0.5, OK: true, Tags: []string{"x", "y"}}, {Name: "b"}, {Name: "c", N: -3}})
	w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PAR1PAR1"))
	path := filepath.Join(f.TempDir(), "in.parquet")
	schema, err := parquetSchemaOf[fuzzRec]()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Guard(t)()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []int64{0, 1 << 20} {
			readAll(t, path, skip, func(ctx context.Context, tc *task.Context, s fileSplit, y func(fuzzRec) bool) error {
				return readParquet(ctx, tc, s, schema, y)
			})
		}
	})
}
