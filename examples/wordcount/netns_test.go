package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/trust"
)

// TestTwoHosts runs a cluster across two network namespaces (two hosts on
// one link): both workers listen on every interface at the same port, and
// the driver runs with the default --listen on the second host. The
// workers must get distinct names and routable addresses, and the driver
// must advertise an address the workers can reach, not a wildcard: the
// job needs both workers (--min-workers 2) and its result tasks must reach
// the driver to commit.
func TestTwoHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	a, b := clustertest.NetnsPair(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := trust.WriteSecretFile(secret, [][]byte{[]byte(trust.NewSecret())}, false); err != nil {
		t.Fatal(err)
	}
	bin := sluice(t)
	join := a.IP + ":7946"
	for i, ns := range []*clustertest.Netns{a, b} {
		args := []string{"worker", "--listen", "0.0.0.0:7946", "--secret-file", secret, "--slots", "2", "--dir", filepath.Join(dir, ns.Name)}
		if i == 1 {
			args = append(args, "--join", join)
		}
		cmd := ns.Command(bin, args...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("worker in %s:\n%s", ns.Name, log.String())
			}
		})
		ns.AwaitListening(t, ns.IP+":7946", 30*time.Second, exited)
	}

	paths := writeCorpus(t, dir, 3, 20000, 5)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := b.Command(os.Args[0], append([]string{"--join", join, "--min-workers", "2", "--wait", "30s", "--secret-file", secret, "--output", out}, paths...)...)
	cmd.Env = append(os.Environ(), asMain+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := clustertest.RunContext(ctx, cmd); err != nil {
		t.Fatalf("driver on the second host: %v\n%s", err, stderr.String())
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
}
