package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/localcluster"
)

// runUp is `sluice up`: a local cluster of worker processes on loopback
// for development. It prints the join address on stdout and stops every
// worker on SIGINT or SIGTERM.
func runUp(args []string) int {
	// Children get SIGTERM when the thread that started them exits (Pdeathsig);
	// keep it the same thread for the life of the command.
	runtime.LockOSThread()
	fs := pflag.NewFlagSet("sluice up", pflag.ContinueOnError)
	cores := fs.Int("core", 1, "core workers")
	tasks := fs.Int("task", 2, "task workers")
	slots := fs.Int("slots", 0, "task slots per worker (default: the machine's cores shared among the workers, at least 1)")
	dir := fs.String("dir", "", "directory for the workers' files (default: a temporary directory, removed at exit)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sluice up [flags]\n\nStarts a local cluster of worker processes on loopback, prints the address drivers join (--join) on stdout, and stops them all on SIGINT or SIGTERM.\n\nflags:\n%s", fs.FlagUsages())
	}
	if code, exit := parseFlags(fs, args); exit {
		return code
	}
	if *cores < 1 || *tasks < 0 {
		fmt.Fprintln(os.Stderr, "sluice up: need --core at least 1 and --task at least 0")
		return 2
	}
	if *slots <= 0 {
		// The workers share one machine: more slots than cores only adds
		// contention.
		*slots = max(1, runtime.NumCPU()/(*cores+*tasks))
	}
	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "sluice-up-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice up: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		base = d
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice up: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cl, err := localcluster.Start(ctx, localcluster.Options{
		Bin: self, Dir: base, Core: *cores, Task: *tasks, Slots: *slots,
		DeathSignal: syscall.SIGTERM,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice up: %v\n", err)
		return 1
	}
	// SIGTERM: the workers drain and leave; after 10 s, SIGKILL.
	defer cl.Stop(10 * time.Second)
	join := cl.Join
	fmt.Fprintf(os.Stderr, "sluice up: %d core and %d task workers; run drivers with --join %s; Ctrl-C stops them\n", *cores, *tasks, join)
	fmt.Println(join)
	<-ctx.Done()
	return 0
}
