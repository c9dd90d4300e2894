package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

// Tests with inputs and outputs only in object storage: a real S3 server
// (versitygw), on loopback or on a host of its own among namespace hosts.

// putCorpus uploads the files to prefix (ending in "/") by their base
// names.
func putCorpus(t *testing.T, ctx context.Context, st objstore.Store, prefix string, paths []string) {
	t.Helper()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, prefix+filepath.Base(p), b); err != nil {
			t.Fatal(err)
		}
	}
}

// readObjectOutput checks that dir is exactly one committed job's output
// (a _SUCCESS manifest matching its parts, no uncompleted upload left)
// and returns its counts, each word once.
func readObjectOutput(t *testing.T, ctx context.Context, st objstore.Store, dir string) map[string]int {
	t.Helper()
	m, err := commit.CheckObjects(ctx, st, dir, -1)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, part := range m.Parts {
		info, err := st.Stat(ctx, objstore.Dir(dir)+part.Name)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		if info.Size > 0 {
			if b, err = io.ReadAll(objstore.OpenRange(ctx, st, info, 0, info.Size)); err != nil {
				t.Fatal(err)
			}
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			if len(b) == 0 {
				break
			}
			i := strings.LastIndexByte(line, '\t')
			var n int
			if _, err := fmt.Sscan(line[i+1:], &n); i < 0 || err != nil {
				t.Fatalf("%s: bad line %q", part.Name, line)
			}
			if _, dup := counts[line[:i]]; dup {
				t.Fatalf("word %q appears in more than one line", line[:i])
			}
			counts[line[:i]] = n
		}
	}
	return counts
}

// TestS3Chaos: `sluice chaos` with the input and both outputs on an S3
// server: task nodes killed mid-job (SIGKILL, then SIGTERM), and each
// output is exactly one committed job's, every part once, with its
// _SUCCESS manifest and no uncompleted upload, and the right counts.
func TestS3Chaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := s3test.Start(t)
	srv.Setenv(t)
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	in, out := srv.Bucket(t, "input"), srv.Bucket(t, "output")
	bin := sluice(t)
	paths := writeCorpus(t, t.TempDir(), 4, 150000, 5)
	want := naiveCount(t, paths...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	putCorpus(t, ctx, st, in+"corpus/", paths)
	for _, c := range []struct {
		signal string
		seed   int
	}{{"KILL", 1}, {"TERM", 3}} {
		t.Run(fmt.Sprintf("%s-seed%d", c.signal, c.seed), func(t *testing.T) {
			base := fmt.Sprintf("%s%s-%d/", out, c.signal, c.seed)
			args := []string{"chaos", "--core", "1", "--task", "3", "--signal", c.signal, "--at", "30%,60%",
				"--seed", fmt.Sprint(c.seed), "--output-base", base, "--",
				os.Args[0], "-v", "--join", "{join}", "--min-workers", "1", "--output", "{output}", in + "corpus/"}
			rctx, rcancel := context.WithTimeout(ctx, 4*time.Minute)
			defer rcancel()
			cmd := exec.CommandContext(rctx, bin, args...)
			cmd.Env = append(os.Environ(), asMain+"=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if rctx.Err() != nil {
				t.Fatalf("sluice chaos did not finish:\n%s\n%s", stdout.String(), stderr.String())
			}
			if err != nil || !strings.Contains(stdout.String(), "outputs: identical") {
				t.Fatalf("sluice chaos: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			if strings.Contains(stdout.String(), "workers killed: 0") {
				t.Fatalf("the job ended before any worker was killed: make it longer\n%s", stdout.String())
			}
			t.Logf("\n%s", stdout.String())
			for _, run := range []string{"fault-free-output", "chaos-output"} {
				equalCounts(t, readObjectOutput(t, ctx, st, base+run), want)
			}
		})
	}
	if ups, err := st.ListUploads(ctx, out, 0); err != nil || len(ups) != 0 {
		t.Fatalf("uploads left in the output bucket: %+v %v", ups, err)
	}
}

// TestHostsS3WordCount: wordcount across four namespace hosts (a worker
// on each, the driver beside the core worker) with its input and output
// only on an S3 server on a fifth host, equals the reference count; then
// the shuffle-heavy job, with a task host cut off in its reduce stage,
// still writes exactly one committed output with the right counts.
func TestHostsS3WordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	bin, err := s3test.Binary()
	if err != nil {
		s3test.SkipOrFail(t, err)
	}
	hub := clustertest.Hosts(t, 5)
	ws := make([]*clustertest.Worker, 4)
	sb := sluice(t)
	for k, h := range hub.Hosts[:4] {
		role, join := "core", ""
		if k > 0 {
			role, join = "task", hub.Join()
		}
		ws[k] = h.StartWorker(t, sb, role, join)
	}
	s3host := hub.Hosts[4]
	srv := s3test.StartWith(t, bin, s3test.Options{Host: s3host.IP, Port: 9000, Command: s3host.Command, Dial: s3host.Dial})
	srv.Setenv(t)
	// This process reaches the server from inside its host.
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{Dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return s3host.Dial(addr, 10*time.Second)
	}})
	if err != nil {
		t.Fatal(err)
	}
	in, out := srv.Bucket(t, "input"), srv.Bucket(t, "output")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	paths := writeCorpus(t, dir, 4, 60000, 23)
	putCorpus(t, ctx, st, in+"words/", paths)
	env := strings.Join(append([]string{asMain + "=1"}, srv.Env()...), "\n")
	log, took, err := runOn(t, time.Minute, hub.Hosts[0], env, append(driverArgs(hub, 4, "--output", out+"wc"), in+"words/")...)
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, log)
	}
	t.Logf("wordcount across 4 hosts through S3: %v", took)
	equalCounts(t, readObjectOutput(t, ctx, st, out+"wc"), naiveCount(t, paths...))

	keys := manyKeysCorpus(t, dir, 4, 40000, 20000, 43)
	putCorpus(t, ctx, st, in+"keys/", keys)
	victim, vw := hub.Hosts[3], ws[3]
	gate := filepath.Join(t.TempDir(), "gate")
	env = strings.Join(append([]string{asShuffle + "=8,8", asShuffleGate + "=" + gate}, srv.Env()...), "\n")
	glog, exited := startOn(t, ctx, hub.Hosts[0], env, append(driverArgs(hub, 4, "--output", out+"cut"), in+"keys/")...)
	pollUntil(t, "the reduce stage to start", func() bool {
		_, err := os.Stat(gate + ".started")
		return err == nil
	})
	victim.LinkDown(t)
	awaitCount(t, glog, exited, `msg="worker lost" worker=`+vw.Addr, 1, 30*time.Second)
	finish(t, gate, glog, exited)
	equalCounts(t, readObjectOutput(t, ctx, st, out+"cut"), naiveCount(t, keys...))
}

// TestS3CrashedDriver: a driver killed (SIGKILL) while its reducers hold
// uploads to its s3:// output leaves them uncompleted; the next run on the
// same output aborts them and commits exactly one output, with no upload
// left.
func TestS3CrashedDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := s3test.Start(t)
	srv.Setenv(t)
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	in, out := srv.Bucket(t, "input"), srv.Bucket(t, "output")
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	keys := manyKeysCorpus(t, t.TempDir(), 4, 20000, 5000, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	putCorpus(t, ctx, st, in+"keys/", keys)
	args := []string{"-v", "--join", c.Join, "--min-workers", "3", "--output", out + "counts", in + "keys/"}

	gate := filepath.Join(t.TempDir(), "gate")
	dctx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := exec.CommandContext(dctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asShuffle+"=8,8", asShuffleGate+"="+gate)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log syncLog
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pollUntil(t, "the reduce stage to start", func() bool {
		_, err := os.Stat(gate + ".started")
		return err == nil
	})
	var ups []objstore.Upload
	pollUntil(t, "reducers' uploads", func() bool {
		ups, _ = st.ListUploads(ctx, out, 0)
		return len(ups) > 0
	})
	kill() // SIGKILL, by PID
	if err := <-exited; err == nil {
		t.Fatalf("the killed driver exited 0:\n%s", log.String())
	}
	if ups, _ := st.ListUploads(ctx, out, 0); len(ups) == 0 {
		t.Fatal("the killed driver left no upload: this test shows nothing")
	}
	t.Logf("the killed driver left %d uploads", len(ups))

	r := runWithin(t, 2*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("the second run: exit %d: %s", r.code, r.stderr)
	}
	equalCounts(t, readObjectOutput(t, ctx, st, out+"counts"), naiveCount(t, keys...))
	// Reducers of the killed run still waiting at the gate go on, and find
	// no driver to commit to: their uploads go too.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the killed run's reducers to abort their uploads", func() bool {
		ups, err := st.ListUploads(ctx, out, 0)
		return err == nil && len(ups) == 0
	})
}
