package driver_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/rdd"
)

// smallJob is a tiny job with a shuffle and a cached dataset: every run
// writes map outputs on the workers and fills executors' caches.
var smallJob = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
	data := make([]int, 12)
	for i := range data {
		data[i] = n + i
	}
	nums := rdd.Parallelize(data, rdd.Partitions(3)).Cache()
	pairs := rdd.Map(nums, func(x int) rdd.Pair[int, int] { return rdd.KV(x%4, x) })
	return rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(3))
})

// runSmallJob runs smallJob(n) and checks its answer: the sum of n to
// n+11.
func runSmallJob(ctx context.Context, s *driver.Session, n int) error {
	got, err := rdd.Collect(ctx, s, smallJob.Invoke(n))
	if err != nil {
		return err
	}
	total := 0
	for _, p := range got {
		total += p.Value
	}
	if want := 12*n + 66; total != want || len(got) != 4 {
		return fmt.Errorf("job %d: %d keys summing to %d, want 4 summing to %d", n, len(got), total, want)
	}
	return nil
}

// clusterSession opens a session on c, closed when the test ends.
func clusterSession(t *testing.T, c *clustertest.Cluster) *driver.Session {
	t.Helper()
	cfg := driver.DefaultConfig()
	cfg.LocalDir = t.TempDir()
	cfg.Join, cfg.MinWorkers, cfg.Wait = []string{c.Join}, len(c.Workers), time.Minute
	s, err := driver.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mapOutputGraphs returns the graphs whose map outputs a worker holds,
// from the names of its files (worker.MapOutputPaths).
func mapOutputGraphs(t *testing.T, w *clustertest.Worker) []int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(w.Dir, "apps", "*", "shuffle", "g*"))
	if err != nil {
		t.Fatal(err)
	}
	var graphs []int
	for _, f := range files {
		num, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "g"), "_")
		g, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("map output file %s", f)
		}
		if !slices.Contains(graphs, g) {
			graphs = append(graphs, g)
		}
	}
	slices.Sort(graphs)
	return graphs
}

// awaitCollected runs the collector until cond holds: a dropped lineage
// is forgotten once collected, and its files go soon after.
func awaitCollected(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !collected(time.Minute, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// collected runs the collector until cond holds or within passes.
func collected(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// A lineage the program dropped has its map outputs removed from every
// worker of the cluster; a lineage it holds keeps them.
func TestClusterForgetsDroppedLineages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	s := clusterSession(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keep := smallJob.Invoke(1000)
	if _, err := rdd.Count(ctx, s, keep); err != nil { // graph 1
		t.Fatal(err)
	}
	func() {
		if err := runSmallJob(ctx, s, 7); err != nil { // graph 2
			t.Fatal(err)
		}
	}()
	holders := 0
	for _, w := range c.Workers {
		if slices.Contains(mapOutputGraphs(t, w), 2) {
			holders++
		}
	}
	if holders < 2 {
		t.Fatalf("graph 2's map outputs are on %d workers, want them spread", holders)
	}
	awaitCollected(t, "the dropped lineage's map outputs to go from every worker", func() bool {
		for _, w := range c.Workers {
			if slices.Contains(mapOutputGraphs(t, w), 2) {
				return false
			}
		}
		return true
	})
	held := 0
	for _, w := range c.Workers {
		if slices.Equal(mapOutputGraphs(t, w), []int{1}) {
			held++
		}
	}
	if held == 0 {
		t.Fatal("the lineage still held lost its map outputs")
	}
	// Still held, still usable: a second action reads its map outputs.
	before := s.Metrics().Tasks
	if _, err := rdd.Count(ctx, s, keep); err != nil {
		t.Fatal(err)
	}
	if ran := s.Metrics().Tasks - before; ran != int64(keep.NumPartitions()) {
		t.Fatalf("a second job on the held lineage ran %d tasks, want %d (result tasks only)", ran, keep.NumPartitions())
	}
	runtime.KeepAlive(keep)
}

// usage is what a long-running driver and its cluster hold at one moment.
type usage struct {
	heap       uint64 // the driver's heap in use after a collection
	goroutines int    // the driver's
	fds        int    // the driver's open descriptors
	workerFDs  []int  // each worker's and each executor's, by process
	workerRSS  []int64
	disk       []int64 // bytes of files under each worker's --dir
	files      []int   // files under it
}

func (u usage) String() string {
	return fmt.Sprintf("heap %.1f MiB, %d goroutines, %d fds; worker and executor fds %v, RSS %v KiB; worker disk %v bytes in %v files",
		float64(u.heap)/(1<<20), u.goroutines, u.fds, u.workerFDs, u.workerRSS, u.disk, u.files)
}

func openFDs(t *testing.T, pid string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", pid, "fd"))
	if err != nil {
		t.Fatalf("counting descriptors of %s: %v", pid, err)
	}
	return len(ents)
}

// rssKiB reads a process's resident set size, reported for the record:
// it follows the collector's timing too closely to assert on.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// diskUse sums the sizes of the files under dir and counts them.
func diskUse(t *testing.T, dir string) (n int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, files
}

// measure waits until every dropped lineage is forgotten (no worker holds
// a map output), or 20 s, and reads the driver's and workers' usage.
func measure(t *testing.T, c *clustertest.Cluster) usage {
	t.Helper()
	if !collected(20*time.Second, func() bool {
		for _, w := range c.Workers {
			if len(mapOutputGraphs(t, w)) > 0 {
				return false
			}
		}
		return true
	}) {
		t.Log("map outputs of dropped lineages are still on the workers")
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u := usage{heap: ms.HeapInuse, goroutines: runtime.NumGoroutine(), fds: openFDs(t, "self")}
	for _, w := range c.Workers {
		for _, pid := range append([]int{w.PID()}, w.ExecutorPIDs()...) {
			u.workerFDs = append(u.workerFDs, openFDs(t, strconv.Itoa(pid)))
			u.workerRSS = append(u.workerRSS, rssKiB(t, pid))
		}
		n, files := diskUse(t, w.Dir)
		u.disk, u.files = append(u.disk, n), append(u.files, files)
	}
	return u
}

// A driver that runs job after job (a service submitting work all day)
// holds no more after job 1,000 than after job 100: heap, goroutines and
// descriptors of the driver, descriptors of each worker and executor, and
// each worker's disk. The 1,000 jobs take about 5 s, 15 s under the race
// detector, on a 2-core machine.
func TestClusterThousandJobsStayFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	const jobs = 1000
	c := clustertest.Start(t, sluice(t), clustertest.Options{Core: 1, Task: 2})
	s := clusterSession(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var base usage
	start := time.Now()
	for n := 1; n <= jobs; n++ {
		if err := runSmallJob(ctx, s, n); err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
		if n == 100 {
			base = measure(t, c)
			t.Logf("after job %d (%v): %v", n, time.Since(start).Round(time.Millisecond), base)
		}
	}
	end := measure(t, c)
	t.Logf("after job %d (%v): %v", jobs, time.Since(start).Round(time.Millisecond), end)

	if end.heap > base.heap+4<<20 {
		t.Errorf("driver heap grew from %d to %d bytes", base.heap, end.heap)
	}
	if end.goroutines > base.goroutines+20 {
		t.Errorf("driver goroutines grew from %d to %d", base.goroutines, end.goroutines)
	}
	if end.fds > base.fds+20 {
		t.Errorf("driver descriptors grew from %d to %d", base.fds, end.fds)
	}
	if len(end.workerFDs) != len(base.workerFDs) {
		t.Fatalf("processes went from %d to %d: executors restarted", len(base.workerFDs), len(end.workerFDs))
	}
	for i := range end.workerFDs {
		if end.workerFDs[i] > base.workerFDs[i]+20 {
			t.Errorf("process %d of the cluster: descriptors grew from %d to %d", i, base.workerFDs[i], end.workerFDs[i])
		}
	}
	for i := range end.disk {
		if end.disk[i] > base.disk[i]+4<<10 || end.files[i] > base.files[i] {
			t.Errorf("worker %d: disk use grew from %d bytes in %d files to %d in %d", i, base.disk[i], base.files[i], end.disk[i], end.files[i])
		}
	}
}
