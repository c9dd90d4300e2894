package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
)

// fullTmpfs mounts a small tmpfs at dir for the test, puts this test
// binary in its binary cache (as an earlier upload would have), and fills
// the rest, so that every write of a shuffle file fails with ENOSPC. It
// skips the test where tmpfs cannot be mounted.
func fullTmpfs(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	os.MkdirAll(dir, 0o755)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	size := len(self) + 4<<20
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size)+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	sum := sha256.Sum256(self)
	bin := filepath.Join(dir, "bin", hex.EncodeToString(sum[:]))
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestClusterFullDisk: one task worker's --dir is full (a tmpfs), with its
// low-disk check off so that tasks are placed there and fail with ENOSPC.
// Those are machine failures: not counted against the tasks, the worker is
// excluded after two, and the job finishes on the other workers with the
// right counts.
func TestClusterFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	full := filepath.Join(t.TempDir(), "full")
	fullTmpfs(t, full)
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 1})
	c.AddAt(t, "task", full, "--min-free-disk", "0", "--slots", "4")
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 8, 40000, 6)
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log, exited := startDriver(t, ctx, asMain+"=1", append([]string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out}, paths...)...)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the job failed with one worker's disk full: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("the driver hung:\n%s", log.String())
	}
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
}
