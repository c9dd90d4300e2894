package driver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/worker"
)

// Main runs a driver program: it parses the command line (the program's
// own pflag flags and the shared ones of Flags), opens a Session, calls run,
// and exits: 0 when run returns nil, 1 with the error on one line of stderr
// otherwise. SIGINT and SIGTERM cancel run's context.
//
// A worker starts the same binary as an executor; then Main serves tasks
// instead of calling run, so it must come first in main.
func Main(run func(ctx context.Context, s *Session) error) {
	if worker.IsExecutor() {
		os.Exit(worker.RunExecutor())
	}
	os.Exit(runMain(run, os.Args[1:]))
}

func runMain(run func(ctx context.Context, s *Session) error, args []string) int {
	prog := filepath.Base(os.Args[0])
	fs := pflag.CommandLine
	config := Flags(fs)
	verbose := fs.BoolP("verbose", "v", false, "log scheduling and task events to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the driver process to this file")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 2
	}
	cfg, err := config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := NewSession(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 1
	}
	err = run(ctx, s)
	cerr := s.Close()
	if err == nil && cerr != nil {
		err = cerr
	}
	m := s.Metrics()
	cfg.Logger.Debug("session done", "tasks", m.Tasks, "failed", m.TasksFailed, "spills", m.Spills, "shuffle_bytes", m.ShuffleBytes,
		"tasks_recomputed", m.TasksRecomputed, "stages_recomputed", m.StagesRecomputed, "speculated", m.Speculated, "tasks_by_worker", m.TasksByWorker)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}
