package rdd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/task"
)

// pipeMaxLine bounds a line of a piped command's output, as TextFile
// bounds an input line.
const pipeMaxLine = 64 << 20

// pipeStderrTail is how much of a failed command's standard error its
// task error quotes.
const pipeStderrTail = 4 << 10

// Pipe runs command once per partition of r, on the executor, as Hadoop
// Streaming and Spark's pipe do: the partition's elements go to its
// standard input, one line each (formatted as SaveAsTextFile formats
// them, so an element holding a newline makes several lines), and the
// lines of its standard output are the partition of the result. command
// is the program and its arguments, run without a shell; env holds
// "KEY=VALUE" entries added to the executor's environment, and the
// command also sees SLUICE_PARTITION, SLUICE_STAGE and SLUICE_ATTEMPT.
// Data flows through the pipes as the command reads and writes, so
// memory stays bounded (an output line may be up to 64 MiB). A command
// that exits with a non-zero status, or cannot start, fails the task with
// an error naming the command, its status and the end of its standard
// error. The command must be deterministic, as every user function must.
func Pipe[T any](r *RDD[T], command []string, env ...string) *RDD[string] {
	var err error
	if len(command) == 0 || command[0] == "" {
		err = fmt.Errorf("rdd: Pipe at %s: no command given", callSite(1))
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			err = fmt.Errorf("rdd: Pipe at %s: environment entry %q is not KEY=VALUE", callSite(1), e)
		}
	}
	out := newRDD("Pipe", r.n.parts, func(ctx context.Context, tc *task.Context, part int, yield func(string) bool) error {
		return runPipe(ctx, tc, part, r, command, env, yield)
	}, narrow(r.n))
	return out.fail(err)
}

func runPipe[T any](ctx context.Context, tc *task.Context, part int, r *RDD[T], command, env []string, yield func(string) bool) error {
	name := strings.Join(command, " ")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(append(os.Environ(), env...),
		"SLUICE_PARTITION="+strconv.Itoa(part),
		"SLUICE_STAGE="+strconv.Itoa(tc.Stage),
		"SLUICE_ATTEMPT="+strconv.Itoa(tc.Attempt))
	stderr := &tailBuffer{max: pipeStderrTail}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("rdd: Pipe %q: %w", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("rdd: Pipe %q: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			// No retry finds the command.
			err = Permanent(err)
		}
		return fmt.Errorf("rdd: Pipe %q: %w", name, err)
	}

	// Two goroutines move bytes and run no user code: one writes lines to
	// stdin, one reads lines from stdout. This goroutine runs the user's
	// code on both sides (computing r's partition, and yield), feeding the
	// writer while draining the reader, so neither side can block the
	// other; the channels and the pipes' buffers bound what is in flight.
	in := make(chan []byte, 64)
	lines := make(chan string, 64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	var scanErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		w := bufio.NewWriterSize(stdin, 64<<10)
		failed := false
		for b := range in {
			// A write error means the command closed its input early,
			// which a command may do (head): its exit status decides.
			if !failed {
				_, err := w.Write(b)
				failed = err != nil
			}
		}
		if !failed {
			_ = w.Flush()
		}
		_ = stdin.Close()
	}()
	go func() {
		defer wg.Done()
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), pipeMaxLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
		scanErr = sc.Err()
	}()
	stopped := false
	out := lines
	// take yields one output line if there is one; it reports false once
	// the consumer wants no more.
	take := func(l string, ok bool) bool {
		if !ok {
			out = nil // the command closed its output
			return true
		}
		if !yield(l) {
			stopped = true
		}
		return !stopped
	}
	err = r.iterate(ctx, tc, part, func(t T) bool {
		b := append(appendText(nil, t), '\n')
		for {
			select {
			case in <- b:
				return true
			case l, ok := <-out:
				if !take(l, ok) {
					return false
				}
			}
		}
	})
	close(in)
	for err == nil && !stopped && out != nil {
		l, ok := <-out
		take(l, ok)
	}
	if err != nil || stopped {
		cancel() // the input failed, or the consumer has all it needs
	}
	close(done)
	_, _ = io.Copy(io.Discard, stdout) // unblock a command still writing
	wg.Wait()
	waitErr := cmd.Wait()
	switch {
	case err != nil:
		return err
	case stopped:
		return nil
	case scanErr != nil:
		return fmt.Errorf("rdd: Pipe %q: reading its output: %w", name, scanErr)
	}
	if waitErr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return fmt.Errorf("rdd: Pipe %q in partition %d exited with status %d: %s", name, part, ee.ExitCode(), stderr.String())
		}
		return fmt.Errorf("rdd: Pipe %q in partition %d: %w", name, part, waitErr)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.buf))
	if s == "" {
		return "no standard error output"
	}
	return "standard error ends: " + strconv.Quote(s)
}
