// sluice chaos runs a driver command twice, each time on a fresh local
// cluster of `sluice worker` processes: first fault-free, to time it, then
// while killing task nodes on a seeded schedule. It reports whether the two
// outputs are identical, which is what recovery from lost nodes promises.
//
//	sluice chaos [flags] -- DRIVER-COMMAND [ARGS...]
//	sluice chaos --core 1 --task 3 --at 30%,60% --seed 7 -- \
//		bin/wordcount --join {join} --min-workers 4 --output {output} corpus.txt
//
// In DRIVER-COMMAND and ARGS, {join} becomes the cluster's join address and
// {output} a fresh output directory per run under the work directory (it
// does not exist beforehand; the driver creates it). {output} is required.
// Nothing is appended to the command: the recomputation counts come from
// the JSON summary a Sluice driver writes at exit to $SLUICE_JOB_SUMMARY
// (driver.EnvJobSummary, as --job-summary does), which chaos sets for it.
//
// Flags: --core N (1) and --task M (3) workers, --slots S per worker
// (default: the machine's cores shared among the workers, as `sluice up`
// does); --signal KILL|TERM (KILL); --at 30%,60% (moments as percentages
// of the fault-free run's wall time, counted from the driver's start) or
// --every DURATION (one kill every DURATION), exclusive, default --at 50%;
// --kills K (in total; default one per --at moment, or every task node
// with --every; with --at, the kills are shared out over the moments,
// earlier moments taking any extra); --seed N (1: which task node dies at
// each moment, math/rand/v2 PCG); --dir DIR (the work directory, empty or
// new; default a temporary directory removed at exit); --timeout D (10m,
// per run: the driver is then killed by its PID and chaos fails); --keep
// (keep the work directory and print its path).
//
// The work directory holds each run's driver log (fault-free.log,
// chaos.log), output (fault-free-output, chaos-output) and workers
// (fault-free-cluster, chaos-cluster: one directory and one log each).
//
// --output-base s3://bucket/prefix puts the outputs in object storage
// instead, at PREFIX/fault-free-output and PREFIX/chaos-output (PREFIX
// must hold nothing): the client is configured from the AWS environment
// (AWS_ENDPOINT_URL, AWS_REGION, keys), which the drivers inherit. Each
// output must then also be exactly one committed job's (commit.CheckObjects:
// a _SUCCESS manifest that matches its parts, no uncompleted upload left).
//
// The report on stdout:
//
//	outputs: identical
//	fault-free: 12.34s exit 0
//	chaos: 15.67s exit 0 (1.27x)
//	workers killed: 2 (127.0.0.1:41234 at 3.70s, 127.0.0.1:41240 at 7.40s)
//	tasks recomputed: 5
//	stages recomputed: 1
//
// or `outputs: DIFFERENT (N lines only in the fault-free output, M only in
// the chaos output)`. Outputs are compared as sorted multisets of the lines
// of their part-* files, sorted within a memory budget (internal/spill), and
// each must hold _SUCCESS. The exit status is 0 when both runs exited 0 and
// the outputs are identical; 1 otherwise, with the last lines of the
// relevant driver log and a one-line reason on stderr; 2 on bad usage.
// When the fault-free run fails, the chaos run is skipped and the report
// is only the fault-free line.
//
// A kill moment measures the whole driver process, startup and the wait for
// --min-workers included: with a short job, early moments may come before
// the job has started.

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/localcluster"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/spill"
)

// chaosConfig is a parsed `sluice chaos` command line.
type chaosConfig struct {
	core, task, slots int
	signal            syscall.Signal
	at                []float64     // kill moments as fractions of the fault-free wall time, ascending
	every             time.Duration // or one kill every this long
	kills             int
	seed              uint64
	dir               string
	timeout           time.Duration
	keep              bool
	outputBase        string   // s3:// prefix for the outputs, or "" for the work directory
	command           []string // with the placeholders
}

const chaosUsage = "usage: sluice chaos [flags] -- DRIVER-COMMAND [ARGS...]   ({join} and {output} are replaced in the command)\n\nflags:\n"

// parseChaos parses the command line. Its errors are usage errors: one
// line that names the flag at fault.
func parseChaos(args []string) (chaosConfig, error) {
	fs := pflag.NewFlagSet("sluice chaos", pflag.ContinueOnError)
	// The first non-flag argument starts the driver command, so a command
	// given without -- keeps its own flags.
	fs.SetInterspersed(false)
	fs.Usage = func() { fmt.Print(chaosUsage, fs.FlagUsages()) }
	core := fs.Int("core", 1, "core workers")
	task := fs.Int("task", 3, "task workers: the ones that get killed")
	slots := fs.Int("slots", 0, "task slots per worker (default: the machine's cores shared among the workers, at least 1)")
	sig := fs.String("signal", "KILL", "signal that kills a task node: KILL or TERM (graceful decommission)")
	at := fs.String("at", "50%", "kill moments, as percentages of the fault-free run's wall time")
	every := fs.Duration("every", 0, "kill one task node every DURATION instead (exclusive with --at)")
	kills := fs.Int("kills", 0, "task nodes to kill in total (default: one per --at moment; with --every, all)")
	seed := fs.Uint64("seed", 1, "seed that chooses which task node dies at each moment")
	dir := fs.String("dir", "", "work directory, empty or new (default: a temporary directory, removed at exit)")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest a run may take; then its driver is killed and chaos fails")
	keep := fs.Bool("keep", false, "keep the work directory and print its path")
	outputBase := fs.String("output-base", "", "write the outputs under this s3://bucket/prefix instead of the work directory")
	if err := fs.Parse(args); err != nil {
		return chaosConfig{}, err
	}
	cfg := chaosConfig{core: *core, task: *task, slots: *slots, every: *every, seed: *seed,
		dir: *dir, timeout: *timeout, keep: *keep, outputBase: *outputBase, command: fs.Args()}
	if cfg.outputBase != "" && !objstore.IsURL(cfg.outputBase) {
		return cfg, fmt.Errorf("--output-base %q: want an s3://bucket/prefix URL", cfg.outputBase)
	}
	switch {
	case cfg.core < 1:
		return cfg, fmt.Errorf("--core %d: need at least 1 core worker", cfg.core)
	case cfg.task < 0:
		return cfg, fmt.Errorf("--task %d: need 0 or more task workers", cfg.task)
	case cfg.slots < 0:
		return cfg, fmt.Errorf("--slots %d: need 1 or more (0 for the default)", cfg.slots)
	case cfg.timeout <= 0:
		return cfg, fmt.Errorf("--timeout %v: need a positive duration", cfg.timeout)
	}
	if cfg.slots == 0 {
		// The workers share one machine: more slots than cores only adds
		// contention.
		cfg.slots = max(1, runtime.NumCPU()/(cfg.core+cfg.task))
	}
	switch strings.TrimPrefix(strings.ToUpper(*sig), "SIG") {
	case "KILL":
		cfg.signal = syscall.SIGKILL
	case "TERM":
		cfg.signal = syscall.SIGTERM
	default:
		return cfg, fmt.Errorf("--signal %q: want KILL or TERM", *sig)
	}

	if fs.Changed("every") {
		if fs.Changed("at") {
			return cfg, errors.New("--at and --every are exclusive: give one")
		}
		if cfg.every <= 0 {
			return cfg, fmt.Errorf("--every %v: need a positive duration", cfg.every)
		}
		cfg.kills = cfg.task
	} else {
		for f := range strings.SplitSeq(*at, ",") {
			f = strings.TrimSpace(f)
			num, ok := strings.CutSuffix(f, "%")
			v, err := strconv.ParseFloat(num, 64)
			if !ok || err != nil || !(v >= 0 && v <= 100) {
				return cfg, fmt.Errorf("--at %q: want percentages from 0%% to 100%%, like 30%%,60%%", *at)
			}
			cfg.at = append(cfg.at, v/100)
		}
		slices.Sort(cfg.at)
		cfg.kills = len(cfg.at)
	}
	if fs.Changed("kills") {
		cfg.kills = *kills
		if cfg.kills < 0 || cfg.kills > cfg.task {
			return cfg, fmt.Errorf("--kills %d: need 0 to %d, the task nodes of --task", cfg.kills, cfg.task)
		}
	} else if cfg.kills > cfg.task {
		return cfg, fmt.Errorf("--at %s kills %d task nodes but --task is %d: add task nodes or set --kills", *at, cfg.kills, cfg.task)
	}

	if cfg.dir != "" {
		ents, err := os.ReadDir(cfg.dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return cfg, fmt.Errorf("--dir %s: %v", cfg.dir, err)
		}
		if len(ents) > 0 {
			return cfg, fmt.Errorf("--dir %s is not empty: give a new or empty work directory", cfg.dir)
		}
	}

	if len(cfg.command) == 0 {
		return cfg, errors.New("missing DRIVER-COMMAND after --")
	}
	if !slices.ContainsFunc(cfg.command, func(a string) bool { return strings.Contains(a, "{output}") }) {
		return cfg, errors.New("DRIVER-COMMAND has no {output} placeholder: chaos compares the outputs the two runs write there")
	}
	if _, err := exec.LookPath(cfg.command[0]); err != nil {
		return cfg, fmt.Errorf("DRIVER-COMMAND %s: %v", cfg.command[0], err)
	}
	return cfg, nil
}

// runChaos is `sluice chaos`; see the comment at the top of this file.
func runChaos(args []string) int {
	// Children get SIGKILL when the thread that started them exits
	// (Pdeathsig); keep it the same thread for the life of the command.
	runtime.LockOSThread()
	cfg, err := parseChaos(args)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice chaos: %v\n", err)
		return 2
	}
	if !slices.ContainsFunc(cfg.command, func(a string) bool { return strings.Contains(a, "{join}") }) {
		fmt.Fprintln(os.Stderr, "sluice chaos: warning: DRIVER-COMMAND has no {join} placeholder, so it may not run on the cluster")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	work := cfg.dir
	if work == "" {
		work, err = os.MkdirTemp("", "sluice-chaos-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice chaos: %v\n", err)
			return 1
		}
		if !cfg.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "sluice chaos: --dir: %v\n", err)
		return 1
	}
	// The driver gets paths under work; absolute, they mean the same to
	// its executors whatever their working directory.
	if work, err = filepath.Abs(work); err != nil {
		fmt.Fprintf(os.Stderr, "sluice chaos: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice chaos: %v\n", err)
		return 1
	}
	c := &chaos{cfg: cfg, self: self, work: work, stdout: os.Stdout, stderr: os.Stderr}
	return c.run(ctx)
}

// chaos is one `sluice chaos` invocation.
type chaos struct {
	cfg    chaosConfig
	self   string // this binary, re-executed as `sluice worker`
	work   string
	stdout io.Writer
	stderr io.Writer
}

// failure is why chaos exits 1: a one-line reason and the log whose tail
// explains it.
type failure struct {
	reason string
	log    string
}

func (c *chaos) run(ctx context.Context) int {
	var notes []string
	ff, err := c.runOnce(ctx, "fault-free", nil)
	if err != nil {
		return c.finish(notes, &failure{reason: err.Error()})
	}
	if f := ff.failure("fault-free", c.cfg.timeout); f != nil {
		fmt.Fprintf(c.stdout, "fault-free: %.2fs exit %d\n", ff.wall.Seconds(), ff.code)
		f.reason += "; the chaos run was skipped"
		return c.finish(notes, f)
	}

	offsets := killOffsets(c.cfg, ff.wall)
	var killed []kill
	ch, err := c.runOnce(ctx, "chaos", func(cl *localcluster.Cluster, start time.Time, exited <-chan struct{}) {
		killed = killOnSchedule(ctx, cl, c.cfg, start, offsets, exited)
	})
	if err != nil {
		return c.finish(notes, &failure{reason: err.Error()})
	}
	if n := len(offsets) - len(killed); n > 0 {
		notes = append(notes, fmt.Sprintf("the chaos run ended before %d of its %d scheduled kills", n, len(offsets)))
	}

	out, err := compareOutputs(ff.output, ch.output, filepath.Join(c.work, "compare"), compareBudget)
	if err != nil {
		return c.finish(notes, &failure{reason: "comparing the outputs: " + err.Error()})
	}
	if out.identical() {
		fmt.Fprintln(c.stdout, "outputs: identical")
	} else {
		fmt.Fprintf(c.stdout, "outputs: DIFFERENT (%d lines only in the fault-free output, %d only in the chaos output)\n", out.onlyA, out.onlyB)
	}
	fmt.Fprintf(c.stdout, "fault-free: %.2fs exit %d\n", ff.wall.Seconds(), ff.code)
	fmt.Fprintf(c.stdout, "chaos: %.2fs exit %d (%.2fx)\n", ch.wall.Seconds(), ch.code, ch.wall.Seconds()/max(ff.wall.Seconds(), 1e-9))
	fmt.Fprintf(c.stdout, "workers killed: %d%s\n", len(killed), formatKills(killed))
	if ff.tasks >= 0 && ch.tasks >= 0 {
		fmt.Fprintf(c.stdout, "tasks recomputed: %d\n", ch.tasks-ff.tasks)
	} else {
		fmt.Fprintln(c.stdout, "tasks recomputed: unknown (the driver wrote no summary to $"+driver.EnvJobSummary+")")
	}
	if ff.stages >= 0 && ch.stages >= 0 {
		fmt.Fprintf(c.stdout, "stages recomputed: %d\n", ch.stages-ff.stages)
	} else {
		fmt.Fprintln(c.stdout, "stages recomputed: unknown")
	}

	if f := ch.failure("chaos", c.cfg.timeout); f != nil {
		return c.finish(notes, f)
	}
	switch {
	case !out.successA && out.whyA != "":
		return c.finish(notes, &failure{reason: "the fault-free output: " + out.whyA, log: ff.log})
	case !out.successA:
		return c.finish(notes, &failure{reason: "the fault-free output has no _SUCCESS: does the driver write its output to {output}?", log: ff.log})
	case !out.successB && out.whyB != "":
		return c.finish(notes, &failure{reason: "the chaos output: " + out.whyB, log: ch.log})
	case !out.successB:
		return c.finish(notes, &failure{reason: "the chaos output has no _SUCCESS", log: ch.log})
	case !out.sameLines():
		return c.finish(notes, &failure{reason: "the outputs differ: " + out.example, log: ch.log})
	}
	return c.finish(notes, nil)
}

// finish prints the notes, the failure's log tail and reason, and returns
// the exit status.
func (c *chaos) finish(notes []string, f *failure) int {
	if f != nil && f.log != "" {
		if tail, err := tailLines(f.log, 20); err == nil && len(tail) > 0 {
			fmt.Fprintf(c.stderr, "--- last %d lines of %s ---\n", len(tail), f.log)
			for _, l := range tail {
				fmt.Fprintln(c.stderr, l)
			}
			fmt.Fprintln(c.stderr, "---")
		}
	}
	for _, n := range notes {
		fmt.Fprintf(c.stderr, "sluice chaos: %s\n", n)
	}
	if c.cfg.keep {
		fmt.Fprintf(c.stderr, "sluice chaos: work directory kept: %s\n", c.work)
	}
	if f == nil {
		return 0
	}
	fmt.Fprintf(c.stderr, "sluice chaos: %s\n", f.reason)
	return 1
}

// runResult is one run of the driver command.
type runResult struct {
	wall     time.Duration
	code     int  // exit status; -1 when a signal ended the driver
	timedOut bool // killed after --timeout
	log      string
	output   string
	summary  string // where the driver writes its JSON summary
	tasks    int    // the driver summary's tasks_recomputed; -1 when absent
	stages   int    // its stages_recomputed; -1 when absent
}

// failure says why the run failed, or nil.
func (r runResult) failure(name string, timeout time.Duration) *failure {
	switch {
	case r.timedOut:
		return &failure{reason: fmt.Sprintf("the %s run took longer than --timeout %v: its driver was killed", name, timeout), log: r.log}
	case r.code != 0:
		return &failure{reason: fmt.Sprintf("the %s run failed: its driver exited %d", name, r.code), log: r.log}
	}
	return nil
}

// runOnce starts a cluster, runs the driver command on it, calling during
// (if not nil) while the driver runs, and stops the cluster. An error means
// the run could not happen at all.
func (c *chaos) runOnce(ctx context.Context, name string, during func(cl *localcluster.Cluster, start time.Time, exited <-chan struct{})) (runResult, error) {
	r := runResult{log: filepath.Join(c.work, name+".log"), output: filepath.Join(c.work, name+"-output"),
		summary: filepath.Join(c.work, name+".summary.json"), tasks: -1, stages: -1}
	if c.cfg.outputBase != "" {
		r.output = objstore.Dir(c.cfg.outputBase) + name + "-output"
	}
	cl, err := startCluster(ctx, c.self, filepath.Join(c.work, name+"-cluster"), c.cfg.core, c.cfg.task, c.cfg.slots)
	if err != nil {
		return r, fmt.Errorf("the %s run's cluster: %w", name, err)
	}
	// SIGKILL, by PID: the driver has ended, so nothing on the cluster is
	// worth a graceful stop. SIGTERM would make the workers drain (and a
	// worker chaos sent SIGTERM must not get a second one), and members
	// that all leave at once wait seconds for a peer to hear them.
	defer cl.Kill()

	logf, err := os.Create(r.log)
	if err != nil {
		return r, err
	}
	defer logf.Close()
	fill := strings.NewReplacer("{join}", cl.Join, "{output}", r.output)
	argv := make([]string, len(c.cfg.command))
	for i, a := range c.cfg.command {
		argv[i] = fill.Replace(a)
	}
	runCtx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	// CommandContext kills the driver by its PID when runCtx ends.
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), driver.EnvJobSummary+"="+r.summary)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("starting the %s run's driver: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if during != nil {
		during(cl, start, exited)
	}
	<-exited
	r.wall = time.Since(start)
	r.code = cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted during the %s run", name)
	}
	r.timedOut = runCtx.Err() != nil
	if n, err := readSummary(r.summary); err == nil {
		r.tasks, r.stages = n.tasks, n.stages
	}
	return r, nil
}

// killOffsets returns when to kill task nodes, as offsets from the chaos
// driver's start: one per kill, ascending.
func killOffsets(cfg chaosConfig, faultFree time.Duration) []time.Duration {
	var offs []time.Duration
	if cfg.every > 0 {
		for i := range cfg.kills {
			offs = append(offs, time.Duration(i+1)*cfg.every)
		}
		return offs
	}
	n := len(cfg.at)
	for i, f := range cfg.at {
		k := cfg.kills / n
		if i < cfg.kills%n {
			k++
		}
		for range k {
			offs = append(offs, time.Duration(f*float64(faultFree)))
		}
	}
	return offs
}

// kill is a task node chaos signalled, and when.
type kill struct {
	addr string
	at   time.Duration // since the driver started
}

func formatKills(ks []kill) string {
	if len(ks) == 0 {
		return ""
	}
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s at %.2fs", k.addr, k.at.Seconds())
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// killOnSchedule signals one task node at each offset, chosen by the seeded
// generator among those not yet signalled and still running, until the
// offsets or the nodes run out or the driver exits.
func killOnSchedule(ctx context.Context, cl *localcluster.Cluster, cfg chaosConfig, start time.Time, offsets []time.Duration, exited <-chan struct{}) []kill {
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	var killed []kill
	signalled := map[*localcluster.Worker]bool{} // never chosen again
	for _, off := range offsets {
		t := time.NewTimer(time.Until(start.Add(off)))
		select {
		case <-t.C:
		case <-exited:
			t.Stop()
			return killed
		case <-ctx.Done():
			t.Stop()
			return killed
		}
		select {
		case <-exited: // both were ready: the driver is gone, so no kill
			return killed
		default:
		}
		for {
			victims := killable(cl, signalled)
			if len(victims) == 0 {
				return killed
			}
			w := victims[rng.IntN(len(victims))]
			signalled[w] = true
			if err := w.Signal(cfg.signal); err == nil {
				killed = append(killed, kill{addr: w.Addr, at: time.Since(start)})
				break
			} // else it has just exited on its own: choose another
		}
	}
	return killed
}

// startCluster starts core+task workers with their files and logs under
// dir (ROLE-N and ROLE-N.log), each joining the first, as `sluice up`
// starts them, and waits until each listens.
func startCluster(ctx context.Context, self, dir string, core, task, slots int) (*localcluster.Cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return localcluster.Start(ctx, localcluster.Options{
		Bin: self, Dir: dir, Core: core, Task: task, Slots: slots,
		Output: func(w *localcluster.Worker) (io.Writer, error) {
			// The worker writes to the file itself; localcluster closes
			// this copy once it has started.
			return os.Create(filepath.Join(dir, w.Name+".log"))
		},
	})
}

// killable returns the task nodes chaos has not signalled that still run.
func killable(cl *localcluster.Cluster, signalled map[*localcluster.Worker]bool) []*localcluster.Worker {
	var ws []*localcluster.Worker
	for _, w := range cl.Workers {
		if w.Role == localcluster.RoleTask && !signalled[w] && w.Running() {
			ws = append(ws, w)
		}
	}
	return ws
}

// comparison is how two outputs' lines differ.
type comparison struct {
	successA, successB bool   // _SUCCESS present
	whyA, whyB         string // why an s3:// output is not one committed job's
	onlyA, onlyB       int64  // lines (with multiplicity) in one output only
	example            string
}

// sameLines reports whether the two outputs hold the same lines.
func (c comparison) sameLines() bool { return c.onlyA == 0 && c.onlyB == 0 }

// identical reports whether the outputs are the same lines and both jobs
// committed (_SUCCESS).
func (c comparison) identical() bool { return c.sameLines() && c.successA && c.successB }

// compareBudget is the memory each output's lines may take while sorted;
// beyond it, sorted runs spill to disk.
const compareBudget = 32 << 20

// compareOutputs compares the multisets of lines of the part-* files of
// output directories a (fault-free) and b (chaos). Each side is sorted
// within budget bytes, spilling sorted runs under tmp, then the two are
// merged. A missing directory has no lines.
func compareOutputs(a, b, tmp string, budget int64) (comparison, error) {
	var c comparison
	defer os.RemoveAll(tmp)
	c.successA, c.whyA = committed(a)
	c.successB, c.whyB = committed(b)

	itA, closeA, err := sortedLines(a, filepath.Join(tmp, "fault-free"), budget)
	if err != nil {
		return c, err
	}
	defer closeA()
	itB, closeB, err := sortedLines(b, filepath.Join(tmp, "chaos"), budget)
	if err != nil {
		return c, err
	}
	defer closeB()

	okA, okB := itA.Next(), itB.Next()
	for okA || okB {
		d := 0
		switch {
		case !okA:
			d = 1
		case !okB:
			d = -1
		default:
			d = bytes.Compare(itA.Key(), itB.Key())
		}
		switch {
		case d == 0:
			okA, okB = itA.Next(), itB.Next()
		case d < 0:
			if c.sameLines() {
				c.example = fmt.Sprintf("%s only in the fault-free output", quoteLine(itA.Key()))
			}
			c.onlyA++
			okA = itA.Next()
		default:
			if c.sameLines() {
				c.example = fmt.Sprintf("%s only in the chaos output", quoteLine(itB.Key()))
			}
			c.onlyB++
			okB = itB.Next()
		}
	}
	if err := cmp.Or(itA.Err(), itB.Err()); err != nil {
		return c, err
	}
	return c, nil
}

// quoteLine quotes a line for a one-line message, cut to 80 bytes.
func quoteLine(l []byte) string {
	if len(l) > 80 {
		return strconv.Quote(string(l[:80])) + "..."
	}
	return strconv.Quote(string(l))
}

// sortedLines returns the lines of dir's part-* files in byte order, as
// the keys of a spill iterator, and a function that removes its runs.
func sortedLines(dir, tmp string, budget int64) (*spill.Iterator, func(), error) {
	s, err := spill.NewSorter(spill.Config{Dir: tmp, Budget: budget, Codec: block.S2, ByKey: true})
	if err != nil {
		return nil, nil, err
	}
	if err := eachOutputLine(dir, func(line []byte) error { return s.Add(0, line, nil) }); err != nil {
		s.Close()
		return nil, nil, err
	}
	it, err := s.Iter()
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return it, func() { s.Close() }, nil
}

// eachLine calls fn with each line of the file at path, without its '\n'
// (a last line may lack one). With limit >= 0, a line is cut to its first
// limit bytes. The line is valid only during the call.
func eachLine(path string, limit int, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil
	}
	return eachLineOf(f, limit, fn)
}

// eachLineOf is eachLine of a reader.
func eachLineOf(r io.Reader, limit int, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than br's buffer, gathered
	for {
		piece, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if limit < 0 || len(long) < limit {
				long = append(long, piece...)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		line := piece
		if len(long) > 0 {
			line = append(long, piece...)
		}
		if len(line) > 0 { // else the file ended after a '\n' (or was empty)
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if limit >= 0 && len(line) > limit {
				line = line[:limit]
			}
			if err := fn(line); err != nil {
				return err
			}
		}
		long = long[:0]
		if err == io.EOF {
			return nil
		}
	}
}

// logLineLimit cuts overlong log lines: a tail is for reading.
const logLineLimit = 4 << 10

// tailLines returns the last n lines of the file at path.
func tailLines(path string, n int) ([]string, error) {
	ring := make([]string, 0, n)
	next := 0
	err := eachLine(path, logLineLimit, func(l []byte) error {
		if len(ring) < n {
			ring = append(ring, string(l))
		} else {
			ring[next] = string(l)
			next = (next + 1) % n
		}
		return nil
	})
	return append(ring[next:], ring[:next]...), err
}

// sessionCounts holds the recomputation counts of a driver's summary; -1
// for a count it lacks.
type sessionCounts struct{ tasks, stages int }

// maxSummary bounds what readSummary reads: a summary is a few hundred
// bytes, plus a line per worker.
const maxSummary = 16 << 20

// readSummary reads the counts from the JSON summary a driver wrote at
// path (driver.Summary).
func readSummary(path string) (sessionCounts, error) {
	d := sessionCounts{-1, -1}
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	var sum struct {
		TasksRecomputed  *int `json:"tasks_recomputed"`
		StagesRecomputed *int `json:"stages_recomputed"`
	}
	if err := json.NewDecoder(io.LimitReader(f, maxSummary)).Decode(&sum); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	if sum.TasksRecomputed != nil {
		d.tasks = *sum.TasksRecomputed
	}
	if sum.StagesRecomputed != nil {
		d.stages = *sum.StagesRecomputed
	}
	return d, nil
}
