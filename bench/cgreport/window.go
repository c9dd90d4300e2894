package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A window is the cross-check of a count made with --toggle-collect: a
// second run collects everything, with --separate-threads=yes and
// --dump-before=Start (and =End), and the window is what the busiest thread
// ran from the first entry to Start until the first entry to End after it
// (or to its end, with no End). Dumps are triggered when a function is
// entered, which callgrind sees whatever the stacks do, so the window does
// not depend on callgrind's shadow call stack, as --toggle-collect does.
// It also holds what the thread ran between two calls of Start (the task
// slot's work between two map tasks), so it is a little larger.
type window struct {
	Files      []string // the part files, PREFIX.PART-THREAD
	Start, End string   // function names
}

// part is one dump of one thread.
type part struct {
	n, thread int
	total     int64
	trigger   string // the function whose --dump-before made it, or ""
}

func readPart(path string) (part, error) {
	f, err := os.Open(path)
	if err != nil {
		return part{}, err
	}
	defer f.Close()
	p := part{n: -1, thread: -1, total: -1}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "part:"):
			p.n, err = strconv.Atoi(strings.TrimSpace(line[len("part:"):]))
		case strings.HasPrefix(line, "thread:"):
			p.thread, err = strconv.Atoi(strings.TrimSpace(line[len("thread:"):]))
		case strings.HasPrefix(line, "desc: Trigger: --dump-before="):
			p.trigger = strings.TrimSpace(line[len("desc: Trigger: --dump-before="):])
		case strings.HasPrefix(line, "totals:"):
			f := strings.Fields(line[len("totals:"):])
			if len(f) > 0 {
				p.total, err = strconv.ParseInt(f[0], 10, 64)
			}
		}
		if err != nil {
			return part{}, fmt.Errorf("%s: %q: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return part{}, fmt.Errorf("%s: %w", path, err)
	}
	if p.n < 0 || p.thread < 0 {
		return part{}, fmt.Errorf("%s: no part: and thread: lines; run callgrind with --separate-threads=yes and --dump-before", path)
	}
	if p.total < 0 {
		p.total = 0 // a thread that ran nothing since the last dump
	}
	return p, nil
}

// count returns the instructions in the window of the thread with the
// most of them.
func (w window) count() (int64, error) {
	threads := map[int][]part{}
	for _, path := range w.Files {
		p, err := readPart(path)
		if err != nil {
			return 0, err
		}
		threads[p.thread] = append(threads[p.thread], p)
	}
	var best int64
	for _, parts := range threads {
		slices.SortFunc(parts, func(a, b part) int { return a.n - b.n })
		var sum int64
		in := false
		for _, p := range parts {
			if in {
				sum += p.total
				if w.End != "" && p.trigger == w.End {
					break
				}
			} else if p.trigger == w.Start {
				in = true // the dump at the first entry to Start ends the part before it
			}
		}
		best = max(best, sum)
	}
	if best == 0 {
		return 0, fmt.Errorf("no thread ran anything between entering %s and %s in %s: were they the --dump-before functions?", w.Start, cmpOr(w.End, "the end"), filepath.Dir(w.Files[0]))
	}
	return best, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// crossCheck compares a toggled count with its window: the count may fall
// short of the window by the slot's work between tasks, never by more than
// tol, and may not exceed it by more than tol.
func crossCheck(name string, count, win int64, tol float64) (string, error) {
	c := change(count, win)
	line := fmt.Sprintf("%s: %d instructions collected inside the function, %d in the thread's window: %+.3f%%", name, count, win, 100*c)
	if c < -tol || c > tol {
		return line, fmt.Errorf("%s; more than %g%% apart, so the collection missed work (see bench/internal/cgpin) or the window is wrong", line, 100*tol)
	}
	return line, nil
}
