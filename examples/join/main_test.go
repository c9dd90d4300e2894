package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
)

const asMain = "SLUICE_JOIN_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

// tsv makes n rows keyed from a small key space (so keys repeat on both
// sides and some appear on one side only), some with one column only.
func tsv(rng *rand.Rand, n int, side string) []string {
	var rows []string
	for i := range n {
		k := fmt.Sprintf("k%d", rng.IntN(n/2+1))
		if rng.IntN(20) == 0 {
			rows = append(rows, k) // one column
			continue
		}
		rows = append(rows, fmt.Sprintf("%s\t%s%d\tx%d", k, side, i, rng.IntN(9)))
	}
	return rows
}

// naiveJoin is the reference: nested loops.
func naiveJoin(left, right []string, typ string) []string {
	split := func(r string) (string, string) { k, rest, _ := strings.Cut(r, "\t"); return k, rest }
	var out []string
	rightMatched := make([]bool, len(right))
	for _, l := range left {
		lk, lr := split(l)
		matched := false
		for j, r := range right {
			if rk, rr := split(r); rk == lk {
				out = append(out, lk+"\t"+lr+"\t"+rr)
				matched, rightMatched[j] = true, true
			}
		}
		if !matched && (typ == "left" || typ == "full") {
			out = append(out, lk+"\t"+lr+"\t"+`\N`)
		}
	}
	for j, r := range right {
		if !rightMatched[j] && (typ == "right" || typ == "full") {
			rk, rr := split(r)
			out = append(out, rk+"\t"+`\N`+"\t"+rr)
		}
	}
	slices.Sort(out)
	return out
}

func TestJoinsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	dir := t.TempDir()
	left, right := tsv(rng, 3000, "L"), tsv(rng, 2000, "R")
	lp, rp := filepath.Join(dir, "left.tsv"), filepath.Join(dir, "right.tsv")
	os.WriteFile(lp, []byte(strings.Join(left, "\n")+"\n"), 0o644)
	os.WriteFile(rp, []byte(strings.Join(right, "\n")), 0o644)
	for _, typ := range []string{"inner", "left", "right", "full"} {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+typ)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "--type", typ, "--memory", "128KiB", "--output", out, lp, rp)
			cmd.Env = append(os.Environ(), asMain+"=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("join: %v\n%s", err, b)
			}
			if err := commit.Check(out, -1); err != nil {
				t.Fatal(err)
			}
			parts, _ := commit.Parts(out)
			var got []string
			for _, p := range parts {
				b, _ := os.ReadFile(p)
				if s := strings.TrimSuffix(string(b), "\n"); s != "" {
					got = append(got, strings.Split(s, "\n")...)
				}
			}
			slices.Sort(got)
			want := naiveJoin(left, right, typ)
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows, want %d; they differ", len(got), len(want))
			}
		})
	}
}
