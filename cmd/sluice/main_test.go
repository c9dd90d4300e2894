package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/trust"
)

// The test binary doubles as sluice: with this variable set it runs main,
// and so do the worker processes that `sluice up` starts from it.
const asMain = "SLUICE_CMD_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		return
	}
	cleanup := clustertest.PrivateConfigHome()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func TestVersion(t *testing.T) {
	out, err := sluice(t, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "sluice 0.") {
		t.Fatalf("sluice version: %q, %v", out, err)
	}
}

func sluice(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func TestUpStartsAndStopsACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	up := sluice(t, "up", "--core", "1", "--task", "1", "--dir", t.TempDir())
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() { up.Process.Kill() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var join string
	select {
	case join = <-lines:
	case err := <-exited:
		t.Fatalf("sluice up exited: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("sluice up printed no join address")
	}
	if _, _, err := net.SplitHostPort(join); err != nil || !strings.HasPrefix(join, "127.0.0.1:") {
		t.Fatalf("join address %q", join)
	}

	// A member without the secret cannot join, and learns no member.
	outsider := membership.DefaultConfig()
	outsider.BindAddr = "127.0.0.1:0"
	outsider.Meta = membership.Meta{Role: "driver", State: "alive"}
	onode, err := membership.Start(outsider)
	if err != nil {
		t.Fatal(err)
	}
	defer onode.Shutdown()
	octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ocancel()
	if _, err := onode.Join(octx, []string{join}); err == nil {
		t.Errorf("a member without the cluster secret joined the cluster")
	}
	if ms := onode.Members(); len(ms) != 1 {
		t.Errorf("a member without the cluster secret sees %v", ms)
	}

	// A member with the (development) secret joining at that address sees
	// both workers.
	creds, _, err := trust.Resolve(trust.Options{Addrs: []string{join}})
	if err != nil {
		t.Fatal(err)
	}
	node := joinAsDriver(t, join, creds)
	var workers []membership.Member
	deadline := time.Now().Add(30 * time.Second)
	for {
		workers = workers[:0]
		for _, m := range node.Members() {
			if m.Meta.Role == "core" || m.Meta.Role == "task" {
				workers = append(workers, m)
			}
		}
		if len(workers) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(workers) != 2 {
		t.Fatalf("members %v, want a core and a task worker", node.Members())
	}

	up.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("sluice up after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sluice up did not stop on SIGTERM")
	}
	// The workers left the cluster. (Dialing their ports would not tell:
	// another test's process may have taken a port since.)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := true
		for _, m := range node.Members() {
			if m.Meta.Role == "core" || m.Meta.Role == "task" {
				left = false
			}
		}
		if left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %v still members after sluice up stopped", node.Members())
		}
	}
}

// runSluice runs sluice with args, killed by its PID after a minute, and
// returns its exit code, stdout and stderr.
func runSluice(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sluice %q did not finish within a minute", args)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// A worker refuses --join entries it cannot join at once, one line each,
// before it starts: with no port, memberlist would take its own.
func TestWorkerJoinMistakes(t *testing.T) {
	code, _, stderr := runSluice(t, "worker", "--listen", clustertest.FreeAddr(t), "--dir", t.TempDir(), "--join", "127.0.0.1,core-1:gossip")
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != 2 || len(lines) != 2 || !strings.Contains(lines[0], `"127.0.0.1"`) || !strings.Contains(lines[1], `"core-1:gossip"`) {
		t.Fatalf("sluice worker with two bad --join entries: exit %d, stderr:\n%s", code, stderr)
	}
}

// --help on every command exits 0 with the command's usage on stdout, and
// every default is printed once.
func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"-h"},
		{"worker", "--help"}, {"worker", "-h"},
		{"up", "--help"}, {"up", "-h"},
		{"chaos", "--help"},
		{"secret", "--help"},
		{"version", "--help"},
	} {
		code, stdout, stderr := runSluice(t, args...)
		want := "usage: sluice"
		if args[0] != "--help" && args[0] != "help" && args[0] != "-h" {
			want += " " + args[0]
		}
		if code != 0 || !strings.HasPrefix(stdout, want) || stderr != "" {
			t.Errorf("sluice %q: exit %d, stdout %q, stderr %q; want exit 0 and stdout starting %q", args, code, stdout, stderr, want)
		}
		for line := range strings.SplitSeq(stdout, "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("sluice %q prints a default twice: %q", args, line)
			}
		}
	}
}
