package rdd_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/clustertest"
	"github.com/sluicehq/sluice/worker"
)

// TestMain serves tasks when a worker (--local-cluster) starts this test
// binary as an executor.
func TestMain(m *testing.M) {
	if worker.IsExecutor() {
		os.Exit(worker.RunExecutor())
	}
	cleanup := clustertest.PrivateConfigHome()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// TestByKeyOnLocalCluster runs the by-key operations against their naive
// versions with --local-cluster 2: the tasks run in two executor
// processes, so every element, key and Func argument crosses a process
// boundary, as on a cluster.
func TestByKeyOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, func(c *driver.Config) { c.LocalCluster = 2 })
	rng := rand.New(rand.NewPCG(11, 3))
	for range 4 {
		checkOps(t, s, randomArgs(rng, rng.IntN(300), 1+rng.IntN(50)))
	}
}

// TestTransformsOnLocalCluster runs the new transformations and the
// co-partitioned plans with --local-cluster 2, and checks that every
// seeded or positional result (Sample, RandomSplit, ZipWithIndex,
// ZipWithUniqueID, the sorts, Pipe) is exactly what local mode computes:
// executors in other processes draw the same samples and count the same
// indices.
func TestTransformsOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	cluster := newSession(t, func(c *driver.Config) { c.LocalCluster = 2 })
	local := newSession(t)
	rng := rand.New(rand.NewPCG(13, 8))
	for range 2 {
		a := randomX(rng, rng.IntN(200), 1+rng.IntN(30))
		checkTransforms(t, cluster, a, true)
		same := func(name string, x, y any) {
			t.Helper()
			if fmt.Sprint(x) != fmt.Sprint(y) {
				t.Errorf("%s differs between --local-cluster and local mode", name)
			}
		}
		same("Sample", collect(t, cluster, sampleF.Invoke(a)), collect(t, local, sampleF.Invoke(a)))
		same("RandomSplit", collect(t, cluster, splitF.Invoke(a)), collect(t, local, splitF.Invoke(a)))
		same("ZipWithIndex", collect(t, cluster, zipIndexF.Invoke(a)), collect(t, local, zipIndexF.Invoke(a)))
		same("ZipWithUniqueID", collect(t, cluster, zipIDF.Invoke(a)), collect(t, local, zipIDF.Invoke(a)))
		same("SortByKeyFunc", collect(t, cluster, sortFuncF.Invoke(a)), collect(t, local, sortFuncF.Invoke(a)))
		same("Pipe", collect(t, cluster, pipeF.Invoke(a)), collect(t, local, pipeF.Invoke(a)))
		same("Join with a sorted side", collect(t, cluster, planSortedJoinF.Invoke(a.Args)), collect(t, local, planSortedJoinF.Invoke(a.Args)))
		same("co-partitioned Join", collect(t, cluster, planCoJoinF.Invoke(a.Args)), collect(t, local, planCoJoinF.Invoke(a.Args)))
		same("CoGroup3 of custom partitioners", collect(t, cluster, planCustomF.Invoke(a.Args)), collect(t, local, planCustomF.Invoke(a.Args)))
	}
}
