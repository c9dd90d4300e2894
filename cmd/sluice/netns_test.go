package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/trust"
)

// TestWorkerOffLoopbackNeedsASecret: on a host address that is not
// loopback (a network namespace's), a worker without a secret does not
// start and says what to give; with a secret, or with --insecure, it does.
func TestWorkerOffLoopbackNeedsASecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	n, _ := clustertest.NetnsPair(t)
	listen := n.IP + ":7946"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := trust.WriteSecretFile(secretFile, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := n.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), asMain+"=1")
		return cmd
	}

	for _, args := range [][]string{
		{"worker", "--listen", listen},
		{"worker", "--listen", "0.0.0.0:7946"},
		{"worker", "--listen", "127.0.0.1:7946", "--advertise", listen},
	} {
		cmd := command(append(args, "--dir", t.TempDir())...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := clustertest.RunContext(ctx, cmd)
		cancel()
		msg := strings.TrimSpace(stderr.String())
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%v without a secret: %v, want exit status 2; stderr:\n%s", args, err, msg)
		}
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "--secret-file") || !strings.Contains(msg, "--insecure") {
			t.Errorf("%v: want one line naming --secret-file and --insecure, got:\n%s", args, msg)
		}
	}

	for _, extra := range [][]string{{"--secret-file", secretFile}, {"--insecure"}} {
		cmd := command(append([]string{"worker", "--listen", listen, "--dir", t.TempDir()}, extra...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		n.AwaitListening(t, listen, 30*time.Second, exited)
		cmd.Process.Kill()
		<-exited
	}
}
