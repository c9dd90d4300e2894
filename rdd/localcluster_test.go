package rdd_test

import (
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
