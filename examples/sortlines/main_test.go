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
