// Command mrwordcount is wordcount written with the mapreduce package,
// Hadoop's way: a Mapper emits (word, 1), a Combiner and a Reducer sum.
// Its contract is wordcount's exactly: words split on white space as
// strings.Fields splits them (exact bytes, no case folding, no
// punctuation stripping).
//
//	mrwordcount [flags] INPUT...
//
// INPUT is a file, a directory (every file under it) or a glob. With
// --output DIR it writes DIR/part-NNNNN files of word<TAB>count lines and
// then DIR/_SUCCESS; without, it prints the 20 most frequent words (the
// job then writes to a temporary directory, which on a cluster must be on
// a file system every worker shares). With no INPUT it counts a short
// text built into the program. --job-summary FILE reports the job's
// counters.
package main

import (
	"bufio"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

//go:embed sample.txt
var sample string

type count = rdd.Pair[string, int64]

// wordCount is registered at package level, so executors rebuild it.
var wordCount = mapreduce.Register(mapreduce.Job[string, string, int64, count]{
	Name: "WordCount",
	Input: func(paths []string) *rdd.RDD[string] {
		if len(paths) == 0 {
			return rdd.Parallelize(strings.Split(sample, "\n"))
		}
		return rdd.TextFile(paths...)
	},
	Mapper: mapreduce.MapperFunc[string, string, int64](func(_ context.Context, line string, emit func(string, int64)) error {
		for w := range strings.FieldsSeq(line) {
			emit(w, 1)
		}
		return nil
	}),
	Combiner: mapreduce.CombinerFunc[string, int64](func(_ context.Context, _ string, ones iter.Seq[int64], emit func(int64)) error {
		emit(sum(ones))
		return nil
	}),
	Reducer: mapreduce.ReducerFunc[string, int64, count](func(_ context.Context, w string, ones iter.Seq[int64], emit func(count)) error {
		emit(rdd.KV(w, sum(ones)))
		return nil
	}),
	Output: mapreduce.TextOutput[count](),
})

func sum(ns iter.Seq[int64]) int64 {
	var s int64
	for n := range ns {
		s += n
	}
	return s
}

var output = pflag.String("output", "", "directory for the part files (default: print the 20 most frequent words)")

func main() {
	driver.Usage("[INPUT...]", "Counts the words of INPUT, split on white space, with the mapreduce API. INPUT is a file, a directory or a glob; none counts a built-in text.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output != "" {
			_, err := wordCount.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: *output})
			return err
		}
		tmp, err := os.MkdirTemp("", "mrwordcount-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "out")
		if _, err := wordCount.Run(ctx, s, mapreduce.Args{Inputs: pflag.Args(), Output: out}); err != nil {
			return err
		}
		all, err := readCounts(out)
		if err != nil {
			return err
		}
		slices.SortFunc(all, func(a, b count) int {
			return cmp.Or(cmp.Compare(b.Value, a.Value), strings.Compare(a.Key, b.Key))
		})
		for _, p := range all[:min(20, len(all))] {
			fmt.Printf("%s\t%d\n", p.Key, p.Value)
		}
		return nil
	})
}

// readCounts reads the word<TAB>count lines of the job's part files.
func readCounts(dir string) ([]count, error) {
	parts, err := commit.Parts(dir)
	if err != nil {
		return nil, err
	}
	var all []count
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			line := sc.Text()
			i := strings.LastIndexByte(line, '\t')
			n, err := strconv.ParseInt(line[i+1:], 10, 64)
			if i < 0 || err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: bad line %q", p, line)
			}
			all = append(all, rdd.KV(line[:i], n))
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return all, nil
}
