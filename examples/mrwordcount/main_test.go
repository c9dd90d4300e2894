package main

import (
	"bytes"
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
	"github.com/sluicehq/sluice/worker"
)

// The test binary doubles as mrwordcount, so the contract is checked on
// the real program; a worker starts it as an executor too.
const asMain = "SLUICE_MRWORDCOUNT_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" || worker.IsExecutor() {
		main()
		return
	}
	if os.Getenv(asGated) != "" {
		runGated()
		return
	}
	cleanup := clustertest.PrivateConfigHome()
	code := m.Run()
	cleanup()
	sluiceBuild.Cleanup()
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs mrwordcount with args, killed if it outlives two minutes.
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mrwordcount %v did not finish within its deadline", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// naiveCount is the independent count: strings.Fields over every file.
func naiveCount(t *testing.T, files ...string) map[string]int {
	counts := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(string(b)) {
			counts[w]++
		}
	}
	return counts
}

func readOutput(t *testing.T, dir string) map[string]int {
	t.Helper()
	if err := commit.Check(dir, -1); err != nil {
		t.Fatal(err)
	}
	parts, err := commit.Parts(dir)
	if err != nil || len(parts) == 0 {
		t.Fatalf("no part files in %s: %v", dir, err)
	}
	counts := map[string]int{}
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			continue
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			i := strings.LastIndexByte(line, '\t')
			var n int
			if _, err := fmt.Sscan(line[i+1:], &n); i < 0 || err != nil {
				t.Fatalf("%s: bad line %q", p, line)
			}
			if _, dup := counts[line[:i]]; dup {
				t.Fatalf("word %q appears in more than one line", line[:i])
			}
			counts[line[:i]] = n
		}
	}
	return counts
}

func equalCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d distinct words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("word %q: %d, want %d", w, got[w], n)
		}
	}
}

func randomText(rng *rand.Rand, words int) string {
	seps := []string{" ", " ", " ", "\t", "  ", "\n", "\r\n", " \t ", "\v", "\u00a0", "\u2003"}
	vocab := []string{"the", "a", "Apple", "apple", "apple,", "naïve", "日本", "x\x00y", "\xff", "--", "é"}
	var b strings.Builder
	for range words {
		if rng.IntN(3) == 0 {
			b.WriteString(vocab[rng.IntN(len(vocab))])
		} else {
			fmt.Fprintf(&b, "w%d", rng.IntN(200))
		}
		b.WriteString(seps[rng.IntN(len(seps))])
	}
	return strings.TrimRight(b.String(), " \t\n")
}

// The output contract of wordcount, on the same kinds of input as its
// test: every way of naming inputs, a tiny memory budget that spills,
// executor processes, and the top 20 on stdout.
func TestMatchesNaiveCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 2))
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	files := map[string]string{
		"a.txt":        randomText(rng, 5000),
		"b.txt":        randomText(rng, 300) + "\n",
		"empty.txt":    "",
		"sub/c.txt":    "\t\tleading tabs  and   runs\tof blanks\n\n\nno final newline",
		"sub/crlf.txt": "one two\r\ntwo\r\n",
		"big.txt":      randomText(rng, 100000),
	}
	var paths []string
	for name, content := range files {
		p := filepath.Join(in, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := naiveCount(t, paths...)
	for i, c := range []struct {
		name string
		args []string
	}{
		{"directory", []string{in}},
		{"files", paths},
		{"glob", []string{filepath.Join(in, "*.txt"), filepath.Join(in, "sub", "*")}},
		{"tiny memory and one slot", append([]string{"--memory", "128KiB", "--parallelism", "1", "--shuffle-codec", "zstd"}, paths...)},
		{"two executor processes", append([]string{"--local-cluster", "2"}, paths...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("out%d", i))
			r := run(t, append([]string{"--output", out}, c.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			equalCounts(t, readOutput(t, out), want)
		})
	}
	t.Run("top 20 on stdout", func(t *testing.T) {
		r := run(t, paths...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		type wc struct {
			w string
			n int
		}
		var all []wc
		for w, n := range want {
			all = append(all, wc{w, n})
		}
		slices.SortFunc(all, func(a, b wc) int {
			if a.n != b.n {
				return b.n - a.n
			}
			return strings.Compare(a.w, b.w)
		})
		var wantOut strings.Builder
		for _, x := range all[:20] {
			fmt.Fprintf(&wantOut, "%s\t%d\n", x.w, x.n)
		}
		if r.stdout != wantOut.String() {
			t.Fatalf("stdout %q, want %q", r.stdout, wantOut.String())
		}
	})
}

func TestBuiltInText(t *testing.T) {
	r := run(t)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "the\t14\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Mistakes are one line on stderr naming the culprit, and leave no output.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("a b c\n"), 0o644)
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("precious"), 0o644)
	for _, c := range []struct {
		name  string
		args  []string
		names string
	}{
		{"missing input", []string{"--output", filepath.Join(dir, "o1"), filepath.Join(dir, "missing.txt")}, "missing.txt"},
		{"glob matching nothing", []string{"--output", filepath.Join(dir, "o2"), filepath.Join(dir, "*.csv")}, "*.csv"},
		{"output not empty", []string{"--output", full, good}, full},
		{"output is a file", []string{"--output", good, good}, good},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", r.stdout)
			}
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(r.stderr, c.names) {
				t.Fatalf("stderr %q: want one line naming %s", r.stderr, c.names)
			}
		})
	}
	for i := 1; i <= 2; i++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprint("o", i))); !os.IsNotExist(err) {
			t.Errorf("a failed run left output directory o%d", i)
		}
	}
	if b, _ := os.ReadFile(good); string(b) != "a b c\n" {
		t.Errorf("an output path that is a file was modified")
	}
}
