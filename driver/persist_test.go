package driver

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// ckSumsF is sumsF with its ReduceByKey checkpointed: n map tasks, then 3
// reduce partitions written to the checkpoint directory.
var ckSumsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
	data := make([]int, 8*n)
	for i := range data {
		data[i] = i
	}
	pairs := rdd.Map(rdd.Parallelize(data, rdd.Partitions(n)), func(x int) rdd.Pair[int, int] { return rdd.KV(x%5, x) })
	sums := rdd.ReduceByKey(pairs, func(a, b int) int { return a + b }, rdd.Partitions(3)).Checkpoint()
	return rdd.Filter(sums, func(rdd.Pair[int, int]) bool { return true })
})

// A checkpoint outlives every worker that computed it: after both are
// gone, the next job reads the checkpoint on a worker that joined since,
// and recomputes no map task, where without the checkpoint it would rerun
// all of them (TestClusterWorkerJoinedAndLost).
func TestClusterCheckpointSurvivesLosingEveryWorker(t *testing.T) {
	cfg := testConfig()
	cfg.CheckpointDir = t.TempDir()
	s, lc := clusterSession(t, cfg, []string{worker.RoleTask, worker.RoleTask}, 2)
	r := ckSumsF.Invoke(6)
	collectSums(t, s, r, 6)
	g, err := task.GraphOf(r)
	if err != nil {
		t.Fatal(err)
	}
	checkpointed := 0
	for _, n := range g.Nodes() {
		if n.Checkpointed {
			checkpointed++
			if len(n.Deps) != 0 {
				t.Fatalf("the checkpointed node keeps its parents: %+v", n)
			}
		}
	}
	if checkpointed != 1 {
		t.Fatalf("%d nodes checkpointed, want 1", checkpointed)
	}

	fresh, err := lc.startDaemon(worker.RoleCore, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new worker", func() bool { return lc.ready() == 3 })
	first := lc.daemons[:2]
	for _, d := range first {
		stopDaemon(t, d)
	}
	waitFor(t, "the driver to withdraw both workers that computed the checkpoint", func() bool { return lc.ready() == 1 })
	before := s.Metrics().Tasks
	collectSums(t, s, r, 6)
	m := s.Metrics()
	if m.TasksRecomputed != 0 {
		t.Fatalf("%d map tasks recomputed: the job ran the lineage below the checkpoint", m.TasksRecomputed)
	}
	if ran := m.Tasks - before; ran != 3 {
		t.Fatalf("the job after losing the workers ran %d tasks, want the 3 that read the checkpoint", ran)
	}
	if m.TasksByWorker[fresh.d.Status().Name] != 3 {
		t.Fatalf("tasks by worker %v: the new worker should have run all 3", m.TasksByWorker)
	}
}

var diskSumsF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[int, int]] {
	return sumsF.Invoke(n).Persist(rdd.DiskOnly)
})

// persistedOn counts the persisted partition files on a worker.
func persistedOn(t *testing.T, d *runningDaemon, app string) int {
	t.Helper()
	n := 0
	root := filepath.Join(d.d.Status().Disk.Dir, "apps", app, "cache")
	_ = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !strings.Contains(e.Name(), ".tmp-") {
			n++
		}
		return nil
	})
	return n
}

// On a cluster, DiskOnly partitions are files on the workers that
// computed them, and Unpersist removes them from every executor.
func TestClusterUnpersistDropsOnEveryExecutor(t *testing.T) {
	s, lc := clusterSession(t, testConfig(), []string{worker.RoleCore, worker.RoleCore}, 2)
	r := diskSumsF.Invoke(6)
	collectSums(t, s, r, 6)
	total := 0
	for _, d := range lc.daemons {
		total += persistedOn(t, d, lc.app)
	}
	if total != 3 {
		t.Fatalf("%d partitions on the workers' disks, want 3", total)
	}
	before := s.Metrics().Tasks
	collectSums(t, s, r, 6)
	if ran := s.Metrics().Tasks - before; ran != 3 {
		t.Fatalf("a job on the persisted RDD ran %d tasks, want 3", ran)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Unpersist(ctx, s); err != nil {
		t.Fatal(err)
	}
	for _, d := range lc.daemons {
		if n := persistedOn(t, d, lc.app); n != 0 {
			t.Fatalf("%s keeps %d persisted partitions after Unpersist", d.d.Status().Name, n)
		}
	}
	collectSums(t, s, r, 6)
	for _, d := range lc.daemons {
		if n := persistedOn(t, d, lc.app); n != 0 {
			t.Fatalf("a job after Unpersist stored %d partitions on %s", n, d.d.Status().Name)
		}
	}
}
