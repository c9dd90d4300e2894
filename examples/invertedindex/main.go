// Command invertedindex builds an inverted index of text files: for
// every word (split on white space as strings.Fields does), the sorted
// list of the files that contain it.
//
//	invertedindex --output DIR INPUT...
//
// INPUT is a file, a directory (every file under it, but names that start
// with "." or "_") or a glob; each file is named in the index as its path
// was found. Each output line is word<TAB>file,file,... with the files in
// byte order, each once.
//
// Keys are (word, file), grouped by word, so the files reach the reducer
// already sorted (secondary sort) and a combiner drops a file's repeats
// of a word before the shuffle.
package main

import (
	"context"
	"errors"
	"hash/fnv"
	"io/fs"
	"iter"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/mapreduce"
	"github.com/sluicehq/sluice/rdd"
)

// line is a line of text and the file it came from.
type line struct {
	File, Text string
}

// posting is a word in a file: the job's key.
type posting struct {
	Word, File string
}

var order = mapreduce.KeyOrder[posting]{
	Append: func(dst []byte, p posting) []byte {
		return mapreduce.AppendString(mapreduce.AppendString(dst, p.Word), p.File)
	},
	Decode: func(b []byte) (posting, error) {
		w, rest, err := mapreduce.ReadString(b)
		if err != nil {
			return posting{}, err
		}
		f, _, err := mapreduce.ReadString(rest)
		return posting{w, f}, err
	},
}

var index = mapreduce.Register(mapreduce.Job[line, posting, string, string]{
	Name: "InvertedIndex",
	// The paths are single files (main expands directories and globs), so
	// each line can carry its file's name.
	Input: func(files []string) *rdd.RDD[line] {
		var rs []*rdd.RDD[line]
		for _, f := range files {
			rs = append(rs, rdd.Map(rdd.TextFile(f), func(t string) line { return line{f, t} }))
		}
		return rdd.Union(rs...)
	},
	Mapper: mapreduce.MapperFunc[line, posting, string](func(_ context.Context, l line, emit func(posting, string)) error {
		for w := range strings.FieldsSeq(l.Text) {
			emit(posting{w, l.File}, l.File)
		}
		return nil
	}),
	// One value per (word, file) and map task is all the reducer needs.
	Combiner: mapreduce.CombinerFunc[posting, string](func(_ context.Context, p posting, files iter.Seq[string], emit func(string)) error {
		emit(p.File)
		return nil
	}),
	SortKey:     order,
	Grouping:    func(a, b posting) bool { return a.Word == b.Word },
	Partitioner: mapreduce.PartitionerFunc[posting](func(p posting, n int) int { return int(hash(p.Word) % uint64(n)) }),
	Reducer: mapreduce.ReducerFunc[posting, string, string](func(_ context.Context, p posting, files iter.Seq[string], emit func(string)) error {
		var b strings.Builder
		b.WriteString(p.Word)
		b.WriteByte('\t')
		last, first := "", true
		for f := range files { // sorted: the file is part of the key
			if !first && f == last {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			b.WriteString(f)
			last, first = f, false
		}
		emit(b.String())
		return nil
	}),
	Output: mapreduce.TextOutput[string](),
})

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// expand lists the files that paths name, as TextFile finds them: a
// directory's files (skipping hidden and _ names), a glob's matches.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, errors.New(p + ": no such file (or no match)")
		}
		for _, m := range matches {
			err := filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if path != m && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.IsDir() {
					files = append(files, path)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

var output = pflag.String("output", "", "directory for the index's part files (required)")

func main() {
	driver.Usage("--output DIR INPUT...", "Writes word<TAB>file,file,... for every word of INPUT (files, directories or globs) into part files in DIR.")
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		if *output == "" || pflag.NArg() == 0 {
			return errors.New("need --output DIR and at least one INPUT")
		}
		files, err := expand(pflag.Args())
		if err != nil {
			return err
		}
		_, err = index.Run(ctx, s, mapreduce.Args{Inputs: files, Output: *output})
		return err
	})
}
