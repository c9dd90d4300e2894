package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/memlimit"
)

const asMain = "SLUICE_SORTLINES_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

func TestSortsLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	var lines []string
	var paths []string
	for f := range 3 {
		var b strings.Builder
		for range 20000 {
			l := fmt.Sprintf("%x %d", rng.Uint64()>>rng.IntN(60), rng.IntN(100))
			switch rng.IntN(50) {
			case 0: // a CRLF line end: the "\r" is part of the line, as for sort
				l += "\r"
			case 1:
				l = "\r" + l
			}
			lines = append(lines, l)
			b.WriteString(l + "\n")
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d", f))
		os.WriteFile(p, []byte(b.String()), 0o644)
		paths = append(paths, p)
	}
	slices.Sort(lines)
	// In the driver's process, and in two executor processes as on a
	// cluster.
	for i, mode := range [][]string{nil, {"--local-cluster", "2"}} {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], slices.Concat(mode, []string{"--output", out, "--memory", "256KiB"}, paths)...)
		cmd.Env = append(os.Environ(), asMain+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%q: %v: %s", mode, err, b)
		}
		if err := commit.Check(out, -1); err != nil {
			t.Fatal(err)
		}
		parts, _ := commit.Parts(out)
		var got []string
		for _, p := range parts {
			b, _ := os.ReadFile(p)
			if len(b) > 0 {
				got = append(got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
			}
		}
		if !slices.Equal(got, lines) {
			t.Fatalf("%q: %d lines out, want %d in order", mode, len(got), len(lines))
		}
		if len(parts) < 2 {
			t.Fatalf("%q: %d part files; want the sort spread over partitions", mode, len(parts))
		}
	}
}

// TestPeakRSSWithinMemory runs sortlines on tens of MiB with a small
// --memory and holds the process's peak resident memory to --memory ×
// slots plus the fixed overhead that the driver documents: --memory means
// the process, not only the sort buffers. The peak is the child's own
// high-water mark (VmHWM, in its job summary): the ru_maxrss that wait4
// gives counts this test process's memory too, which the child shares
// until its exec.
func TestPeakRSSWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sorts 48 MiB")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the program's")
	}
	const (
		slots  = 2
		memory = 16 << 20
		size   = 48 << 20
	)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	lines := writeLines(t, in, size)
	out := filepath.Join(dir, "out")
	summary := filepath.Join(dir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.Command(os.Args[0], "--parallelism", strconv.Itoa(slots), "--memory", "16MiB",
		"--job-summary", summary, "--output", out, in)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(v string) bool {
		return strings.HasPrefix(v, "GOMEMLIMIT=") || strings.HasPrefix(v, "GOGC=")
	}), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := clustertest.RunContext(ctx, cmd); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if err := commit.Check(out, -1); err != nil {
		t.Fatal(err)
	}
	parts, _ := commit.Parts(out)
	n, prev := 0, ""
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l < prev {
				t.Fatalf("%q after %q: not sorted", l, prev)
			}
			n, prev = n+1, l
		}
	}
	if n != lines {
		t.Fatalf("%d lines out, want %d", n, lines)
	}
	var sum struct {
		Spills int64
		Peak   int64 `json:"peak_rss_bytes"`
	}
	if b, err := os.ReadFile(summary); err != nil || json.Unmarshal(b, &sum) != nil || sum.Spills == 0 || sum.Peak <= 0 {
		t.Fatalf("job summary %s (%v): %+v; want spills, or --memory did not bind, and the peak RSS", summary, err, sum)
	}
	peak := sum.Peak
	bound := int64(slots*memory + memlimit.Fixed)
	t.Logf("peak RSS %d MiB sorting %d MiB with --memory 16MiB on %d slots (%d spills); bound %d MiB", peak>>20, size>>20, slots, sum.Spills, bound>>20)
	if peak > bound {
		t.Errorf("peak RSS %d MiB, over %d slots × --memory 16MiB + %d MiB fixed = %d MiB", peak>>20, slots, memlimit.Fixed>>20, bound>>20)
	}
}

// writeLines writes seeded lines of 5 to 20 words, about size bytes, to
// path and returns how many.
func writeLines(t *testing.T, path string, size int) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	b := make([]byte, 0, size+256)
	n := 0
	for len(b) < size {
		for w := range 5 + rng.IntN(16) {
			if w > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendUint(b, rng.Uint64()>>rng.IntN(64), 36)
		}
		b = append(b, '\n')
		n++
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}
