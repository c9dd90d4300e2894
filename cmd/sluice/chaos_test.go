package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// asDialer makes the test binary a tiny helper for the fake drivers: it
// exits 0 when something accepts TCP connections at the address in the
// variable, 1 otherwise. It runs from init, before TestMain.
const asDialer = "SLUICE_CHAOS_TEST_DIAL"

func init() {
	if addr := os.Getenv(asDialer); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		c.Close()
		os.Exit(0)
	}
}

type chaosResult struct {
	stdout, stderr string
	code           int
}

// runChaosCmd runs `sluice chaos args...` as a child of the test, killed
// by its PID if it outlives limit (its workers and driver die with it).
func runChaosCmd(t *testing.T, limit time.Duration, args ...string) chaosResult {
	t.Helper()
	cmd := sluice(t, append([]string{"chaos"}, args...)...)
	// Under -race, each process that exits 0 would first sleep a second:
	// chaos, its workers and the fake drivers' helpers are many.
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	select {
	case <-exited:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("sluice chaos %v still running after %v\nstdout:\n%s\nstderr:\n%s", args, limit, stdout.String(), stderr.String())
	}
	return chaosResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func TestChaosUsageErrors(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := []string{"--", "/bin/true", "--join", "{join}", "--output", "{output}"}
	for _, c := range []struct {
		args []string
		want string // in the one line of stderr
	}{
		{[]string{"--bogus"}, "--bogus"},
		{[]string{"--core", "0"}, "--core"},
		{[]string{"--core", "x"}, "--core"},
		{[]string{"--task", "-1"}, "--task"},
		{[]string{"--slots", "-2"}, "--slots"},
		{[]string{"--signal", "HUP"}, "--signal"},
		{[]string{"--at", "30"}, "--at"},
		{[]string{"--at", "30%,150%"}, "--at"},
		{[]string{"--at", "NaN%"}, "--at"},
		{[]string{"--at", "30%", "--every", "1s"}, "--every"},
		{[]string{"--every", "0s"}, "--every"},
		{[]string{"--every", "soon"}, "--every"},
		{[]string{"--task", "3", "--kills", "4"}, "--kills"},
		{[]string{"--kills", "-1"}, "--kills"},
		{[]string{"--task", "1", "--at", "30%,60%"}, "--kills"},
		{[]string{"--seed", "-3"}, "--seed"},
		{[]string{"--timeout", "0s"}, "--timeout"},
		{[]string{"--dir", full}, "--dir"},
		{nil, "DRIVER-COMMAND"},
		{[]string{"--", "/bin/true", "--join", "{join}"}, "{output}"},
		{[]string{"--", "/nonexistent/driver", "{output}"}, "/nonexistent/driver"},
	} {
		args := c.args
		if !slices.Contains(args, "--") && c.want != "DRIVER-COMMAND" {
			args = append(slices.Clone(args), cmd...)
		}
		r := runChaosCmd(t, time.Minute, args...)
		line := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, c.want) || r.stdout != "" {
			t.Errorf("sluice chaos %q: exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s", args, r.code, r.stdout, r.stderr, c.want)
		}
	}
}

// fakeDriver writes a shell script that acts as a driver command taking
// --join ADDR --output DIR: it checks that a worker listens at ADDR and
// that DIR is new, counts its runs in state/runs, records its arguments in
// state/calls, then runs body (with $n the run's number and $out the
// output directory).
func fakeDriver(t *testing.T, body string) (script, state string) {
	t.Helper()
	dir := t.TempDir()
	state = filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "driver.sh")
	text := fmt.Sprintf(`#!/bin/sh
set -eu
while [ $# -gt 0 ]; do
	case $1 in
	--join) join=$2; shift 2 ;;
	--output) out=$2; shift 2 ;;
	*) echo "unexpected argument $1" >&2; exit 2 ;;
	esac
done
%s=$join '%s'
[ ! -e "$out" ] || { echo "$out exists already" >&2; exit 3; }
n=$(cat '%[3]s/runs' 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >'%[3]s/runs'
echo "$join $out" >>'%[3]s/calls'
%[4]s
`, asDialer, os.Args[0], state, body)
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, state
}

// writeOutput is a fake driver's deterministic output, in two part files.
const writeOutput = `mkdir "$out"
printf 'b\t2\na\t1\n' >"$out/part-00000"
printf 'a\t1\n' >"$out/part-00001"
: >"$out/_SUCCESS"`

var (
	faultFreeLine = regexp.MustCompile(`^fault-free: (\d+\.\d\d)s exit 0$`)
	chaosLine     = regexp.MustCompile(`^chaos: (\d+\.\d\d)s exit 0 \(\d+\.\d\dx\)$`)
	killedLine    = regexp.MustCompile(`^workers killed: (\d+)((?: \(|, )127\.0\.0\.1:\d+ at \d+\.\d\ds)*\)?$`)
	killEntry     = regexp.MustCompile(`(127\.0\.0\.1:\d+) at (\d+\.\d\d)s`)
)

func TestChaosIdenticalOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	// The sleep is the fake job's work: kills land while it runs. The
	// driver writes the summary a real one writes.
	script, state := fakeDriver(t, `sleep 1.5
`+writeOutput+`
printf '{"ok": true, "tasks_recomputed": %d, "stages_recomputed": %d}\n' $((2 * n - 2)) $((n - 1)) >"$SLUICE_JOB_SUMMARY"`)
	for _, c := range []struct {
		name  string
		flags []string
		kills int
		at    func(i int, faultFree float64) float64 // when kill i is due
	}{
		{"KILL at 50%", []string{"--core", "1", "--task", "2", "--seed", "7"}, 1,
			func(_ int, faultFree float64) float64 { return faultFree / 2 }},
		{"TERM every 500ms", []string{"--core", "1", "--task", "3", "--signal", "TERM", "--every", "500ms", "--kills", "2"}, 2,
			func(i int, _ float64) float64 { return 0.5 * float64(i+1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(state, "runs"))
			os.Remove(filepath.Join(state, "calls"))
			work := filepath.Join(t.TempDir(), "work")
			start := time.Now()
			args := append(slices.Clone(c.flags), "--dir", work, "--", script, "--join", "{join}", "--output", "{output}")
			r := runChaosCmd(t, time.Minute, args...)
			t.Logf("took %v; stdout:\n%sstderr:\n%s", time.Since(start), r.stdout, r.stderr)
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != 6 {
				t.Fatalf("%d lines of report, want 6", len(lines))
			}
			ffm, chm, km := faultFreeLine.FindStringSubmatch(lines[1]), chaosLine.FindStringSubmatch(lines[2]), killedLine.FindStringSubmatch(lines[3])
			if lines[0] != "outputs: identical" || ffm == nil || chm == nil || km == nil ||
				lines[4] != "tasks recomputed: 2" || lines[5] != "stages recomputed: 1" {
				t.Fatalf("report:\n%s", r.stdout)
			}
			if km[1] != strconv.Itoa(c.kills) {
				t.Fatalf("%s killed, want %d", km[1], c.kills)
			}

			// Two runs, each on its own cluster, each with a fresh output
			// directory in the work directory.
			calls, err := os.ReadFile(filepath.Join(state, "calls"))
			if err != nil {
				t.Fatal(err)
			}
			var joins []string
			for i, l := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
				join, out, _ := strings.Cut(l, " ")
				want := filepath.Join(work, []string{"fault-free", "chaos"}[min(i, 1)]+"-output")
				if out != want {
					t.Errorf("run %d: --output %s, want %s", i+1, out, want)
				}
				joins = append(joins, join)
			}
			if len(joins) != 2 || joins[0] == joins[1] {
				t.Fatalf("join addresses of the runs: %v", joins)
			}

			// Task nodes died (never the core node at the join address),
			// each once, at the scheduled moments of the chaos run.
			faultFree, _ := strconv.ParseFloat(ffm[1], 64)
			chaosWall, _ := strconv.ParseFloat(chm[1], 64)
			seen := map[string]bool{}
			for i, k := range killEntry.FindAllStringSubmatch(lines[3], -1) {
				at, _ := strconv.ParseFloat(k[2], 64)
				want := c.at(i, faultFree)
				if k[1] == joins[1] || seen[k[1]] || at < want-0.02 || at > chaosWall+0.01 {
					t.Errorf("kill %d: %s at %vs; want a distinct task node at %.2fs, within the %vs run", i, k[1], at, want, chaosWall)
				}
				seen[k[1]] = true
			}
			for _, f := range []string{"fault-free.log", "chaos.log", "fault-free-output/_SUCCESS", "chaos-output/part-00001"} {
				if _, err := os.Stat(filepath.Join(work, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestChaosDifferentOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	script, _ := fakeDriver(t, writeOutput+`
echo "run $n" >"$out/part-00002"`)
	r := runChaosCmd(t, time.Minute, "--task", "1", "--kills", "0", "--", script, "--join", "{join}", "--output", "{output}")
	t.Logf("stdout:\n%sstderr:\n%s", r.stdout, r.stderr)
	lines := strings.Split(r.stdout, "\n")
	if r.code != 1 || len(lines) != 7 ||
		lines[0] != "outputs: DIFFERENT (1 lines only in the fault-free output, 1 only in the chaos output)" ||
		lines[3] != "workers killed: 0" ||
		lines[4] != "tasks recomputed: unknown (the driver wrote no summary to $SLUICE_JOB_SUMMARY)" || lines[5] != "stages recomputed: unknown" {
		t.Fatalf("exit %d and this report; want exit 1 and different outputs", r.code)
	}
	if !strings.HasSuffix(r.stderr, "sluice chaos: the outputs differ: \"run 1\" only in the fault-free output\n") {
		t.Fatal("the last line of stderr does not say which line differs")
	}
}

func TestChaosFailedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Run("chaos run fails", func(t *testing.T) {
		script, _ := fakeDriver(t, writeOutput+`
if [ $n = 2 ]; then echo "boom in run $n" >&2; exit 4; fi`)
		r := runChaosCmd(t, time.Minute, "--task", "1", "--kills", "0", "--", script, "--join", "{join}", "--output", "{output}")
		t.Logf("stdout:\n%sstderr:\n%s", r.stdout, r.stderr)
		if r.code != 1 || !regexp.MustCompile(`(?m)^chaos: \d+\.\d\ds exit 4 `).MatchString(r.stdout) ||
			!strings.Contains(r.stderr, "\nboom in run 2\n") ||
			!strings.HasSuffix(r.stderr, "sluice chaos: the chaos run failed: its driver exited 4\n") {
			t.Fatal("want exit 1, the chaos log's tail and the reason")
		}
	})
	t.Run("fault-free run times out", func(t *testing.T) {
		// exec: the driver's PID is the sleep's, so the kill ends it.
		script, _ := fakeDriver(t, `exec sleep 30`)
		start := time.Now()
		r := runChaosCmd(t, time.Minute, "--task", "1", "--timeout", "1s", "--", script, "--join", "{join}", "--output", "{output}")
		t.Logf("stdout:\n%sstderr:\n%s", r.stdout, r.stderr)
		if r.code != 1 || !regexp.MustCompile(`^fault-free: \d+\.\d\ds exit -1\n$`).MatchString(r.stdout) ||
			!strings.HasSuffix(r.stderr, "sluice chaos: the fault-free run took longer than --timeout 1s: its driver was killed; the chaos run was skipped\n") {
			t.Fatal("want exit 1, the fault-free line only and the reason")
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("took %v with --timeout 1s", d)
		}
	})
}

func TestCompareOutputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The same lines, split and ordered differently; a last line without
	// '\n' is a line; files other than part-* do not count.
	write("a/part-00000", "x\ny\n\nx\n")
	write("a/part-00001", "z")
	write("a/_SUCCESS", "")
	write("a/notes", "ignored\n")
	write("b/part-00000", "z\nx\n")
	write("b/part-00007", "\ny\nx\n")
	write("b/_temporary/0/part-00000", "ignored\n")
	c, err := compareOutputs(filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "tmp"), compareBudget)
	if err != nil {
		t.Fatal(err)
	}
	if !c.sameLines() || !c.successA || c.successB || c.identical() {
		t.Fatalf("%+v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary files left: %v", err)
	}

	// A multiset: a line twice on one side and once on the other differs.
	write("b/part-00008", "x\nw\n")
	c, err = compareOutputs(filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "tmp"), compareBudget)
	if err != nil || c.onlyA != 0 || c.onlyB != 2 || c.example != `"w" only in the chaos output` {
		t.Fatalf("%+v, %v", c, err)
	}
	c, err = compareOutputs(filepath.Join(dir, "a"), filepath.Join(dir, "missing"), filepath.Join(dir, "tmp"), compareBudget)
	if err != nil || c.onlyA != 5 || c.onlyB != 0 || c.successB {
		t.Fatalf("against a missing directory: %+v, %v", c, err)
	}
}

// The spilling comparison agrees with counting lines in maps.
func TestCompareOutputsAgainstMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for round := range 3 {
		dir := t.TempDir()
		counts := map[string]int{}
		for _, side := range []string{"a", "b"} {
			sign := 1
			if side == "b" {
				sign = -1
			}
			if err := os.Mkdir(filepath.Join(dir, side), 0o755); err != nil {
				t.Fatal(err)
			}
			for p := range 3 {
				var b strings.Builder
				for range 2000 {
					l := strconv.Itoa(rng.IntN(3000))
					if rng.IntN(1000) == 0 {
						l = strings.Repeat("x", 70<<10) + l // longer than the 64 KiB read buffer
					}
					counts[l] += sign
					b.WriteString(l + "\n")
				}
				os.WriteFile(filepath.Join(dir, side, fmt.Sprintf("part-%05d", p)), []byte(b.String()), 0o644)
			}
		}
		var onlyA, onlyB int64
		for _, n := range counts {
			if n > 0 {
				onlyA += int64(n)
			} else {
				onlyB -= int64(n)
			}
		}
		c, err := compareOutputs(filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "tmp"), 16<<10)
		if err != nil || c.onlyA != onlyA || c.onlyB != onlyB {
			t.Fatalf("round %d: %+v, %v; want %d and %d", round, c, err, onlyA, onlyB)
		}
	}
}

func TestKillOffsets(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		cfg  chaosConfig
		want []time.Duration
	}{
		{chaosConfig{at: []float64{0.5}, kills: 1}, []time.Duration{5 * s}},
		{chaosConfig{at: []float64{0.3, 0.6}, kills: 2}, []time.Duration{3 * s, 6 * s}},
		{chaosConfig{at: []float64{0.3, 0.6}, kills: 1}, []time.Duration{3 * s}},
		{chaosConfig{at: []float64{0.3, 0.6}, kills: 3}, []time.Duration{3 * s, 3 * s, 6 * s}},
		{chaosConfig{at: []float64{0.5}, kills: 0}, nil},
		{chaosConfig{every: 2 * s, kills: 3}, []time.Duration{2 * s, 4 * s, 6 * s}},
	} {
		if got := killOffsets(c.cfg, 10*s); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.cfg, got, c.want)
		}
	}
}

func TestReadSummaryAndTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "summary.json")
	if err := os.WriteFile(p, []byte(`{"ok": true, "tasks": 12, "tasks_recomputed": 3, "stages_recomputed": 1, "tasks_by_worker": {"127.0.0.1:1": 4}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := readSummary(p); err != nil || d != (sessionCounts{3, 1}) {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := os.WriteFile(p, []byte(`{"ok": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := readSummary(p); err != nil || d != (sessionCounts{-1, -1}) {
		t.Fatalf("without counts: %+v, %v", d, err)
	}
	for _, bad := range []string{"", "msg=\"session done\" tasks=3", "[1,2]"} {
		os.WriteFile(p, []byte(bad), 0o644)
		if d, err := readSummary(p); err == nil || d != (sessionCounts{-1, -1}) {
			t.Errorf("%q: %+v, %v; want an error", bad, d, err)
		}
	}
	if _, err := readSummary(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing summary read")
	}

	log := filepath.Join(t.TempDir(), "log")
	text := "first\n" + strings.Repeat("x", 100<<10) + "\ntime=3 second to last\nlast line without newline"
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tail, err := tailLines(log, 3)
	if err != nil || len(tail) != 3 || len(tail[0]) != logLineLimit || !strings.HasPrefix(tail[1], "time=3") || tail[2] != "last line without newline" {
		t.Fatalf("tail %d lines, %v", len(tail), err)
	}
}
