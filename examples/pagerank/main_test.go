package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/worker"
)

const asMain = "SLUICE_PAGERANK_RUN_MAIN"

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

// A small strongly connected graph: its ranks converge to the fixed
// point of r = 0.15 + 0.85 M r, which sums to the number of pages.
var graph = [][2]string{
	{"a", "b"}, {"a", "c"}, {"b", "c"}, {"c", "a"}, {"d", "c"}, {"c", "d"}, {"d", "a"}, {"e", "a"}, {"a", "e"}, {"b", "e"},
}

// naiveRanks iterates the same update on maps, n times.
func naiveRanks(n int) map[string]float64 {
	out := map[string][]string{}
	for _, e := range graph {
		out[e[0]] = append(out[e[0]], e[1])
	}
	ranks := map[string]float64{}
	for p := range out {
		ranks[p] = 1
	}
	for range n {
		next := map[string]float64{}
		for p, urls := range out {
			for _, u := range urls {
				next[u] += ranks[p] / float64(len(urls))
			}
		}
		for p := range next {
			next[p] = 0.15 + 0.85*next[p]
		}
		ranks = next
	}
	return ranks
}

func TestConvergesToNaiveRanks(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for _, e := range graph {
		fmt.Fprintf(&b, "%s %s\n", e[0], e[1])
	}
	b.WriteString("a b\n# a comment line\n") // a repeated link counts once
	in := filepath.Join(dir, "links.txt")
	os.WriteFile(in, []byte(b.String()), 0o644)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--iterations", "60", "--output", out, in)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pagerank: %v\n%s", err, out)
	}
	if err := commit.Check(out, -1); err != nil {
		t.Fatal(err)
	}
	parts, _ := commit.Parts(out)
	got := map[string]float64{}
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			page, r, _ := strings.Cut(l, "\t")
			x, err := strconv.ParseFloat(r, 64)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			got[page] = x
		}
	}
	want, before := naiveRanks(60), naiveRanks(59)
	sum := 0.0
	for p, w := range want {
		if math.Abs(got[p]-w) > 1e-9 {
			t.Errorf("page %s: rank %v, want %v", p, got[p], w)
		}
		if math.Abs(w-before[p]) > 1e-9 {
			t.Errorf("page %s: the reference has not converged (%v then %v)", p, before[p], w)
		}
		sum += got[p]
	}
	if len(got) != len(want) || math.Abs(sum-float64(len(want))) > 1e-6 {
		t.Errorf("ranks %v sum to %v over %d pages, want %d pages summing to %d", got, sum, len(got), len(want), len(want))
	}
}
