package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cgreport:", err)
		if code == 0 {
			code = 2
		}
	}
	os.Exit(code)
}

// run parses args, prints the report to w and returns the exit status: 0,
// 1 for a check that failed, 2 for an error.
func run(args []string, w io.Writer) (int, error) {
	fs := flag.NewFlagSet("cgreport", flag.ContinueOnError)
	bytes := fs.Int64("bytes", 0, "input bytes of one run")
	words := fs.Int64("words", 0, "words (records into the map-side combine) of one run")
	corpus := fs.String("corpus", "", "the corpus, as --record writes it into the budget")
	sluice := fs.String("sluice", "", "callgrind output files of the Sluice runs, comma-separated")
	baseline := fs.String("baseline", "", "callgrind output files of the baseline runs, comma-separated")
	check := fs.String("check", "", "hold the figures to this budget file")
	record := fs.String("record", "", "write the figures to this budget file")
	env := fs.String("env", "", "what measured (Go, valgrind, CPU), as --record writes it into the budget")
	var sWin, bWin window
	fs.Func("sluice-window", "part files (comma-separated) of a --separate-threads run of sluice to cross-check its count against", func(v string) error { sWin.Files = strings.Split(v, ","); return nil })
	fs.StringVar(&sWin.Start, "sluice-window-start", "", "the --dump-before function that opens sluice's window")
	fs.StringVar(&sWin.End, "sluice-window-end", "", "the --dump-before function that closes it")
	fs.Func("baseline-window", "the same for the baseline", func(v string) error { bWin.Files = strings.Split(v, ","); return nil })
	fs.StringVar(&bWin.Start, "baseline-window-start", "", "the --dump-before function that opens the baseline's window")
	fs.StringVar(&bWin.End, "baseline-window-end", "", "the --dump-before function that closes it (none: the thread's end)")
	tolerance := fs.Float64("tolerance", 1, "--record: the tolerance, in percent, that --check allows")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *bytes <= 0 || *words <= 0 {
		return 2, errors.New("--bytes and --words must be positive")
	}
	if *check != "" && *record != "" {
		return 2, errors.New("give --check or --record, not both")
	}
	if *tolerance <= 0 || *tolerance >= 100 {
		return 2, fmt.Errorf("--tolerance %g: want a percentage above 0 and below 100", *tolerance)
	}
	s, err := readRuns("sluice", *sluice)
	if err != nil {
		return 2, err
	}
	b, err := readRuns("baseline", *baseline)
	if err != nil {
		return 2, err
	}
	m := measured{Bytes: *bytes, Words: *words, Sluice: median(s), Baseline: median(b)}
	printRuns(w, "sluice", s)
	printRuns(w, "baseline", b)
	printFigures(w, m)
	for _, c := range []struct {
		name  string
		win   window
		count int64
	}{{"sluice", sWin, m.Sluice}, {"baseline", bWin, m.Baseline}} {
		if len(c.win.Files) == 0 {
			continue
		}
		if c.win.Start == "" {
			return 2, fmt.Errorf("--%s-window without --%s-window-start", c.name, c.name)
		}
		n, err := c.win.count()
		if err != nil {
			return 2, err
		}
		line, err := crossCheck(c.name, c.count, n, *tolerance/100)
		if err != nil {
			return 2, err
		}
		fmt.Fprintln(w, "cross-check: "+line)
	}

	switch {
	case *record != "":
		// A budget from runs that disagree would hold later ones to noise.
		for _, r := range []struct {
			name string
			runs []int64
		}{{"sluice", s}, {"baseline", b}} {
			if sp := spread(r.runs); sp > *tolerance/100 {
				return 2, fmt.Errorf("not recording: the %s runs differ by %.3f%%, more than the tolerance of %g%%", r.name, 100*sp, *tolerance)
			}
		}
		bud := budget{
			Corpus: *corpus, Env: *env, Recorded: time.Now().UTC().Format("2006-01-02"),
			Bytes: m.Bytes, Words: m.Words, Sluice: m.Sluice, Baseline: m.Baseline, Tolerance: *tolerance,
		}
		if err := os.WriteFile(*record, []byte(bud.String()), 0o644); err != nil {
			return 2, err
		}
		fmt.Fprintf(w, "recorded %s\n", *record)
	case *check != "":
		data, err := os.ReadFile(*check)
		if err != nil {
			return 2, err
		}
		bud, err := parseBudget(string(data))
		if err != nil {
			return 2, fmt.Errorf("%s: %w", *check, err)
		}
		if bud.Env != "" && *env != "" && bud.Env != *env {
			fmt.Fprintf(w, "note: the budget was recorded with %q; this is %q\n", bud.Env, *env)
		}
		ok, lines, err := bud.check(m)
		if err != nil {
			return 2, fmt.Errorf("%s: %w", *check, err)
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		if !ok {
			return 1, nil
		}
	}
	return 0, nil
}

// measured is what one invocation of the script measured.
type measured struct {
	Bytes, Words     int64
	Sluice, Baseline int64 // instructions: medians of the runs
}

func printRuns(w io.Writer, name string, runs []int64) {
	if len(runs) < 2 {
		return
	}
	fmt.Fprintf(w, "%-8s runs", name)
	for _, r := range runs {
		fmt.Fprintf(w, " %d", r)
	}
	fmt.Fprintf(w, " (spread %.3f%%)\n", 100*spread(runs))
}

// spread is (largest - smallest) / smallest.
func spread(runs []int64) float64 {
	lo, hi := slices.Min(runs), slices.Max(runs)
	return float64(hi-lo) / float64(lo)
}

func printFigures(w io.Writer, m measured) {
	for _, p := range []struct {
		name string
		n    int64
	}{{"sluice", m.Sluice}, {"baseline", m.Baseline}} {
		fmt.Fprintf(w, "%-8s %13d instructions %8.2f per byte %8.1f per word\n",
			p.name, p.n, float64(p.n)/float64(m.Bytes), float64(p.n)/float64(m.Words))
	}
	fmt.Fprintf(w, "sluice_instructions/baseline_instructions = %.2f\n", float64(m.Sluice)/float64(m.Baseline))
}

// readRuns reads the instruction totals of comma-separated callgrind
// output files.
func readRuns(name, list string) ([]int64, error) {
	if list == "" {
		return nil, fmt.Errorf("no --%s files", name)
	}
	var runs []int64
	for _, path := range strings.Split(list, ",") {
		n, err := readTotal(path)
		if err != nil {
			return nil, err
		}
		runs = append(runs, n)
	}
	return runs, nil
}

// readTotal returns the instructions a callgrind output file counted: its
// "totals:" line or, failing that, "summary:". Zero is an error: the
// function the collection was toggled on never ran, or has another name.
func readTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var totals, summary string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "totals:"); ok {
			totals = v
		} else if v, ok := strings.CutPrefix(line, "summary:"); ok {
			summary = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	v := totals
	if v == "" {
		v = summary
	}
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s: no totals: or summary: line; is it callgrind output?", path)
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: totals %q: %w", path, fields[0], err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%s: callgrind counted no instructions: did the --toggle-collect function run, under that name?", path)
	}
	return n, nil
}

// median returns the median of runs, the mean of the middle two for an
// even number.
func median(runs []int64) int64 {
	s := slices.Sorted(slices.Values(runs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
