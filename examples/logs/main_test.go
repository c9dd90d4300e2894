package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
)

const asMain = "SLUICE_LOGS_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// rows reads the Parquet part files of a committed report in order, with
// the Parquet library rather than Sluice's reader, one string per row.
func rows[T any](t *testing.T, dir string, format func(T) string) []string {
	t.Helper()
	if err := commit.Check(dir, -1); err != nil {
		t.Fatal(err)
	}
	parts, err := commit.Parts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, p := range parts {
		rs, err := parquet.ReadFile[T](p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, r := range rs {
			all = append(all, format(r))
		}
	}
	return all
}

func hourLine(h hourCount) string { return fmt.Sprintf("%s\t%d\t%d", h.Hour, h.Status, h.Requests) }
func pathLine(p pathCount) string { return fmt.Sprintf("%s\t%d", p.Path, p.Requests) }

func TestReportsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	dir := t.TempDir()
	base := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	byHour, byPath := map[string]int{}, map[string]int{}
	var b strings.Builder
	bad := 0
	for i := range 20000 {
		switch i % 997 {
		case 0:
			b.WriteString("{not json\n")
			bad++
			continue
		case 500: // JSON, but no path
			b.WriteString(`{"time":"2026-11-30T05:00:00Z","status":200}` + "\n")
			bad++
			continue
		}
		at := base.Add(time.Duration(rng.Int64N(int64(30 * time.Hour))))
		if rng.IntN(3) == 0 {
			at = at.In(time.FixedZone("X", 3600*(rng.IntN(5)-2))) // other offsets: hours are UTC
		}
		status := []int{200, 200, 200, 301, 404, 500}[rng.IntN(6)]
		path := fmt.Sprintf("/p%d", int(rng.ExpFloat64()*20))
		rec, _ := json.Marshal(map[string]any{"time": at.Format(time.RFC3339Nano), "status": status, "path": path, "bytes": rng.IntN(1000)})
		b.Write(rec)
		b.WriteByte('\n')
		byHour[fmt.Sprintf("%s\t%d", at.UTC().Format("2006-01-02T15"), status)]++
		byPath[path]++
	}
	in := filepath.Join(dir, "access.jsonl")
	os.WriteFile(in, []byte(b.String()), 0o644)

	_, stderr, err := run(t, "--output", filepath.Join(dir, "strict"), in)
	all := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := all[len(all)-1]; err == nil || !strings.Contains(last, in+":1:") {
		t.Fatalf("a bad line: err %v, stderr %q; want a last line naming its file and line (%s:1)", err, stderr, in)
	}
	_, stderr, err = run(t, "--skip-bad-records", fmt.Sprint(bad-1), "--output", filepath.Join(dir, "past"), in)
	all = strings.Split(strings.TrimSpace(stderr), "\n")
	if last := all[len(all)-1]; err == nil || !strings.Contains(last, fmt.Sprintf("more than --skip-bad-records %d", bad-1)) {
		t.Fatalf("%d bad lines under --skip-bad-records %d: err %v, stderr %q; want a failure naming the flag", bad, bad-1, err, stderr)
	}

	out := filepath.Join(dir, "out")
	summary := filepath.Join(dir, "summary.json")
	stdout, stderr, err := run(t, "--skip-bad-records", fmt.Sprint(bad), "--memory", "256KiB", "--top", "5", "--job-summary", summary, "--output", out, in)
	if err != nil {
		t.Fatalf("logs: %v\n%s", err, stderr)
	}
	var wantHour []string
	for _, k := range slices.Sorted(maps.Keys(byHour)) {
		wantHour = append(wantHour, fmt.Sprintf("%s\t%d", k, byHour[k]))
	}
	if got := rows(t, filepath.Join(out, "status-by-hour"), hourLine); !slices.Equal(got, wantHour) {
		t.Fatalf("status by hour: %d lines, want %d in order; they differ", len(got), len(wantHour))
	}
	type pc struct {
		p string
		n int
	}
	var ranked []pc
	for p, n := range byPath {
		ranked = append(ranked, pc{p, n})
	}
	slices.SortFunc(ranked, func(a, b pc) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.p, b.p)) })
	var wantTop []string
	for _, x := range ranked {
		wantTop = append(wantTop, fmt.Sprintf("%s\t%d", x.p, x.n))
	}
	if got := rows(t, filepath.Join(out, "paths"), pathLine); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantTop))) {
		t.Fatalf("paths: %d rows, want %d; they differ", len(got), len(wantTop))
	}
	if got := rows(t, filepath.Join(out, "top-paths"), pathLine); !slices.Equal(got, wantTop) {
		t.Fatalf("top paths: %v, want %v", got, wantTop)
	}
	if want := strings.Join(wantTop[:5], "\n") + "\n"; stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	// Executor processes write and read the same Parquet.
	cl := filepath.Join(dir, "cluster")
	if _, stderr, err := run(t, "--local-cluster", "2", "--skip-bad-records", fmt.Sprint(bad), "--output", cl, in); err != nil {
		t.Fatalf("logs --local-cluster 2: %v\n%s", err, stderr)
	}
	if got := rows(t, filepath.Join(cl, "status-by-hour"), hourLine); !slices.Equal(got, wantHour) {
		t.Fatalf("--local-cluster 2: status by hour: %d lines, want %d in order; they differ", len(got), len(wantHour))
	}
	if got := rows(t, filepath.Join(cl, "top-paths"), pathLine); !slices.Equal(got, wantTop) {
		t.Fatalf("--local-cluster 2: top paths: %v, want %v", got, wantTop)
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum driver.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	// Three jobs read the whole input, each counting the bad lines once:
	// StatusByHour's sample of its keys for the total order, StatusByHour
	// and RequestsByPath.
	if sum.BadRecordsSkipped != int64(3*bad) || !strings.Contains(sum.FirstBadRecord, in+":") {
		t.Fatalf("%d bad records skipped, the first %q; want %d (three jobs × %d), the first named by file and line", sum.BadRecordsSkipped, sum.FirstBadRecord, 3*bad, bad)
	}
}
