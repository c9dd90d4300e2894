package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rec is the budget the check tests compare against.
var rec = budget{Recorded: "2026-11-30", Bytes: 1000, Words: 100, Sluice: 200_000, Baseline: 100_000, Tolerance: 1}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name             string
		sluice, baseline int64
		ok               bool
		says             string
	}{
		{"same", 200_000, 100_000, true, "+0.00%"},
		{"within tolerance", 201_900, 100_000, true, "+0.95%"},
		{"just over", 202_100, 100_000, false, "FAIL: sluice instructions +1.05%"},
		{"much cheaper", 150_000, 100_000, true, "record the gain"},
		{"baseline noise within tolerance", 202_100, 100_900, false, "FAIL: sluice instructions"},
		// Both moved alike: a new toolchain, not a regression.
		{"toolchain moved both", 220_000, 110_000, true, "the ratio is checked"},
		{"toolchain moved both and sluice regressed", 230_000, 110_000, false, "FAIL: sluice/baseline ratio +4.55%"},
		{"baseline cheaper, sluice not", 200_000, 90_000, false, "FAIL: sluice/baseline ratio"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, lines, err := rec.check(measured{Bytes: 1000, Words: 100, Sluice: c.sluice, Baseline: c.baseline})
			if err != nil {
				t.Fatal(err)
			}
			out := strings.Join(lines, "\n")
			if ok != c.ok || !strings.Contains(out, c.says) {
				t.Errorf("ok %v, want %v; want %q in:\n%s", ok, c.ok, c.says, out)
			}
		})
	}
}

func TestCheckOtherCorpus(t *testing.T) {
	_, _, err := rec.check(measured{Bytes: 2000, Words: 100, Sluice: 200_000, Baseline: 100_000})
	if err == nil || !strings.Contains(err.Error(), "same corpus") {
		t.Fatalf("a check on another corpus: %v, want an error naming the corpus", err)
	}
}

func TestBudgetRoundTrip(t *testing.T) {
	b := rec
	b.Env, b.Corpus = "go1.26.8 valgrind-3.19.0", "16MiB seed 1 vocab 1000000"
	got, err := parseBudget(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if got != b {
		t.Fatalf("parsed %+v, want %+v", got, b)
	}
}

func TestParseBudgetErrors(t *testing.T) {
	full := rec.String()
	for _, c := range []struct{ name, text, says string }{
		{"missing", strings.Replace(full, "words 100\n", "", 1), "no words line"},
		{"twice", full + "bytes 1000\n", "bytes given twice"},
		{"unknown", full + "sluice 5\n", `unknown key "sluice"`},
		{"zero", strings.Replace(full, "sluice_instructions 200000", "sluice_instructions 0", 1), "positive"},
		{"not a number", strings.Replace(full, "words 100", "words many", 1), "words"},
		{"tolerance", strings.Replace(full, "tolerance_percent 1", "tolerance_percent 0", 1), "percentage"},
		{"tolerance NaN", strings.Replace(full, "tolerance_percent 1", "tolerance_percent NaN", 1), "percentage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseBudget(c.text)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want one saying %q", err, c.says)
			}
		})
	}
}

// callgrindOut writes a minimal callgrind output file with the given
// totals line.
func callgrindOut(t *testing.T, totals string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "callgrind.out")
	text := "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n0 5\n" + totals
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTotal(t *testing.T) {
	n, err := readTotal(callgrindOut(t, "summary: 42\ntotals: 42\n"))
	if err != nil || n != 42 {
		t.Fatalf("readTotal = %d, %v; want 42", n, err)
	}
	if _, err := readTotal(callgrindOut(t, "totals: 0\n")); err == nil || !strings.Contains(err.Error(), "toggle-collect") {
		t.Fatalf("zero instructions: %v, want an error naming --toggle-collect", err)
	}
	if _, err := readTotal(callgrindOut(t, "")); err == nil {
		t.Fatal("no totals line: no error")
	}
}

// writeParts writes part files as callgrind --separate-threads=yes with
// --dump-before writes them: PREFIX.PART-THREAD, a trigger naming the
// function whose entry ended the part (none for the last, at exit).
func writeParts(t *testing.T, parts []part) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, p := range parts {
		var b strings.Builder
		fmt.Fprintf(&b, "# callgrind format\nversion: 1\npart: %d\nthread: %d\n\ndesc: I1 cache: \n", p.n, p.thread)
		if p.trigger != "" {
			fmt.Fprintf(&b, "desc: Trigger: --dump-before=%s\n", p.trigger)
		} else {
			b.WriteString("desc: Trigger: Program termination\n")
		}
		fmt.Fprintf(&b, "events: Ir\nfn=(1) f\n0 %d\ntotals: %d\n", p.total, p.total)
		path := filepath.Join(dir, fmt.Sprintf("w.out.%d-%02d", p.n, p.thread))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	return files
}

func TestWindow(t *testing.T) {
	const runMap, runResult = "rdd.(*graph).RunMap", "rdd.(*graph).RunResult"
	// Thread 3 is the task slot: a pinning job, two map tasks, two reduce
	// tasks. Thread 1 ran the driver at the same time.
	var parts []part
	for i, c := range []struct {
		trigger     string
		slot, other int64
	}{
		{runResult, 400, 9000}, // the pinning job starts
		{runMap, 600, 50},      // map task 1 starts
		{runMap, 888, 70},      // map task 2 starts
		{runResult, 828, 80},   // reduce task 1 starts
		{runResult, 442, 10},   // reduce task 2 starts
		{"", 443, 5},           // exit
	} {
		parts = append(parts, part{n: i + 1, thread: 3, total: c.slot, trigger: c.trigger},
			part{n: i + 1, thread: 1, total: c.other, trigger: c.trigger})
	}
	files := writeParts(t, parts)
	slices.Reverse(files) // in no particular order
	n, err := window{Files: files, Start: runMap, End: runResult}.count()
	if err != nil || n != 888+828 {
		t.Fatalf("window = %d, %v; want %d", n, err, 888+828)
	}
	n, err = window{Files: files, Start: runMap}.count()
	if err != nil || n != 888+828+442+443 {
		t.Fatalf("window to the end = %d, %v; want %d", n, err, 888+828+442+443)
	}
	if _, err := (window{Files: files, Start: "main.other"}).count(); err == nil {
		t.Fatal("a start function that triggered no dump: no error")
	}
	if _, err := (window{Files: []string{callgrindOut(t, "totals: 5\n")}, Start: runMap}).count(); err == nil || !strings.Contains(err.Error(), "--separate-threads") {
		t.Fatalf("a file without parts: %v", err)
	}
}

func TestCrossCheck(t *testing.T) {
	for _, c := range []struct {
		count, win int64
		ok         bool
	}{
		{1000, 1000, true},
		{999, 1000, true},  // the window holds a little more
		{1009, 1000, true}, // noise between the two runs
		{989, 1000, false}, // the collection missed work
		{1011, 1000, false},
	} {
		_, err := crossCheck("sluice", c.count, c.win, 0.01)
		if (err == nil) != c.ok {
			t.Errorf("crossCheck(%d, %d): %v, want ok %v", c.count, c.win, err, c.ok)
		}
	}
}

func TestRunRecordThenCheck(t *testing.T) {
	dir := t.TempDir()
	s1, s2 := callgrindOut(t, "totals: 2000\n"), callgrindOut(t, "totals: 2002\n")
	b1 := callgrindOut(t, "totals: 1000\n")
	bud := filepath.Join(dir, "budget")
	args := []string{"--bytes", "100", "--words", "10", "--sluice", s1 + "," + s2, "--baseline", b1}
	var out strings.Builder
	code, err := run(append(args, "--record", bud, "--corpus", "test"), &out)
	if code != 0 || err != nil {
		t.Fatalf("--record: %d, %v\n%s", code, err, out.String())
	}
	for _, want := range []string{
		"sluice   runs 2000 2002 (spread 0.100%)",
		"sluice            2001 instructions    20.01 per byte    200.1 per word",
		"sluice_instructions/baseline_instructions = 2.00",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code, err := run(append(args, "--check", bud), &out); code != 0 || err != nil {
		t.Fatalf("--check of the same runs: %d, %v\n%s", code, err, out.String())
	}
	worse := callgrindOut(t, "totals: 2100\n")
	out.Reset()
	code, err = run([]string{"--bytes", "100", "--words", "10", "--sluice", s1 + "," + worse, "--baseline", b1, "--record", bud}, &out)
	if code != 2 || err == nil || !strings.Contains(err.Error(), "not recording") {
		t.Fatalf("--record of runs 5%% apart: %d, %v, want a refusal", code, err)
	}
	out.Reset()
	code, err = run([]string{"--bytes", "100", "--words", "10", "--sluice", worse, "--baseline", b1, "--check", bud}, &out)
	if code != 1 || err != nil || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("--check of a 5%% regression: %d, %v, want status 1 and FAIL:\n%s", code, err, out.String())
	}
}
