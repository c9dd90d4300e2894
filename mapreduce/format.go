package mapreduce

import (
	"bufio"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/internal/textfmt"
	"github.com/sluicehq/sluice/rdd"
)

// Input builds a job's input from its paths, as Hadoop's InputFormat
// does: any rdd source fits (rdd.TextFile's lines, and the formats that
// rdd gains). It runs inside the job's lineage, in every process.
type Input[I any] func(paths []string) *rdd.RDD[I]

// TextInput reads the lines of text files, directories and globs, as
// rdd.TextFile does (Hadoop's TextInputFormat, without the offsets).
func TextInput(paths []string) *rdd.RDD[string] { return rdd.TextFile(paths...) }

// Output writes a job's part files, as Hadoop's OutputFormat does: Create
// opens the file of one reduce task's attempt, which the job commits.
type Output[O any] interface {
	Create(path string) (RecordWriter[O], error)
}

// RecordWriter writes one part file; Close flushes it. After an error
// from Write the task fails and its file is discarded.
type RecordWriter[O any] interface {
	Write(o O) error
	Close() error
}

// TextOutput writes one line per record, as rdd.SaveAsTextFile does: a
// string or []byte as it is, a number as strconv formats it, an rdd.Pair
// as key<TAB>value, anything else as fmt's %v.
func TextOutput[O any]() Output[O] { return textOutput[O]{} }

type textOutput[O any] struct{}

func (textOutput[O]) Create(path string) (RecordWriter[O], error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("mapreduce: %w", err)
	}
	return &textWriter[O]{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

type textWriter[O any] struct {
	f    *os.File
	w    *bufio.Writer
	line []byte
}

func (t *textWriter[O]) Write(o O) error {
	t.line = append(textfmt.Append(t.line[:0], o), '\n')
	_, err := t.w.Write(t.line)
	return err
}

func (t *textWriter[O]) Close() error {
	err := t.w.Flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}
