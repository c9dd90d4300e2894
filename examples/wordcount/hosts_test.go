package main

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/rdd"
)

// Tests across separate network hosts (namespaces joined by the hub of
// clustertest.Hosts): a worker on each host, the driver on the first
// (beside the core worker), faults on the last.

// hostCluster makes n hosts and starts a worker on each of the first
// workers: the first core, the others task. Every worker joins the first.
func hostCluster(t *testing.T, n, workers int) (*clustertest.Hub, []*clustertest.Worker) {
	t.Helper()
	hub := clustertest.Hosts(t, n)
	bin := sluice(t)
	var ws []*clustertest.Worker
	for k, h := range hub.Hosts[:workers] {
		role, join := "core", ""
		if k > 0 {
			role, join = "task", hub.Join()
		}
		ws = append(ws, h.StartWorker(t, bin, role, join))
	}
	return hub, ws
}

// driverArgs are the flags of a driver on the hub's cluster that waits for
// workers workers.
func driverArgs(hub *clustertest.Hub, workers int, more ...string) []string {
	return append([]string{"-v", "--join", hub.Join(), "--min-workers", strconv.Itoa(workers), "--secret-file", hub.Secret}, more...)
}

// startOn starts this test binary as a driver on host h with env (one
// VAR=value, or several separated by newlines) and args, killed by PID
// when ctx ends (and by the hub's cleanup).
func startOn(t *testing.T, ctx context.Context, h *clustertest.Host, env string, args ...string) (*syncLog, chan error) {
	t.Helper()
	cmd := h.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), strings.Split(env, "\n")...)
	var log syncLog
	cmd.Stderr = &log
	exited := make(chan error, 1)
	go func() { exited <- clustertest.RunContext(ctx, cmd) }()
	return &log, exited
}

// runOn runs a driver on h to its end within limit and returns its log and
// how long it took; the test fails if it does not end in time.
func runOn(t *testing.T, limit time.Duration, h *clustertest.Host, env string, args ...string) (string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	log, exited := startOn(t, ctx, h, env, args...)
	err := <-exited
	if ctx.Err() != nil {
		t.Fatalf("the driver on %s did not finish within %v:\n%s", h.Name, limit, log.String())
	}
	return log.String(), time.Since(start), err
}

// workersUsed returns the workers that ran tasks and how many, "name:n"
// each, from the driver's --job-summary.
func workersUsed(t *testing.T, summary string) string {
	t.Helper()
	var used []string
	for w, n := range readSummary(t, summary).TasksByWorker {
		used = append(used, fmt.Sprintf("%s:%d", w, n))
	}
	slices.Sort(used)
	return strings.Join(used, " ")
}

// manyKeysCorpus writes files of words drawn from keys distinct words.
func manyKeysCorpus(t *testing.T, dir string, files, words, keys int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 11))
	var paths []string
	for i := range files {
		var b strings.Builder
		for j := range words {
			fmt.Fprintf(&b, "k%d", rng.IntN(keys))
			if j%12 == 11 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("keys-%d.txt", i))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// asShuffle runs a shuffle-heavy count instead of wordcount: every word
// crosses the shuffle (GroupByKey, no map-side combining). The variable
// holds "MAPS,REDUCES": at least MAPS input splits, REDUCES reduce
// partitions. Its output is wordcount's.
const asShuffle = "SLUICE_WORDCOUNT_SHUFFLE"

// asShuffleGate, with asShuffle, makes each reduce task of the
// shuffle-heavy job create GATE.started and then wait for the file GATE
// before it reads its input: a job that stays in its reduce stage until
// the test lets it go on.
const asShuffleGate = "SLUICE_WORDCOUNT_SHUFFLE_GATE"

type shuffleArgs struct {
	Paths         []string
	Maps, Reduces int
	Gate          string
}

var shuffleCount = rdd.Func(func(a shuffleArgs) *rdd.RDD[rdd.Pair[string, int64]] {
	lines := rdd.TextFileWith(rdd.TextOptions{MinPartitions: a.Maps}, a.Paths...)
	words := rdd.FlatMap(lines, func(line string, emit func(rdd.Pair[string, bool])) {
		for w := range strings.FieldsSeq(line) {
			emit(rdd.KV(w, true))
		}
	})
	groups := rdd.GroupByKey(words, rdd.Partitions(a.Reduces))
	counts := rdd.MapValues(groups, func(vs []bool) int64 { return int64(len(vs)) })
	if a.Gate == "" {
		return counts
	}
	return rdd.MapPartitions(counts, func(_ int, in iter.Seq[rdd.Pair[string, int64]]) iter.Seq[rdd.Pair[string, int64]] {
		return func(yield func(rdd.Pair[string, int64]) bool) {
			os.WriteFile(a.Gate+".started", nil, 0o644)
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(a.Gate); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond) // a task's work: wait for the gate
			}
			for p := range in {
				if !yield(p) {
					return
				}
			}
		}
	})
})

func runShuffle(shape string) {
	driver.Main(func(ctx context.Context, s *driver.Session) error {
		a := shuffleArgs{Paths: pflag.Args(), Gate: os.Getenv(asShuffleGate)}
		if _, err := fmt.Sscanf(shape, "%d,%d", &a.Maps, &a.Reduces); err != nil {
			return fmt.Errorf("%s=%q: want MAPS,REDUCES", asShuffle, shape)
		}
		return rdd.SaveAsTextFile(ctx, s, shuffleCount.Invoke(a), *output)
	})
}

// TestHostsWordCount: wordcount across four hosts, a worker on each and
// the driver on the first, gives local mode's output; and a shuffle-heavy
// job (every one of 100,000 records through the shuffle, 30,000 keys, 8
// map and 12 reduce partitions) gives the right counts in 12 part files,
// with tasks on every host.
func TestHostsWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	hub, ws := hostCluster(t, 4, 4)
	dir := t.TempDir()
	paths := writeCorpus(t, dir, 4, 60000, 21)

	local := filepath.Join(dir, "local")
	if r := runWithin(t, time.Minute, append([]string{"--output", local}, paths...)...); r.code != 0 {
		t.Fatalf("local mode: exit %d: %s", r.code, r.stderr)
	}
	out, sum := filepath.Join(dir, "out"), jobSummary(t)
	log, took, err := runOn(t, time.Minute, hub.Hosts[0], asMain+"=1", append(driverArgs(hub, 4, "--job-summary", sum, "--output", out), paths...)...)
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, log)
	}
	t.Logf("wordcount across 4 hosts: %v", took)
	equalCounts(t, readOutput(t, out), readOutput(t, local))
	equalCounts(t, readOutput(t, out), naiveCount(t, paths...))
	if used := workersUsed(t, sum); strings.Count(used, ":7946:") < 2 {
		t.Errorf("tasks ran on %s; want them spread over the hosts", used)
	}

	keys := manyKeysCorpus(t, dir, 4, 25000, 30000, 22)
	out, sum = filepath.Join(dir, "shuffle"), jobSummary(t)
	log, took, err = runOn(t, time.Minute, hub.Hosts[0], asShuffle+"=8,12", append(driverArgs(hub, 4, "--job-summary", sum, "--output", out), keys...)...)
	if err != nil {
		t.Fatalf("shuffle-heavy driver: %v\n%s", err, log)
	}
	t.Logf("shuffle-heavy job across 4 hosts: %v", took)
	equalCounts(t, readOutput(t, out), naiveCount(t, keys...))
	if parts, _ := filepath.Glob(filepath.Join(out, "part-*")); len(parts) != 12 {
		t.Errorf("%d part files, want one per reduce partition (12)", len(parts))
	}
	used := workersUsed(t, sum)
	for _, w := range ws {
		if !strings.Contains(used, w.Addr+":") {
			t.Errorf("no task ran on %s: %s", w.Addr, used)
		}
	}
}

// TestHostsDegradedHost: 30% packet loss on one host (each way), and
// separately 200 ms of delay on it (each way), slow a shuffle-heavy job
// across four hosts but never break it: the output is right, and the job
// takes at most lossBound (delayBound) times as long as the same job
// fault-free on the same hosts.
func TestHostsDegradedHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	hub, _ := hostCluster(t, 4, 4)
	dir := t.TempDir()
	paths := manyKeysCorpus(t, dir, 4, 100000, 20000, 31)
	want := naiveCount(t, paths...)
	// job runs the shuffle-heavy job from the driver on the first host;
	// once the job is submitted (every worker ready) it calls fault.
	job := func(name string, fault func()) time.Duration {
		t.Helper()
		out := filepath.Join(dir, name)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		log, exited := startOn(t, ctx, hub.Hosts[0], asShuffle+"=8,8", append(driverArgs(hub, 4, "--output", out), paths...)...)
		awaitLog(t, log, exited, "job submitted")
		fault()
		err := <-exited
		took := time.Since(start)
		if ctx.Err() != nil {
			t.Fatalf("%s: the driver did not finish within 2 minutes:\n%s", name, log.String())
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, log.String())
		}
		equalCounts(t, readOutput(t, out), want)
		return took
	}
	job("warm-up", func() {}) // every worker caches the binary
	base := job("fault-free", func() {})
	victim := hub.Hosts[3]
	for _, c := range []struct {
		name   string
		faults clustertest.Faults
		bound  float64
	}{
		{"30% loss", clustertest.Faults{Drop: 0.3}, lossBound},
		{"200ms delay", clustertest.Faults{Delay: 200 * time.Millisecond}, delayBound},
	} {
		before := victim.Stats()
		took := job(strings.ReplaceAll(c.name, " ", "-"), func() { victim.SetFaults(c.faults) })
		victim.SetFaults(clustertest.Faults{})
		after := victim.Stats()
		t.Logf("%s on %s: %v against %v fault-free (%.1f×); %d packets sent by it, %d dropped",
			c.name, victim.Name, took, base, took.Seconds()/base.Seconds(), after.Sent-before.Sent, after.Dropped-before.Dropped)
		if took.Seconds() > c.bound*base.Seconds() {
			t.Errorf("%s on one host: the job took %v, over %g× its fault-free %v", c.name, took, c.bound, base)
		}
	}
}

// How much longer the job may take with one host degraded than without.
// The faults start once the job is submitted; the fault-free job takes
// 4.5-6.5 s here (2-core VM, -race), most of it starting processes.
//
// 200 ms each way adds about 2 s: a few round trips to start the host's
// tasks and fetch its outputs (1.4-2.0× measured; 3.0-3.2× before reducers
// fetched ahead in parallel, when each of a reducer's fetches from or on
// the slow host cost its own handshakes).
//
// 30% loss each way loses half of all round trips with the host, and TCP's
// retransmission timeouts double on each loss of the same segment, so a
// fetch from or to it occasionally stalls for many seconds: the stalled
// fetch fails after the 5 s idle timeout and its map output is recomputed
// elsewhere in milliseconds. 1.9-4.0× measured (median 2.6× over 10
// runs); 3.4-6.2× (median 5.9×), and failed jobs, before (sequential
// fetches, a minute's idle timeout on small outputs, a response wait
// bounded only by the task's hour). The bound leaves room for the tail.
const (
	delayBound = 3
	lossBound  = 5
)

// awaitCount polls a driver's log until it holds want n times.
func awaitCount(t *testing.T, log *syncLog, exited chan error, want string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for strings.Count(log.String(), want) < n {
		select {
		case err := <-exited:
			t.Fatalf("driver ended (%v) before logging %q %d times:\n%s", err, want, n, log.String())
		case <-deadline:
			t.Fatalf("driver did not log %q %d times within %v:\n%s", want, n, limit, log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// gatedJob starts the shuffle-heavy job with a gate on host h and waits
// for its reduce stage to start; it returns the gate to open.
func gatedJob(t *testing.T, ctx context.Context, h *clustertest.Host, args ...string) (string, *syncLog, chan error) {
	t.Helper()
	gate := filepath.Join(t.TempDir(), "gate")
	log, exited := startOn(t, ctx, h, asShuffle+"=8,8\n"+asShuffleGate+"="+gate, args...)
	pollUntil(t, "the reduce stage to start", func() bool {
		_, err := os.Stat(gate + ".started")
		return err == nil
	})
	return gate, log, exited
}

// finish opens a gated job's gate and waits for its driver to succeed.
func finish(t *testing.T, gate string, log *syncLog, exited chan error) {
	t.Helper()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("driver: %v\n%s", err, log.String())
	}
}

// TestHostsLinkDown: a host whose link goes down in the reduce stage
// (after it wrote map outputs and while it runs reducers) is declared
// lost, and the job finishes with the right output without it. Then the
// host comes back, its worker still running and holding the first job's
// outputs: a second job uses it, and when it is cut off and heals again
// within that job (its reducers, recorded as lost, now able to reach the
// driver and ask to commit), the output is still exactly right: every
// word once, with its count, and no _temporary left.
func TestHostsLinkDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	hub, ws := hostCluster(t, 4, 4)
	dir := t.TempDir()
	paths := manyKeysCorpus(t, dir, 4, 40000, 20000, 41)
	want := naiveCount(t, paths...)
	victim, vw := hub.Hosts[3], ws[3]
	lost := `msg="worker lost" worker=` + vw.Addr
	ready := `msg="worker ready" worker=` + vw.Addr

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out1 := filepath.Join(dir, "out1")
	gate, log, exited := gatedJob(t, ctx, hub.Hosts[0], append(driverArgs(hub, 4, "--output", out1), paths...)...)
	victim.LinkDown(t)
	cut := time.Now()
	awaitCount(t, log, exited, lost, 1, 30*time.Second)
	t.Logf("host cut off: declared lost after %v", time.Since(cut))
	finish(t, gate, log, exited)
	equalCounts(t, readOutput(t, out1), want)

	victim.LinkUp(t)
	out2 := filepath.Join(dir, "out2")
	gate, log, exited = gatedJob(t, ctx, hub.Hosts[0], append(driverArgs(hub, 4, "--output", out2), paths...)...)
	victim.LinkDown(t)
	awaitCount(t, log, exited, lost, 1, 30*time.Second)
	victim.LinkUp(t)
	healed := time.Now()
	awaitCount(t, log, exited, ready, 2, 30*time.Second)
	t.Logf("host healed: ready again after %v", time.Since(healed))
	finish(t, gate, log, exited)
	equalCounts(t, readOutput(t, out2), want)
	if vw.ExitCode() != -1 {
		t.Fatalf("the cut-off worker exited:\n%s", vw.Log())
	}
}

// TestHostsDriverIsolated: a partition that cuts the driver's host off
// from every worker (the driver alone on its host, four workers on the
// others) fails the job within isolatedBound, with one message that says
// the driver lost its workers.
func TestHostsDriverIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	hub := clustertest.Hosts(t, 5)
	bin := sluice(t)
	join := hub.Hosts[1].Addr()
	for k, h := range hub.Hosts[1:] {
		role, j := "core", ""
		if k > 0 {
			role, j = "task", join
		}
		h.StartWorker(t, bin, role, j)
	}
	dir := t.TempDir()
	paths := manyKeysCorpus(t, dir, 4, 20000, 5000, 51)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-v", "--join", join, "--min-workers", "4", "--wait", "10s", "--secret-file", hub.Secret, "--output", filepath.Join(dir, "out")}
	_, log, exited := gatedJob(t, ctx, hub.Hosts[0], append(args, paths...)...)
	hub.Hosts[0].SetFaults(clustertest.Faults{Cut: true})
	cut := time.Now()
	var err error
	select {
	case err = <-exited:
	case <-time.After(isolatedBound):
		t.Fatalf("the isolated driver still ran %v after the cut:\n%s", isolatedBound, log.String())
	}
	took := time.Since(cut)
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	last := lines[len(lines)-1]
	t.Logf("the isolated driver ended %v after the cut: %v: %s", took, err, last)
	if err == nil {
		t.Fatalf("the isolated driver's job succeeded:\n%s", log.String())
	}
	if !strings.Contains(last, "no worker could take tasks") || !strings.Contains(last, "workers lost") {
		t.Fatalf("the last line does not say that the driver lost its workers: %q", last)
	}
	// The workers gossip declared failed by then; one whose executor was
	// found frozen just before may not be among them yet.
	named := 0
	for _, h := range hub.Hosts[1:] {
		if strings.Contains(last, h.Addr()) {
			named++
		}
	}
	if named == 0 {
		t.Errorf("the message names none of the lost workers: %q", last)
	}
}

// isolatedBound is how soon a driver cut off from every worker must give
// up: gossip declares a member failed within about 10 s when a node is cut
// off from all its peers (SuspicionMaxTimeoutMult), and an executor that
// misses heartbeats for 10 s is frozen; then the driver waits --wait (10 s
// here) for a worker to come back. 20 s of slack for a loaded machine.
const isolatedBound = 50 * time.Second
