package main

import (
	"context"
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
)

const asMain = "SLUICE_SHUFSLUICE_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

// randomPairs returns n lines "key\tvalue" over keys keys, skewed towards
// small ones.
func randomPairs(rng *rand.Rand, n, keys int) string {
	var b strings.Builder
	for range n {
		k := int(float64(keys) * rng.Float64() * rng.Float64())
		fmt.Fprintf(&b, "k%d\t%d\n", k, rng.Uint64N(1000)<<rng.IntN(54))
	}
	return b.String()
}

// naive computes a job's output lines, sorted, the simplest way.
func naive(job string, inputs ...string) []string {
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	var out []string
	switch job {
	case "groupbykey":
		vals := map[string][]uint64{}
		for _, l := range lines(inputs[0]) {
			k, v, _ := strings.Cut(l, "\t")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				panic(err)
			}
			vals[k] = append(vals[k], n)
		}
		for k, vs := range vals {
			var sum uint64
			for _, v := range vs {
				sum += mix(v)
			}
			out = append(out, fmt.Sprintf("%s\t%d\t%d", k, len(vs), sum))
		}
	case "distinct":
		seen := map[string]bool{}
		for _, in := range inputs {
			for _, l := range lines(in) {
				if !seen[l] {
					seen[l] = true
					out = append(out, l)
				}
			}
		}
	case "join":
		for _, a := range lines(inputs[0]) {
			for _, b := range lines(inputs[1]) {
				ka, va, _ := strings.Cut(a, "\t")
				kb, vb, _ := strings.Cut(b, "\t")
				if ka == kb {
					out = append(out, ka+"\t"+va+"\t"+vb)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestJobsAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 5))
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pairs := randomPairs(rng, 20000, 3000)
	left := randomPairs(rng, 3000, 2000) + "notab\n\n"
	right := randomPairs(rng, 2500, 4000) + "notab\n\nk1\t\n"
	cases := []struct {
		job    string
		inputs []string
		mode   []string
	}{
		{"groupbykey", []string{pairs}, nil},
		{"distinct", []string{pairs, left}, nil},
		{"join", []string{left, right}, nil},
		{"groupbykey", []string{pairs}, []string{"--local-cluster", "2"}},
	}
	if testing.Short() {
		cases = cases[:3]
	}
	for i, c := range cases {
		var paths []string
		for j, in := range c.inputs {
			paths = append(paths, write(fmt.Sprintf("in%d-%d", i, j), in))
		}
		want := naive(c.job, c.inputs...)
		if len(want) < 100 {
			t.Fatalf("case %d: the naive model gives %d lines; the test needs more", i, len(want))
		}
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		// A small --memory, so that the shuffle spills and merges.
		args := slices.Concat(c.mode, []string{"--job", c.job, "--output", out, "--memory", "64KiB"}, paths)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), asMain+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("case %d %q: %v: %s", i, args, err, b)
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
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d %q: %d lines, want %d like the naive model", i, args, len(got), len(want))
		}
	}
}
