package mapreduce

import (
	"bufio"
	"fmt"
	"os"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/rdd"
)

// ParquetOutput writes each reduce task's records as one Parquet file
// (part-NNNNN), which rdd.Parquet reads back: O is a struct, mapped to
// columns as github.com/parquet-go/parquet-go maps it (a `parquet:"name"`
// tag, else the field's name). Pages are compressed with snappy, as Spark
// and Hive write them; a row group is written whenever the writer holds
// ParquetRowGroupBytes. An O with no Parquet schema fails the job's
// first reduce task, saying why.
func ParquetOutput[O any]() Output[O] {
	return parquetOutput[O]{}
}

// ParquetRowGroupBytes bounds what a ParquetOutput writer buffers before
// it writes a row group (Spark's default row group is 128 MiB; a reduce
// task's writer keeps its memory well under a task's default budget).
const ParquetRowGroupBytes = 32 << 20

// parquetBatch is how many records a writer hands the library at a time.
const parquetBatch = 256

type parquetOutput[O any] struct{}

func (parquetOutput[O]) Create(path string) (RecordWriter[O], error) {
	if err := parquetSchemaCheck[O](); err != nil {
		return nil, rdd.Permanent(err) // every attempt would fail the same way
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("mapreduce: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return &parquetWriter[O]{f: f, bw: bw, pw: parquet.NewGenericWriter[O](bw, parquet.Compression(&parquet.Snappy)),
		batch: make([]O, 0, parquetBatch)}, nil
}

// parquetSchemaCheck returns why O has no Parquet schema, if it has none.
func parquetSchemaCheck[O any]() (err error) {
	t := reflect.TypeFor[O]()
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("mapreduce: ParquetOutput: the record type %v is not a struct, which Parquet rows need", t)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mapreduce: ParquetOutput: %v has no Parquet schema: %v", t, p)
		}
	}()
	var zero O
	parquet.SchemaOf(zero)
	return nil
}

type parquetWriter[O any] struct {
	f       *os.File
	bw      *bufio.Writer
	pw      *parquet.GenericWriter[O]
	batch   []O
	flushed int64 // the writer's Size when it last wrote a row group
}

func (w *parquetWriter[O]) Write(o O) error {
	w.batch = append(w.batch, o)
	if len(w.batch) < cap(w.batch) {
		return nil
	}
	return w.flush()
}

// flush hands the batch to the library, and writes a row group when the
// library holds ParquetRowGroupBytes.
func (w *parquetWriter[O]) flush() error {
	if _, err := w.pw.Write(w.batch); err != nil {
		return fmt.Errorf("mapreduce: ParquetOutput: %w", err)
	}
	w.batch = w.batch[:0]
	if size := w.pw.Size(); size-w.flushed > ParquetRowGroupBytes {
		if err := w.pw.Flush(); err != nil {
			return fmt.Errorf("mapreduce: ParquetOutput: %w", err)
		}
		w.flushed = w.pw.Size()
	}
	return nil
}

func (w *parquetWriter[O]) Close() error {
	var err error
	if len(w.batch) > 0 {
		err = w.flush()
	}
	if err == nil {
		if err = w.pw.Close(); err != nil {
			err = fmt.Errorf("mapreduce: ParquetOutput: %w", err)
		}
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
