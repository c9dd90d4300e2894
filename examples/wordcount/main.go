// Command wordcount counts the words of text files, split on white space
// as strings.Fields splits them: exact bytes, no case folding, no
// punctuation stripping.
//
//	wordcount [flags] INPUT...
//
// INPUT is a file, a directory (every file under it) or a glob. With
// --output DIR it writes DIR/part-NNNNN files of word<TAB>count lines and
// then DIR/_SUCCESS; without, it prints the 20 most frequent words. With no
// INPUT it counts a short text built into the program.
package main

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/rdd"
)

//go:embed sample.txt
var sample string

// wordCount builds the lineage. It is registered at init, so executors
// rebuild it from the same paths.
var wordCount = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, int64]] {
	var lines *rdd.RDD[string]
	if len(paths) == 0 {
		lines = rdd.Parallelize(strings.Split(sample, "\n"))
	} else {
		lines = rdd.TextFile(paths...)
	}
	words := rdd.FlatMap(lines, func(line string, emit func(string)) {
		for w := range strings.FieldsSeq(line) {
			emit(w)
		}
	})
	ones := rdd.Map(words, func(w string) rdd.Pair[string, int64] { return rdd.KV(w, int64(1)) })
	return rdd.ReduceByKey(ones, func(a, b int64) int64 { return a + b })
})

var output = pflag.String("output", "", "directory for the part files (default: print the 20 most frequent words)")

func main() {
	driver.Usage("[INPUT...]", "Counts the words of INPUT, split on white space. INPUT is a file, a directory or a glob; none counts a built-in text.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		counts := wordCount.Invoke(pflag.Args())
		if *output != "" {
			return rdd.SaveAsTextFile(ctx, s, counts, *output)
		}
		all, err := rdd.Collect(ctx, s, counts)
		if err != nil {
			return err
		}
		slices.SortFunc(all, func(a, b rdd.Pair[string, int64]) int {
			return cmp.Or(cmp.Compare(b.Value, a.Value), strings.Compare(a.Key, b.Key))
		})
		for _, p := range all[:min(20, len(all))] {
			fmt.Printf("%s\t%d\n", p.Key, p.Value)
		}
		return nil
	})
}
