package main

import (
	"context"
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

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
)

const asMain = "SLUICE_INVERTEDINDEX_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

func TestIndexMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	want := map[string][]string{}
	for i := range 12 {
		p := filepath.Join(in, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		var b strings.Builder
		for range 2000 {
			w := fmt.Sprintf("w%d", int(rng.ExpFloat64()*40))
			b.WriteString(w + []string{" ", "\n", "\t"}[rng.IntN(3)])
			if !slices.Contains(want[w], p) {
				want[w] = append(want[w], p)
			}
		}
		os.WriteFile(p, []byte(b.String()), 0o644)
	}
	os.WriteFile(filepath.Join(in, "_skipped"), []byte("hidden words"), 0o644)
	for w := range want {
		slices.Sort(want[w])
	}
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--memory", "128KiB", "--output", out, in)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("invertedindex: %v\n%s", err, b)
	}
	if err := commit.Check(out, -1); err != nil {
		t.Fatal(err)
	}
	parts, _ := commit.Parts(out)
	got := map[string][]string{}
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			w, files, _ := strings.Cut(l, "\t")
			if _, dup := got[w]; dup {
				t.Fatalf("word %q on two lines", w)
			}
			got[w] = strings.Split(files, ",")
		}
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("%d words, want %d; the index differs from a naive one", len(got), len(want))
	}
}
