package driver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/memlimit"
	"github.com/sluicehq/sluice/worker"
)

// commandLine holds the shared flags, registered on pflag.CommandLine when
// this package initializes, before the program's own package does: so they
// are known wherever the command line is parsed, by Main or by the
// program's own pflag.Parse() before Main, in the driver and in every
// executor, which starts with the driver's arguments.
var commandLine = register(pflag.CommandLine)

func init() { Usage("", "") }

// mainFlags are the flags Main reads.
type mainFlags struct {
	config     func() (Config, error)
	verbose    *bool
	cpuProfile *string
	summary    *string
}

func register(fs *pflag.FlagSet) mainFlags {
	return mainFlags{
		config:     Flags(fs),
		verbose:    fs.BoolP("verbose", "v", false, "log scheduling and task events to stderr"),
		cpuProfile: fs.String("cpuprofile", "", "write a Go CPU profile of the driver process to this file"),
		summary:    fs.String("job-summary", "", "write a JSON summary of the run (outcome, task counts, recomputation, workers) to this file at exit"),
	}
}

// Main runs a driver program: it parses the command line (the program's
// own pflag flags and the shared ones of Flags) unless the program already
// did with pflag.Parse(), opens a Session, calls run, and exits: 0 when run
// returns nil, 1 with the error on stderr otherwise, 2 after a mistake on
// the command line, and 0 after printing the usage (see Usage) for --help.
// SIGINT and SIGTERM cancel run's context.
//
// A worker (or --local-cluster) starts the same binary as an executor,
// with the driver's arguments and environment; then Main parses the
// command line as it did in the driver and serves tasks instead of calling
// run. Everything main does before Main therefore runs in every executor
// too, with the same flags and environment; what run computes stays in the
// driver.
func Main(run func(ctx context.Context, s *Session) error) {
	if worker.IsExecutor() {
		parseQuietly(pflag.CommandLine, os.Args[1:])
		os.Exit(worker.RunExecutor())
	}
	os.Exit(runMain(run, os.Args[1:]))
}

// parseQuietly parses an executor's command line, which the driver parsed
// before it. A program whose driver parsed its own way (a FlagSet of its
// own, subcommands) may not parse here: its executor runs anyway.
func parseQuietly(fs *pflag.FlagSet, args []string) {
	if fs.Parsed() {
		return
	}
	fs.Init(fs.Name(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_ = fs.Parse(args)
}

// parse parses a driver's command line: --help prints the usage on stdout,
// a mistake is one line on stderr. exit says whether to exit with code.
func parse(fs *pflag.FlagSet, prog string, args []string) (code int, exit bool) {
	fs.Init(fs.Name(), pflag.ContinueOnError)
	defer fs.Init(fs.Name(), pflag.ExitOnError)
	fs.SetOutput(os.Stdout)
	defer fs.SetOutput(os.Stderr)
	switch err := fs.Parse(args); {
	case errors.Is(err, pflag.ErrHelp):
		return 0, true
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v (see %s --help)\n", prog, err, prog)
		return 2, true
	}
	return 0, false
}

// Usage sets what a driver program's --help prints: the line
// "usage: PROG [flags] ARGS", where args describes the positional
// arguments ("INPUT..."); then about, when not empty, a paragraph on them;
// then the program's own flags and the shared ones. Call it in main before
// Main, or in init. (It sets pflag.Usage, which a program may also set
// itself.)
func Usage(args, about string) {
	pflag.Usage = func() { printUsage(pflag.CommandLine.Output(), pflag.CommandLine, args, about) }
}

func printUsage(w io.Writer, fs *pflag.FlagSet, args, about string) {
	line := "usage: " + filepath.Base(os.Args[0]) + " [flags]"
	if args != "" {
		line += " " + args
	}
	fmt.Fprintln(w, line)
	if about = strings.TrimSpace(about); about != "" {
		fmt.Fprintf(w, "\n%s\n", about)
	}
	shared := map[string]bool{}
	scratch := pflag.NewFlagSet("", pflag.ContinueOnError)
	register(scratch)
	scratch.VisitAll(func(f *pflag.Flag) { shared[f.Name] = true })
	own, common := pflag.NewFlagSet("", pflag.ContinueOnError), pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if shared[f.Name] {
			common.AddFlag(f)
		} else {
			own.AddFlag(f)
		}
	})
	if own.HasFlags() {
		fmt.Fprintf(w, "\nflags:\n%s", own.FlagUsages())
	}
	fmt.Fprintf(w, "\nflags of every Sluice driver program:\n%s", common.FlagUsages())
}

func runMain(run func(ctx context.Context, s *Session) error, args []string) int {
	prog := filepath.Base(os.Args[0])
	if fs := pflag.CommandLine; !fs.Parsed() {
		if code, exit := parse(fs, prog, args); exit {
			return code
		}
	}
	cfg, err := commandLine.config()
	if err != nil {
		printErr(prog, err)
		return 2
	}
	level := slog.LevelWarn
	if *commandLine.verbose {
		level = slog.LevelDebug
		cfg.Summary = true
		cfg.Progress = false // log lines and a redrawn line do not mix
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *commandLine.cpuProfile != "" {
		f, err := os.Create(*commandLine.cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: --cpuprofile: %v\n", prog, err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "%s: --cpuprofile: %v\n", prog, err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.LocalCluster == 0 && len(cfg.Join) == 0 {
		// Local mode runs the tasks in this process: hold the Go heap to
		// their budgets (executors elsewhere do the same for theirs).
		defer memlimit.Set(cfg.Parallelism, cfg.Memory)()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := NewSession(cfg)
	if err != nil {
		printErr(prog, err)
		if errors.As(err, new(usageError)) {
			return 2
		}
		return 1
	}
	err = run(ctx, s)
	s.endErr = err
	cerr := s.Close()
	if err == nil && cerr != nil {
		err = cerr
	}
	if path := cmp.Or(*commandLine.summary, os.Getenv(EnvJobSummary)); path != "" {
		if serr := writeSummary(path, s.summary(err)); serr != nil {
			fmt.Fprintf(os.Stderr, "%s: --job-summary: %v\n", prog, serr)
			if err == nil {
				return 1
			}
		}
	}
	m := s.Metrics()
	cfg.Logger.Debug("session done", "tasks", m.Tasks, "failed", m.TasksFailed, "spills", m.Spills, "shuffle_bytes", m.ShuffleBytes,
		"tasks_recomputed", m.TasksRecomputed, "stages_recomputed", m.StagesRecomputed, "speculated", m.Speculated, "tasks_by_worker", m.TasksByWorker)
	if err != nil {
		printErr(prog, err)
		return 1
	}
	return 0
}

// printErr prints err on stderr, each of its lines (errors.Join puts one
// problem on each) after the program's name.
func printErr(prog string, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(os.Stderr, "%s: %s\n", prog, line)
	}
}
