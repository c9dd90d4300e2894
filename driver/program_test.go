package driver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/worker"
)

// The test binary doubles as the driver programs below, run with asProgram
// set to a program's name: a program runs as a user's does, in the driver
// and, started by a worker with the driver's arguments and environment,
// in every executor, where main runs up to driver.Main as well.
const asProgram = "SLUICE_DRIVER_TEST_PROGRAM"

func TestMain(m *testing.M) {
	switch os.Getenv(asProgram) {
	case "words":
		wordsProgram(false)
	case "words-parse-first":
		wordsProgram(true)
	case "set-in-run":
		setInRunProgram()
	case "func-in-main":
		funcInMainProgram()
	case "gated":
		gatedProgram()
	}
	// The executors of sessions the tests open themselves (--local-cluster).
	if worker.IsExecutor() {
		os.Exit(worker.RunExecutor())
	}
	cleanup := clustertest.PrivateConfigHome()
	code := m.Run()
	cleanup()
	sluiceBuild.Cleanup()
	os.Exit(code)
}

var (
	minLen  = pflag.Int("min-len", 0, "count only words of at least this many bytes")
	stop    = pflag.String("stop", "", "a word not to count (read in main, after pflag.Parse)")
	summary = pflag.String("counts-json", "", "write the counts here, as JSON")
	// fold is set as the program initializes, from the environment, which
	// executors share with the driver.
	fold = os.Getenv("WORDS_FOLD") == "1"
	// stopWord is set in main before driver.Main (words-parse-first), which
	// executors run too, or inside driver.Main's function (set-in-run),
	// which they do not.
	stopWord string
)

// words counts the words of the input whose length is at least --min-len,
// lower-cased when $WORDS_FOLD is 1, without stopWord: its function reads
// a flag and two package variables.
var words = rdd.Func(func(paths []string) *rdd.RDD[rdd.Pair[string, int]] {
	ws := rdd.FlatMap(rdd.TextFile(paths...), func(line string, emit func(string)) {
		for w := range strings.FieldsSeq(line) {
			if fold {
				w = strings.ToLower(w)
			}
			if len(w) >= *minLen && w != stopWord {
				emit(w)
			}
		}
	})
	return rdd.ReduceByKey(rdd.Map(ws, func(w string) rdd.Pair[string, int] { return rdd.KV(w, 1) }), func(a, b int) int { return a + b })
})

// countWords runs words and writes its counts to --counts-json.
func countWords(ctx context.Context, s *driver.Session) error {
	got, err := rdd.Collect(ctx, s, words.Invoke(pflag.Args()))
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, p := range got {
		counts[p.Key] = p.Value
	}
	b, err := json.Marshal(counts)
	if err != nil {
		return err
	}
	return os.WriteFile(*summary, b, 0o644)
}

func wordsProgram(parseFirst bool) {
	driver.Usage("INPUT...", "Counts the words of INPUT, a file, a directory or a glob.")
	if parseFirst {
		pflag.Parse() // as many programs do, before driver.Main
		stopWord = *stop
	}
	driver.Main(countWords)
}

func setInRunProgram() {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		stopWord = *stop // only in the driver: executors never run this function
		return countWords(ctx, s)
	})
}

// funcInMainProgram registers a Func inside driver.Main's function and
// writes what that did to --counts-json.
func funcInMainProgram() {
	driver.Main(func(ctx context.Context, s *driver.Session) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
			if err != nil {
				os.WriteFile(*summary, []byte(err.Error()), 0o644)
			}
		}()
		late := rdd.Func(func(n int) *rdd.RDD[int] { return rdd.Parallelize([]int{n}) }) // funcInMainLine
		_, err = rdd.Count(ctx, s, late.Invoke(1))
		return err
	})
}

type result struct {
	code   int
	stdout string
	stderr string
}

// runProgram runs this test binary as the driver program prog with env
// and args, killed by its PID if it outlives its deadline.
func runProgram(t *testing.T, prog string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), asProgram+"="+prog), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within its deadline:\n%s", prog, args, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

func readCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return counts
}

// text is the input: words of every length, in both cases.
const text = `The quick brown Fox jumps over the lazy dog
Lorem ipsum dolor sit amet consectetur adipiscing elit
the THE The alphabet Alphabet ALPHABET  a ab abc abcd abcde abcdef abcdefg
Sluice executors rebuild the lineage from the registered Func
`

// naiveCounts is the answer, counted independently.
func naiveCounts(minLen int, fold bool, stop string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.Fields(text) {
		if fold {
			w = strings.ToLower(w)
		}
		if len(w) >= minLen && w != stop {
			counts[w]++
		}
	}
	return counts
}

func writeInput(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sluiceBuild builds cmd/sluice once per test binary; TestMain removes it.
var sluiceBuild clustertest.Once

// sluice returns the sluice binary, building it on the first call.
func sluice(t *testing.T) string { return sluiceBuild.Path(t) }

// A program whose user function reads a flag and package variables that
// every process sets alike (from the environment as it initializes; in
// main from parsed flags, before driver.Main) gives the same answer in
// local mode, with --local-cluster 2 and on a cluster of three worker
// processes; so does one that calls pflag.Parse() itself before
// driver.Main, --join and all.
func TestSameAnswerLocallyAndOnClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor and worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2, Slots: 1})
	in := writeInput(t)
	modes := []struct {
		name string
		args []string
	}{
		{"local", nil},
		{"local-cluster", []string{"--local-cluster", "2"}},
		{"cluster", []string{"--join", c.Join, "--min-workers", "3"}},
	}
	for _, prog := range []string{"words", "words-parse-first"} {
		want := naiveCounts(6, true, "")
		flags := []string{"--min-len", "6"}
		if prog == "words-parse-first" {
			want = naiveCounts(6, true, "alphabet")
			flags = append(flags, "--stop", "alphabet")
		}
		for _, mode := range modes {
			t.Run(prog+"/"+mode.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "counts.json")
				args := slices.Concat(mode.args, flags, []string{"--counts-json", out, in})
				r := runProgram(t, prog, []string{"WORDS_FOLD=1"}, args...)
				if r.code != 0 {
					t.Fatalf("exit %d:\n%s", r.code, r.stderr)
				}
				if got := readCounts(t, out); !maps.Equal(got, want) {
					t.Errorf("counts %v\nwant %v", got, want)
				}
			})
		}
	}
}

// A package variable set inside driver.Main's function does not reach
// executors: they never run that function. README says so; --local-cluster
// shows it on one machine, where local mode hides it.
func TestLocalClusterShowsStateThatDoesNotCross(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	in := writeInput(t)
	for _, mode := range []struct {
		args []string
		want map[string]int
	}{
		{nil, naiveCounts(0, false, "the")},
		{[]string{"--local-cluster", "2"}, naiveCounts(0, false, "")},
	} {
		out := filepath.Join(t.TempDir(), "counts.json")
		r := runProgram(t, "set-in-run", nil, slices.Concat(mode.args, []string{"--stop", "the", "--counts-json", out, in})...)
		if r.code != 0 {
			t.Fatalf("%q: exit %d:\n%s", mode.args, r.code, r.stderr)
		}
		if got := readCounts(t, out); !maps.Equal(got, mode.want) {
			t.Errorf("%q: counts %v\nwant %v", mode.args, got, mode.want)
		}
	}
}

// rdd.Func called inside driver.Main's function fails at that call, in
// local mode too, naming the rule and the call.
func TestFuncInsideMainFailsAtTheCall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "panic.txt")
	r := runProgram(t, "func-in-main", nil, "--counts-json", out)
	if r.code != 1 {
		t.Errorf("exit %d, want 1:\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("program_test.go")
	if err != nil {
		t.Fatal(err)
	}
	line := slices.IndexFunc(strings.Split(string(src), "\n"), func(l string) bool { return strings.HasSuffix(l, "// funcInMainLine") }) + 1
	for _, want := range []string{
		"register Funcs at package level: in a var declaration or init",
		fmt.Sprintf("program_test.go:%d", line),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("what rdd.Func inside main did: %q; want it to say %q", b, want)
		}
	}
}

// pidsF reports the process that runs each task.
var pidsF = rdd.Func(func(n int) *rdd.RDD[int] {
	parts := make([]int, n)
	return rdd.Map(rdd.Parallelize(parts, rdd.Partitions(n)), func(int) int { return os.Getpid() })
})

// With LocalCluster, tasks run in child processes of this program, started
// with its arguments and environment; closing the session ends them all.
func TestLocalClusterChildProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	t.Setenv("SLUICE_DRIVER_TEST_MARK", "from the driver")
	cfg := driver.DefaultConfig()
	cfg.LocalCluster, cfg.Parallelism = 2, 2
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	children := executorChildren(t)
	if len(children) != 2 {
		t.Fatalf("%d executor processes, want 2", len(children))
	}
	for _, pid := range children {
		args := procStrings(t, pid, "cmdline")
		if !slices.Equal(args[1:], os.Args[1:]) {
			t.Errorf("executor %d arguments %q, want the driver's %q", pid, args[1:], os.Args[1:])
		}
		if env := procStrings(t, pid, "environ"); !slices.Contains(env, "SLUICE_DRIVER_TEST_MARK=from the driver") {
			t.Errorf("executor %d lacks the driver's environment", pid)
		}
	}

	pids, err := rdd.Collect(context.Background(), s, pidsF.Invoke(8))
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !slices.Contains(children, pid) {
			t.Fatalf("a task ran in process %d, not in an executor %v", pid, children)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range children {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("executor %d still there after Close: %v", pid, err)
		}
	}
}

// executorChildren lists this process's children that are executors.
func executorChildren(t *testing.T) []int {
	t.Helper()
	var pids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...", where comm may hold spaces.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 2 || fields[1] != fmt.Sprint(os.Getpid()) {
			continue
		}
		env, err := os.ReadFile(filepath.Join(filepath.Dir(st), "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), []byte("\x00"+worker.EnvExecutor+"=1\x00")) {
			continue
		}
		var pid int
		fmt.Sscan(filepath.Base(filepath.Dir(st)), &pid)
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

func procStrings(t *testing.T, pid int, file string) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// rpcAddr starts a worker daemon in this process and returns its RPC
// address: the port a user may mistake for the gossip one.
func rpcAddr(t *testing.T) string {
	t.Helper()
	creds, err := trust.New([][]byte{[]byte(trust.NewSecret())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := worker.DefaultDaemonConfig()
	cfg.Name, cfg.Listen, cfg.Slots, cfg.Dir, cfg.Creds = "w", "127.0.0.1:0", 1, t.TempDir(), creds
	d, err := worker.NewDaemon(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ran
	})
	select {
	case <-d.Ready():
	case err := <-ran:
		t.Fatal(err)
	case <-time.After(time.Minute):
		t.Fatal("worker not ready within a minute")
	}
	return d.Addr()
}

// Mistakes in --join end the driver at once, with one line per mistake
// naming the entry: no port (which joined the driver to itself and waited
// --wait), a port that is not a number, a host that does not exist (which
// logged a line every 250 ms for --wait), and a worker's RPC port instead
// of its gossip address (which waited --wait too).
func TestJoinMistakes(t *testing.T) {
	type joinCase struct {
		name        string
		join        []string
		code, lines int
	}
	cases := []joinCase{
		{"no port", []string{"127.0.0.1"}, 2, 1},
		{"a port that is not a number", []string{"127.0.0.1:gossip"}, 2, 1},
		{"an empty entry", []string{"127.0.0.1:7946", ""}, 2, 1},
		{"a worker's RPC port", []string{rpcAddr(t)}, 1, 1},
	}
	// Only where this machine's resolver says so: offline, a lookup fails
	// otherwise, and the driver then retries as it should.
	var dnsErr *net.DNSError
	if _, err := net.LookupHost("nosuchhost.invalid"); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		cases = append(cases,
			joinCase{"a host that does not exist", []string{"nosuchhost.invalid:7946"}, 2, 1},
			joinCase{"three mistakes", []string{"127.0.0.1", "nosuchhost.invalid:7946", ":7946"}, 2, 3})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := runProgram(t, "words", nil, "--join", strings.Join(tc.join, ","), "--wait", "30s", "--counts-json", filepath.Join(t.TempDir(), "counts.json"))
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v to give up, with --wait 30s", took)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if r.code != tc.code || len(lines) != tc.lines {
				t.Fatalf("exit %d and %d lines, want exit %d and %d lines:\n%s", r.code, len(lines), tc.code, tc.lines, r.stderr)
			}
			for _, line := range lines {
				if !slices.ContainsFunc(tc.join, func(j string) bool {
					return strings.Contains(line, fmt.Sprintf("%q", j)) || strings.Contains(line, " "+j)
				}) {
					t.Errorf("line %q names no --join entry", line)
				}
			}
		})
	}
}

// A driver program's --help exits 0 with its usage: the line driver.Usage
// describes, the program's own flags and the shared ones, each default
// once. It is on stdout when Main parses the command line; a program that
// calls pflag.Parse() itself gets pflag's way, on stderr.
func TestProgramHelp(t *testing.T) {
	for _, prog := range []string{"words", "words-parse-first"} {
		r := runProgram(t, prog, nil, "--help")
		usage, other := r.stdout, r.stderr
		if prog == "words-parse-first" {
			usage, other = r.stderr, r.stdout
		}
		lines := strings.Split(usage, "\n")
		if r.code != 0 || lines[0] != "usage: "+filepath.Base(os.Args[0])+" [flags] INPUT..." || other != "" {
			t.Fatalf("%s --help: exit %d, stdout %q, stderr %q", prog, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"Counts the words of INPUT", "--min-len", "--local-cluster", "--parallelism"} {
			if !strings.Contains(usage, want) {
				t.Errorf("%s --help does not mention %s:\n%s", prog, want, usage)
			}
		}
		for _, line := range lines {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("%s --help prints a default twice: %q", prog, line)
			}
		}
	}
	// A mistake is one line, exit 2.
	r := runProgram(t, "words", nil, "--bogus")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--bogus") {
		t.Errorf("words --bogus: exit %d, stderr %q; want exit 2 and one line", r.code, r.stderr)
	}
}
