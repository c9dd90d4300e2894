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

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/worker"
)

const asMain = "SLUICE_LOGS_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" || worker.IsExecutor() {
		main()
		return
	}
	cleanup := clustertest.PrivateConfigHome()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

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

func lines(t *testing.T, dir string) []string {
	t.Helper()
	if err := commit.Check(dir, -1); err != nil {
		t.Fatal(err)
	}
	parts, _ := commit.Parts(dir)
	var all []string
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		if s := strings.TrimSuffix(string(b), "\n"); s != "" {
			all = append(all, strings.Split(s, "\n")...)
		}
	}
	return all
}

func TestReportsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	dir := t.TempDir()
	base := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	byHour, byPath := map[string]int{}, map[string]int{}
	var b strings.Builder
	bad := 0
	for i := range 20000 {
		if i%997 == 0 {
			b.WriteString("{not json\n")
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
	if last := all[len(all)-1]; err == nil || !strings.Contains(last, "{not json") || !strings.Contains(last, "--skip-bad-records") {
		t.Fatalf("a bad line: err %v, stderr %q; want a last line naming it and the flag", err, stderr)
	}

	out := filepath.Join(dir, "out")
	summary := filepath.Join(dir, "summary.json")
	stdout, stderr, err := run(t, "--skip-bad-records", "--memory", "256KiB", "--top", "5", "--job-summary", summary, "--output", out, in)
	if err != nil {
		t.Fatalf("logs: %v\n%s", err, stderr)
	}
	var wantHour []string
	for _, k := range slices.Sorted(maps.Keys(byHour)) {
		wantHour = append(wantHour, fmt.Sprintf("%s\t%d", k, byHour[k]))
	}
	if got := lines(t, filepath.Join(out, "status-by-hour")); !slices.Equal(got, wantHour) {
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
	if got := lines(t, filepath.Join(out, "top-paths")); !slices.Equal(got, wantTop) {
		t.Fatalf("top paths: %v, want %v", got, wantTop)
	}
	if want := strings.Join(wantTop[:5], "\n") + "\n"; stdout != want {
		t.Fatalf("stdout %q, want %q", stdout, want)
	}
	raw, _ := os.ReadFile(summary)
	var sum driver.Summary
	json.Unmarshal(raw, &sum)
	// Two jobs read the input, each counting the bad lines once.
	if got := sum.Counters["logs"]["BAD_RECORDS"]; got != int64(2*bad) {
		t.Fatalf("logs.BAD_RECORDS %d, want %d (two jobs × %d)", got, 2*bad, bad)
	}
}
