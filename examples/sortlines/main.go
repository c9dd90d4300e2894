// Command sortlines sorts the lines of text files, as Hadoop's Sort example
// does: every line goes through the shuffle, range-partitioned by a seeded
// sample, so the part files concatenated in order hold all lines in byte
// order: byte for byte what LC_ALL=C sort writes (a "\r" before "\n" stays
// part of its line).
//
//	sortlines [flags] --output DIR INPUT...
//
// INPUT is a file, a directory or a glob, as for wordcount.
package main

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

// sortLines builds the lineage: each line becomes a key with an empty
// value, and SortByKey orders them across partitions.
var sortLines = rdd.Func(func(paths []string) *rdd.RDD[string] {
	// KeepCR: a "\r" before "\n" is part of the line, as for LC_ALL=C sort,
	// so the output holds the input's bytes, only reordered.
	lines := rdd.TextFileWith(rdd.TextOptions{KeepCR: true}, paths...)
	keyed := rdd.Map(lines, func(line string) rdd.Pair[string, bool] { return rdd.KV(line, false) })
	return rdd.Keys(rdd.SortByKey(keyed))
})

var output = pflag.String("output", "", "directory for the sorted part files (required)")

func main() {
	driver.Usage("--output DIR INPUT...", "Sorts the lines of INPUT, a file, a directory or a glob, into part files in DIR.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() == 0 {
			return errors.New("need --output DIR and at least one INPUT")
		}
		return rdd.SaveAsTextFile(ctx, s, sortLines.Invoke(pflag.Args()), *output)
	})
}
