// Command sort sorts the lines of text files by their bytes, as Hadoop's
// Sort and TeraSort examples do, with the mapreduce API: every line goes
// through the shuffle, range-partitioned by a seeded sample of the lines
// (a total-order partitioner), sorted within each task's --memory with
// sorted runs spilled to disk and merged. Concatenating DIR/part-00000,
// DIR/part-00001, ... in order gives exactly what `LC_ALL=C sort` prints
// for the same input: every line, duplicates too, ending in "\n", and a
// "\r" before a "\n" kept as part of its line.
//
//	sort [--memory SIZE] [--reducers N] --output DIR INPUT...
//
// INPUT is a file, a directory or a glob. DIR ends with _SUCCESS.
package main

import (
	"context"
	"errors"
	"iter"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// sortLines keys every line by itself; the reducer writes a line once per
// time it occurred.
var sortLines = mapreduce.Register(mapreduce.Job[string, string, bool, string]{
	Name: "Sort",
	Input: func(paths []string) *rdd.RDD[string] {
		return rdd.TextFileWith(rdd.TextOptions{KeepCR: true}, paths...)
	},
	Mapper: mapreduce.MapperFunc[string, string, bool](func(_ context.Context, line string, emit func(string, bool)) error {
		emit(line, false)
		return nil
	}),
	TotalOrder: true,
	Reducer: mapreduce.ReducerFunc[string, bool, string](func(_ context.Context, line string, times iter.Seq[bool], emit func(string)) error {
		for range times {
			emit(line)
		}
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
})

var (
	output   = pflag.String("output", "", "directory for the sorted part files (required)")
	reducers = pflag.Int("reducers", 0, "reduce tasks, so part files (default: one per 64 MiB of input, at least 2)")
)

func main() {
	driver.Usage("--output DIR INPUT...", "Sorts the lines of INPUT (files, directories or globs) by their bytes, as LC_ALL=C sort does, into part files in DIR.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() == 0 {
			return errors.New("need --output DIR and at least one INPUT")
		}
		if *reducers < 0 {
			return errors.New("--reducers must not be negative")
		}
		_, err := sortLines.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: *output, Reducers: *reducers})
		return err
	})
}
