package localcluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/localcluster"
)

// fakeWorker, set, makes this test binary a stand-in for `sluice worker`:
// it listens on --listen, prints its arguments, and exits 0 on SIGTERM,
// or ignores SIGTERM when set to "stubborn".
const fakeWorker = "LOCALCLUSTER_FAKE_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeWorker); mode != "" {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		args := os.Args[1:]
		i := slices.Index(args, "--listen")
		ln, err := net.Listen("tcp", args[i+1])
		if err != nil {
			os.Exit(3)
		}
		defer ln.Close()
		fmt.Println(strings.Join(args, " "))
		for {
			<-term
			if mode != "stubborn" {
				os.Exit(0)
			}
		}
	}
	os.Exit(m.Run())
}

type buffers struct {
	mu sync.Mutex
	m  map[string]*strings.Builder
}

type lockedWriter struct {
	b  *buffers
	sb *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.sb.Write(p)
}

func (b *buffers) output(w *localcluster.Worker) (io.Writer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sb := &strings.Builder{}
	b.m[w.Name] = sb
	return lockedWriter{b, sb}, nil
}

func (b *buffers) get(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[name].String()
}

func start(t *testing.T, env string, core, task int) (*localcluster.Cluster, *buffers) {
	t.Helper()
	out := &buffers{m: map[string]*strings.Builder{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Bin: os.Args[0], Dir: t.TempDir(), Core: core, Task: task, Slots: 3,
		Args: []string{"--extra"}, Env: []string{fakeWorker + "=" + env}, Output: out.output,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c, out
}

// Workers start with their roles, slots and directories, each joining
// the first; their output goes where Output says.
func TestStartJoinsTheFirst(t *testing.T) {
	c, out := start(t, "1", 1, 2)
	if len(c.Workers) != 3 || c.Join != c.Workers[0].Addr {
		t.Fatalf("workers %d, join %s", len(c.Workers), c.Join)
	}
	for i, w := range c.Workers {
		want := fmt.Sprintf("worker --listen %s --role %s --slots 3 --dir %s", w.Addr, w.Role, w.Dir)
		if i > 0 {
			want += " --join " + c.Join
		}
		want += " --extra\n"
		deadline := time.Now().Add(time.Minute)
		for out.get(w.Name) != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := out.get(w.Name); got != want {
			t.Errorf("worker %d started as %q, want %q", i, got, want)
		}
		if filepath.Base(w.Dir) != w.Name || (i == 0) != (w.Role == localcluster.RoleCore) {
			t.Errorf("worker %d: %+v", i, w)
		}
	}
}

// Kill ends one worker by its PID; Stop gives the rest SIGTERM and, after
// the grace period, SIGKILL to one that ignores it.
func TestKillAndStop(t *testing.T) {
	c, _ := start(t, "1", 1, 1)
	victim := c.Workers[1]
	pid := victim.PID()
	victim.Kill()
	if victim.Running() || victim.ExitCode() != -1 {
		t.Fatalf("after Kill: running %v, exit %d", victim.Running(), victim.ExitCode())
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still there", pid)
	}
	c.Stop(time.Minute)
	if w := c.Workers[0]; w.Running() || w.ExitCode() != 0 {
		t.Fatalf("after Stop the first worker: running %v, exit %d", w.Running(), w.ExitCode())
	}

	stubborn, _ := start(t, "stubborn", 1, 0)
	begin := time.Now()
	stubborn.Stop(100 * time.Millisecond)
	if stubborn.Workers[0].Running() {
		t.Fatal("a worker that ignores SIGTERM survived Stop")
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Fatalf("Stop took %v with a grace of 100ms", d)
	}
}

// A worker that exits before it listens is an error that says so, and
// Start kills what it started.
func TestStartFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := localcluster.Start(ctx, localcluster.Options{Bin: "/bin/false", Dir: t.TempDir(), Core: 1, Slots: 1})
	if err == nil || !strings.Contains(err.Error(), "exited before listening") {
		t.Fatalf("a worker that exits at once: %v", err)
	}
	if _, err := localcluster.Start(ctx, localcluster.Options{Bin: os.Args[0], Core: 1}); err == nil {
		t.Fatal("Start with no slots succeeded")
	}
}
