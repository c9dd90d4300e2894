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

// The test binary doubles as wordcount: run with this variable set, it runs
// main instead of the tests, so the contract is checked on the real program.
const asMain = "SLUICE_WORDCOUNT_RUN_MAIN"

func TestMain(m *testing.M) {
	// A worker starts this binary as an executor, with its own environment.
	if os.Getenv(asMain) == "1" || worker.IsExecutor() {
		main()
		return
	}
	if gate := os.Getenv(asGated); gate != "" {
		runGated(gate)
		return
	}
	if dir := os.Getenv(asStraggler); dir != "" {
		runStraggler(dir)
		return
	}
	if dir := os.Getenv(asCrasher); dir != "" {
		runCrasher(dir)
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

// run runs wordcount with args, killed by PID if it outlives its deadline.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runWithin(t, 2*time.Minute, args...)
}

func runWithin(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("wordcount %v did not finish within its deadline", args)
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
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" && len(b) == 0 {
				continue
			}
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

func TestWordCountMatchesNaiveCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	files := map[string]string{
		"a.txt":        randomText(rng, 5000),
		"b.txt":        randomText(rng, 300) + "\n",
		"empty.txt":    "",
		"sub/c.txt":    "\t\tleading tabs  and   runs\tof blanks\n\n\nno final newline",
		"sub/crlf.txt": "one two\r\ntwo\r\n",
		"big.txt":      randomText(rng, 200000),
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

	cases := []struct {
		name string
		args []string
	}{
		{"directory", []string{in}},
		{"files", paths},
		{"glob", []string{filepath.Join(in, "*.txt"), filepath.Join(in, "sub", "*")}},
		{"tiny memory and one slot", append([]string{"--memory", "1MiB", "--parallelism", "1", "--shuffle-codec", "zstd"}, paths...)},
		{"two executor processes", append([]string{"--local-cluster", "2"}, paths...)},
	}
	want := naiveCount(t, paths...)
	for i, c := range cases {
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
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 20 {
			t.Fatalf("%d lines on stdout, want 20", len(lines))
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
		for i, l := range lines {
			if wantLine := fmt.Sprintf("%s\t%d", all[i].w, all[i].n); l != wantLine {
				t.Fatalf("line %d: %q, want %q", i, l, wantLine)
			}
		}
	})
}

func TestWordCountBuiltInText(t *testing.T) {
	r := run(t)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "the\t14\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestWordCountBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("a b c\n"), 0o644)
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	keep := filepath.Join(full, "keep.txt")
	os.WriteFile(keep, []byte("precious"), 0o644)
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name  string
		args  []string
		names string // what stderr must name
	}{
		{"missing input", []string{"--output", filepath.Join(dir, "o1"), filepath.Join(dir, "missing.txt")}, "missing.txt"},
		{"glob matching nothing", []string{"--output", filepath.Join(dir, "o2"), filepath.Join(dir, "*.csv")}, "*.csv"},
		{"dangling link", []string{"--output", filepath.Join(dir, "o3"), dangling}, "dangling"},
		{"fifo", []string{"--output", filepath.Join(dir, "o4"), fifo}, "fifo"},
		{"output not empty", []string{"--output", full, good}, full},
		{"output is a file", []string{"--output", good, good}, good},
		{"bad flag", []string{"--shuffle-codec", "lz4", good}, "lz4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := run(t, c.args...)
			if r.code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", r.stdout)
			}
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(r.stderr, c.names) {
				t.Fatalf("stderr %q: want one line naming %s", r.stderr, c.names)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("took %v to fail", d)
			}
		})
	}
	for i := 1; i <= 4; i++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprint("o", i))); !os.IsNotExist(err) {
			t.Errorf("a failed run left output directory o%d", i)
		}
	}
	ents, _ := os.ReadDir(full)
	if b, _ := os.ReadFile(keep); len(ents) != 1 || string(b) != "precious" {
		t.Errorf("the existing output directory was modified: %d entries", len(ents))
	}
	if b, _ := os.ReadFile(good); string(b) != "a b c\n" {
		t.Errorf("an output path that is a file was modified")
	}

	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "secret.txt")
		os.WriteFile(unreadable, []byte("x"), 0o000)
		r := run(t, "--output", filepath.Join(dir, "o5"), unreadable)
		if r.code == 0 || !strings.Contains(r.stderr, "secret.txt") {
			t.Errorf("unreadable input: exit %d, stderr %q", r.code, r.stderr)
		}
	}
}

func TestWordCountBinaryInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	bin := filepath.Join(dir, "blob.bin")
	b := make([]byte, 3<<20)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	os.WriteFile(bin, b, 0o644)
	out := filepath.Join(dir, "out")
	r := run(t, "--output", out, bin)
	if r.code != 0 {
		t.Fatalf("binary input: exit %d: %s", r.code, r.stderr)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, bin))
}

// TestWordCountManySmallFiles: 20,000 files of a few words each are packed
// into few splits, as Hadoop's CombineFileInputFormat does, so the job
// takes few tasks and little memory instead of one task (and one reduce
// partition, and one part file) per file.
func TestWordCountManySmallFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 files")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	rng := rand.New(rand.NewPCG(20000, 1))
	var paths []string
	for i := range 20000 {
		p := filepath.Join(in, fmt.Sprintf("f%05d.txt", i))
		if err := os.WriteFile(p, []byte(randomText(rng, 20)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--output", out, in)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wordcount over 20,000 files: %v\n%s", err, b)
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
	parts, _ := commit.Parts(out)
	if len(parts) > 64 {
		t.Errorf("%d part files for 20,000 tiny inputs, want few", len(parts))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.Logf("peak RSS %d MiB, %d part files", ru.Maxrss>>10, len(parts))
		if ru.Maxrss<<10 > 1<<30 {
			t.Errorf("peak RSS %d MiB, want under 1 GiB", ru.Maxrss>>10)
		}
	}
}
