package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := defaultConfig()
	flag.IntVar(&cfg.workers, "workers", cfg.workers, "counting goroutines")
	flag.BoolVar(&cfg.lockThreads, "lock-threads", false, "lock each counting goroutine to its OS thread (for callgrind: bench/callgrind.sh)")
	output := flag.String("output", "", "write DIR/part-00000 with all counts instead of printing the top 20")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: baseline [--workers N] [--lock-threads] [--output DIR] FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		return errors.New("no input files")
	}
	if cfg.workers < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", cfg.workers)
	}
	counts, err := countFiles(flag.Args(), cfg)
	if err != nil {
		return err
	}
	if *output == "" {
		w := bufio.NewWriter(os.Stdout)
		writeCounts(w, topN(counts, 20))
		return w.Flush()
	}
	return writePart(*output, counts)
}

// wordCount is one line of output.
type wordCount struct {
	word  string
	count int
}

// topN returns the n most frequent words, by count descending and then word
// ascending.
func topN(m map[string]int, n int) []wordCount {
	less := func(a, b wordCount) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.word, b.word))
	}
	top := make([]wordCount, 0, n+1)
	for w, c := range m {
		e := wordCount{w, c}
		if len(top) == n && less(e, top[n-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, e, less)
		top = slices.Insert(top, i, e)
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

func writeCounts(w *bufio.Writer, wcs []wordCount) {
	for _, e := range wcs {
		writeLine(w, e.word, e.count)
	}
}

func writeLine(w *bufio.Writer, word string, count int) {
	var num [20]byte
	w.WriteString(word)
	w.WriteByte('\t')
	w.Write(strconv.AppendInt(num[:0], int64(count), 10))
	w.WriteByte('\n')
}

// writePart writes all counts to dir/part-00000.
func writePart(dir string, m map[string]int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "part-00000"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for word, c := range m {
		writeLine(w, word, c)
	}
	return errors.Join(w.Flush(), f.Close())
}
