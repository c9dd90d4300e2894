package main

import (
	"bufio"
	"bytes"
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
)

// The test binary doubles as maploop: run with this variable set, it runs
// main instead of the tests.
const asMain = "SLUICE_MAPLOOP_RUN_MAIN"

func TestMain(m *testing.M) { clustertest.ExampleMain(m, asMain, main) }

// run runs maploop with args, killed by PID if it outlives its deadline.
func run(t *testing.T, args ...string) (stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = clustertest.RunContext(ctx, cmd)
	if ctx.Err() != nil {
		t.Fatalf("maploop %v did not finish:\n%s", args, out.String())
	}
	return out.String(), err
}

// TestCountsLikeFields checks that the measured program counts what
// wordcount counts: strings.Fields of every line, CRs dropped at line ends
// as TextFile drops them.
func TestCountsLikeFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 5))
	words := []string{"a", "bb", "ccc", "é", "中文", "x-y", "zz9"}
	seps := []string{" ", " ", "  ", "\t", "\u00a0", "\u2003"}
	var text strings.Builder
	want := map[string]int64{}
	for range 3000 {
		var line strings.Builder
		for j := range 1 + rng.IntN(12) {
			if j > 0 {
				line.WriteString(seps[rng.IntN(len(seps))])
			}
			line.WriteString(words[rng.IntN(len(words))])
		}
		for _, w := range strings.Fields(line.String()) {
			want[w]++
		}
		text.WriteString(line.String())
		if rng.IntN(10) == 0 {
			text.WriteString("\r")
		}
		text.WriteString("\n")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if stderr, err := run(t, "--parallelism", "1", "--output", out, in); err != nil {
		t.Fatalf("maploop: %v\n%s", err, stderr)
	}
	parts, err := filepath.Glob(filepath.Join(out, "part-*"))
	if err != nil || len(parts) == 0 {
		t.Fatalf("no part files in %s: %v", out, err)
	}
	got := map[string]int64{}
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			w, n, ok := strings.Cut(sc.Text(), "\t")
			c, err := strconv.ParseInt(n, 10, 64)
			if !ok || err != nil {
				t.Fatalf("%s: line %q is not word<TAB>count", p, sc.Text())
			}
			got[w] += c
		}
		f.Close()
	}
	if !maps.Equal(got, want) {
		t.Fatalf("counts differ:\ngot  %v\nwant %v", got, want)
	}
}

// TestRefusesWhatCallgrindCannotFollow: several slots, or tasks in other
// processes, would leave work on threads the collection does not see.
func TestRefusesWhatCallgrindCannotFollow(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(in, []byte("a b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--parallelism", "2", "--output", filepath.Join(t.TempDir(), "o"), in}, "--parallelism 1"},
		{[]string{"--parallelism", "1", in}, "--output"},
		{[]string{"--parallelism", "1", "--output", filepath.Join(t.TempDir(), "o")}, "input file"},
	} {
		stderr, err := run(t, c.args...)
		if err == nil || !strings.Contains(stderr, c.says) {
			t.Errorf("maploop %v: %v, want a failure saying %q:\n%s", c.args, err, c.says, stderr)
		}
	}
}
