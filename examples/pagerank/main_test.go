package main

import (
	"context"
	"encoding/json"
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

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
)

const asMain = "SLUICE_PAGERANK_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

// A small strongly connected graph: its ranks converge to the fixed
// point of r = 0.15 + 0.85 M r, which sums to the number of pages.
var graph = [][2]string{
	{"a", "b"}, {"a", "c"}, {"b", "c"}, {"c", "a"}, {"d", "c"}, {"c", "d"}, {"d", "a"}, {"e", "a"}, {"a", "e"}, {"b", "e"},
}

// naiveRanks iterates the same update on maps, n times.
func naiveRanks(n int) map[string]float64 { return naive(n, true) }

// naive is naiveRanks, with each page's share of its rank divided by its
// out-degree or, if !byDegree, not divided: what pagerank would compute if
// it ignored its broadcast table of out-degrees.
func naive(n int, byDegree bool) map[string]float64 {
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
				if byDegree {
					next[u] += ranks[p] / float64(len(urls))
				} else {
					next[u] += ranks[p]
				}
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
	want, before := naiveRanks(60), naiveRanks(59)
	for p, w := range want {
		if math.Abs(w-before[p]) > 1e-9 {
			t.Fatalf("page %s: the reference has not converged (%v then %v)", p, before[p], w)
		}
	}
	// The graph's pages have out-degrees 1 to 3, so ranks that ignored
	// the broadcast out-degrees could not pass the check below.
	ignored, differs := naive(60, false), false
	for p, w := range want {
		differs = differs || math.Abs(ignored[p]-w) > 1e-3
	}
	if !differs {
		t.Fatal("the test graph does not tell ranks that use out-degrees from ranks that ignore them")
	}

	dir := t.TempDir()
	var b strings.Builder
	for _, e := range graph {
		fmt.Fprintf(&b, "%s %s\n", e[0], e[1])
	}
	b.WriteString("a b\n# a comment line\n") // a repeated link counts once
	in := filepath.Join(dir, "links.txt")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, mode := range [][]string{nil, {"--local-cluster", "2"}} {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		summary := filepath.Join(dir, fmt.Sprint("summary", i, ".json"))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], append(mode, "--iterations", "60", "--job-summary", summary, "--output", out, in)...)
		cmd.Env = append(os.Environ(), asMain+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		msg, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("pagerank %v: %v\n%s", mode, err, msg)
		}
		if err := commit.Check(out, -1); err != nil {
			t.Fatal(err)
		}
		got := readRanks(t, out)
		sum := 0.0
		for p, w := range want {
			if math.Abs(got[p]-w) > 1e-9 {
				t.Errorf("%v: page %s: rank %v, want %v", mode, p, got[p], w)
			}
			sum += got[p]
		}
		if len(got) != len(want) || math.Abs(sum-float64(len(want))) > 1e-6 {
			t.Errorf("%v: ranks %v sum to %v over %d pages, want %d pages summing to %d", mode, got, sum, len(got), len(want), len(want))
		}
		raw, err := os.ReadFile(summary)
		if err != nil {
			t.Fatal(err)
		}
		var s driver.Summary
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		// With executor processes, each one that ran a task of the
		// iterations fetched the table once, however many tasks it ran.
		if mode != nil && (s.BroadcastFetches < 1 || s.BroadcastFetches > 2) {
			t.Errorf("%v: %d fetches of the out-degree table, want one per executor (1 or 2); summary %s", mode, s.BroadcastFetches, raw)
		}
	}
}

// readRanks reads the page<TAB>rank lines of a committed output.
func readRanks(t *testing.T, out string) map[string]float64 {
	t.Helper()
	parts, err := commit.Parts(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			page, r, _ := strings.Cut(l, "\t")
			x, err := strconv.ParseFloat(r, 64)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			if _, dup := got[page]; dup {
				t.Fatalf("page %s ranked twice", page)
			}
			got[page] = x
		}
	}
	return got
}
