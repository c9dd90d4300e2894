package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
)

// hostsFigures names the corpus TestHostsFigures measures; without it the
// test skips. bench/hosts.sh sets it.
const hostsFigures = "SLUICE_HOSTS_CORPUS"

// TestHostsFigures is a measurement, not a check of speed: wordcount and
// sortlines (bin/ builds of the examples) on one corpus, on four
// network-namespace hosts (a worker on each, the driver on the first,
// every packet between hosts through the hub's userspace relay) and on
// four workers on loopback, runs alternating so that a busy moment hits
// both alike. It prints the median of each and their ratio, and fails only
// if a run fails or the two clusters' outputs differ.
func TestHostsFigures(t *testing.T) {
	corpus := os.Getenv(hostsFigures)
	if corpus == "" {
		t.Skip(hostsFigures + " is not set: a measurement that bench/hosts.sh runs")
	}
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("SLUICE_HOSTS_RUNS")); err == nil && n > 0 {
		runs = n
	}
	bins := t.TempDir()
	build := exec.Command("go", "build", "-o", bins+"/", "./examples/wordcount", "./examples/sortlines")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hub, _ := hostCluster(t, 4, 4)
	loop := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 3})

	drive := map[string]func(bin, out string) *exec.Cmd{
		"hosts": func(bin, out string) *exec.Cmd {
			return hub.Hosts[0].Command(bin, append(driverArgs(hub, 4, "--output", out), corpus)...)
		},
		"loopback": func(bin, out string) *exec.Cmd {
			return exec.Command(bin, "--join", loop.Join, "--min-workers", "4", "--output", out, corpus)
		},
	}
	for _, job := range []string{"wordcount", "sortlines"} {
		bin := filepath.Join(bins, job)
		took := map[string][]time.Duration{}
		outs := map[string][]byte{}
		for range runs {
			for _, place := range []string{"hosts", "loopback"} {
				out := filepath.Join(t.TempDir(), place)
				d, err := timeRun(drive[place](bin, out))
				if err != nil {
					t.Fatalf("%s on %s: %v", job, place, err)
				}
				took[place] = append(took[place], d)
				outs[place] = concatParts(t, out)
				os.RemoveAll(out)
			}
			if !bytes.Equal(outs["hosts"], outs["loopback"]) {
				t.Fatalf("%s: the hosts' output (%d bytes) differs from loopback's (%d bytes)", job, len(outs["hosts"]), len(outs["loopback"]))
			}
		}
		h, l := median(took["hosts"]), median(took["loopback"])
		fmt.Printf("%s: 4 namespace hosts %.2f s, 4 workers on loopback %.2f s (medians of %d), hosts/loopback %.2f\n",
			job, h.Seconds(), l.Seconds(), runs, h.Seconds()/l.Seconds())
	}
}

// timeRun runs a driver to its end, within half an hour, and returns how
// long it took.
func timeRun(cmd *exec.Cmd) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var log bytes.Buffer
	cmd.Stderr = &log
	start := time.Now()
	if err := clustertest.RunContext(ctx, cmd); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, log.String())
	}
	return time.Since(start), nil
}

// concatParts returns the part files of dir concatenated in order.
func concatParts(t *testing.T, dir string) []byte {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil || len(parts) == 0 {
		t.Fatalf("no part files in %s (%v)", dir, err)
	}
	slices.Sort(parts)
	var all []byte
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
