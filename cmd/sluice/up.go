package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/loopback"
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

	var procs []upProc
	defer func() { stopAll(procs) }()
	join := ""
	for i := range *cores + *tasks {
		role := "core"
		if i >= *cores {
			role = "task"
		}
		// A free port can be taken before the worker binds it; the worker
		// then exits at once, and another port is tried.
		var addr string
		var err error
		for try := 0; try < 3; try++ {
			if addr, err = loopback.FreeAddr(); err != nil {
				break
			}
			args := []string{"worker", "--listen", addr, "--role", role, "--slots", strconv.Itoa(*slots),
				"--dir", filepath.Join(base, fmt.Sprintf("%s-%d", role, i))}
			if join != "" {
				args = append(args, "--join", join)
			}
			cmd := exec.Command(self, args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
			if err = cmd.Start(); err != nil {
				break
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			if err = loopback.Await(ctx, addr, 30*time.Second, exited); err == nil {
				procs = append(procs, upProc{cmd, exited})
				break
			}
			cmd.Process.Kill()
			<-exited
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice up: worker %d: %v\n", i, err)
			return 1
		}
		if join == "" {
			join = addr
		}
	}
	fmt.Fprintf(os.Stderr, "sluice up: %d core and %d task workers; run drivers with --join %s; Ctrl-C stops them\n", *cores, *tasks, join)
	fmt.Println(join)
	<-ctx.Done()
	return 0
}

// upProc is a worker process and a channel closed when it has exited.
type upProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// stopAll sends SIGTERM to every worker, then SIGKILL to those still
// running after a grace period, and reaps them all.
func stopAll(procs []upProc) {
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-deadline:
			for _, q := range procs {
				q.cmd.Process.Kill()
			}
			<-p.exited
		}
	}
}
