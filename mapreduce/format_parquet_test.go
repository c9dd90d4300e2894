package mapreduce_test

import (
	"context"
	"iter"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// wordRow is a row of parquetCount's output.
type wordRow struct {
	Word  string `parquet:"word"`
	Count int64  `parquet:"count"`
}

// parquetCount is wordCount writing Parquet.
var parquetCount = mapreduce.Register(mapreduce.Job[string, string, int64, wordRow]{
	Name:  "ParquetWordCount",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, string, int64](func(_ context.Context, line string, emit func(string, int64)) error {
		for w := range strings.FieldsSeq(line) {
			emit(w, 1)
		}
		return nil
	}),
	Combiner: mapreduce.CombinerFunc[string, int64](sum),
	Reducer: mapreduce.ReducerFunc[string, int64, wordRow](func(_ context.Context, w string, counts iter.Seq[int64], emit func(wordRow)) error {
		var n int64
		for c := range counts {
			n += c
		}
		emit(wordRow{w, n})
		return nil
	}),
	Output: mapreduce.ParquetOutput[wordRow](),
})

// notRows writes strings, which have no Parquet schema.
var notRows = mapreduce.Register(mapreduce.Job[string, string, int64, string]{
	Name:  "ParquetOfStrings",
	Input: mapreduce.TextInput,
	Mapper: mapreduce.MapperFunc[string, string, int64](func(_ context.Context, line string, emit func(string, int64)) error {
		emit(line, 1)
		return nil
	}),
	Reducer: mapreduce.ReducerFunc[string, int64, string](func(_ context.Context, w string, _ iter.Seq[int64], emit func(string)) error {
		emit(w)
		return nil
	}),
	Output: mapreduce.ParquetOutput[string](),
})

var readWordRows = rdd.Func(func(dir string) *rdd.RDD[wordRow] { return rdd.Parquet[wordRow](dir) })

func TestParquetOutputRoundTrip(t *testing.T) {
	paths, _, _, want := corpus(t, 11, 3, 4000)
	s := session(t, 128<<10)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := parquetCount.Run(testCtx(t), s, mapreduce.Args{Inputs: paths, Output: out, Reducers: 3}); err != nil {
		t.Fatal(err)
	}
	rows, err := rdd.Collect(testCtx(t), s, readWordRows.Invoke(out))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		if _, dup := got[r.Word]; dup {
			t.Fatalf("word %q twice", r.Word)
		}
		got[r.Word] = r.Count
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%d words read back, want %d; the counts differ", len(got), len(want))
	}

	_, err = notRows.Run(testCtx(t), s, mapreduce.Args{Inputs: paths, Output: filepath.Join(t.TempDir(), "bad")})
	if err == nil || !strings.Contains(err.Error(), "not a struct") {
		t.Fatalf("ParquetOutput of strings: %v, want an error saying the record type is not a struct", err)
	}
}
