package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChaos runs `sluice chaos` on wordcount for a few seeds: task workers
// are SIGKILLed or SIGTERMed mid-job, and the output must equal the
// fault-free run's.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	bin := sluice(t)
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 4, 150000, 4)
	for _, c := range []struct {
		signal string
		seed   int
	}{{"KILL", 1}, {"KILL", 2}, {"TERM", 3}} {
		t.Run(fmt.Sprintf("%s-seed%d", c.signal, c.seed), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			args := []string{"chaos", "--core", "1", "--task", "3", "--signal", c.signal, "--at", "30%,60%",
				"--seed", fmt.Sprint(c.seed), "--dir", filepath.Join(t.TempDir(), "chaos"), "--",
				os.Args[0], "-v", "--join", "{join}", "--min-workers", "1", "--output", "{output}"}
			cmd := exec.CommandContext(ctx, bin, append(args, paths...)...)
			// The driver is this test binary, run as wordcount; so are the
			// executors the workers start from it.
			cmd.Env = append(os.Environ(), asMain+"=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("sluice chaos did not finish:\n%s\n%s", stdout.String(), stderr.String())
			}
			if err != nil || !strings.Contains(stdout.String(), "outputs: identical") {
				t.Fatalf("sluice chaos: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			if strings.Contains(stdout.String(), "workers killed: 0") {
				t.Fatalf("the job ended before any worker was killed: make it longer\n%s", stdout.String())
			}
			t.Logf("\n%s", stdout.String())
		})
	}
}
