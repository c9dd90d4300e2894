package main

import (
	"os"
	"path/filepath"
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

func TestReadOut(t *testing.T) {
	n, _, err := readOut(callgrindOut(t, "summary: 42\ntotals: 42\n"), "")
	if err != nil || n != 42 {
		t.Fatalf("readOut = %d, %v; want 42", n, err)
	}
	if _, _, err := readOut(callgrindOut(t, "totals: 0\n"), ""); err == nil || !strings.Contains(err.Error(), "toggle-collect") {
		t.Fatalf("zero instructions: %v, want an error naming --toggle-collect", err)
	}
	if _, _, err := readOut(callgrindOut(t, ""), ""); err == nil {
		t.Fatal("no totals line: no error")
	}
}

// calledTwice is callgrind output, with compressed names as callgrind
// writes them, in which main.tokenize is called 3+4 times from two
// callers and once more from a recursion level, and main.tokenizeMore,
// whose name it prefixes, 100 times.
const calledTwice = `fn=(1) main.a
cfn=(2) main.tokenize
calls=3 +6
5 10
cfn=(3) main.tokenizeMore
calls=100 +1
5 10
fn=(4) main.b
cfn=(2)
calls=4 -2
7 20
cfn=(5) main.tokenize'2
calls=1 0
7 1
fn=(2)
3 5
totals: 46
`

func TestReadOutCalls(t *testing.T) {
	p := callgrindOut(t, calledTwice)
	n, c, err := readOut(p, "main.tokenize")
	if err != nil || n != 46 || c != 8 {
		t.Fatalf("readOut = %d instructions, %d calls, %v; want 46, 8", n, c, err)
	}
	if _, err := readRuns("sluice", p, calls{"main.tokenize", 9}); err == nil || !strings.Contains(err.Error(), "8 calls of main.tokenize, want at least 9") {
		t.Fatalf("a missed call: %v, want an error", err)
	}
	var out strings.Builder
	code, err := run([]string{"--bytes", "1", "--words", "1", "--sluice", p, "--baseline", p, "--baseline-calls", "main.tokenize=9"}, &out)
	if code != 2 || err == nil || !strings.Contains(err.Error(), "want at least 9") {
		t.Fatalf("--baseline-calls with a missed call: status %d, %v", code, err)
	}
	for _, n := range []int64{7, 8} {
		if _, err := readRuns("sluice", p, calls{"main.tokenize", n}); err != nil {
			t.Fatalf("%d calls wanted: %v", n, err)
		}
	}
}

func TestParseCalls(t *testing.T) {
	c, err := parseCalls("github.com/x/y.(*g).f=12")
	if err != nil || c != (calls{"github.com/x/y.(*g).f", 12}) {
		t.Fatalf("parseCalls = %+v, %v", c, err)
	}
	for _, bad := range []string{"f", "=3", "f=x", "f=-1"} {
		if _, err := parseCalls(bad); err == nil {
			t.Errorf("parseCalls(%q): no error", bad)
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
