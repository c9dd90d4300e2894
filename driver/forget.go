package driver

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/worker"
)

// sweepRetry is how soon a worker that missed a sweep is tried again.
const sweepRetry = 10 * time.Second

// sweepCalls bounds the workers swept at once.
const sweepCalls = 8

// forgetGraph records a dropped lineage and has every worker remove its
// map outputs, and every executor its rebuilt graph and cached
// partitions. A worker that cannot be reached now gets the whole
// forgotten set when it can, on the next sweep: at the next forgotten
// graph, when it becomes ready again, or sweepRetry later. What is still
// missed goes with the application's directory when the driver ends.
func (c *cluster) forgetGraph(gid int) {
	c.mu.Lock()
	c.forgotten = c.forgotten.Add(gid)
	c.forgotVer++
	c.mu.Unlock()
	c.wakeSweep()
}

func (c *cluster) wakeSweep() {
	select {
	case c.sweepWake <- struct{}{}:
	default:
	}
}

// sweeper sends the forgotten set to the workers that have not had its
// latest version, until the cluster closes.
func (c *cluster) sweeper() {
	retry := time.NewTimer(sweepRetry)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-c.sweepWake:
		case <-retry.C:
		case <-c.ctx.Done():
			return
		}
		if c.sweep() {
			retry.Reset(sweepRetry)
		}
	}
}

// sweep sends the forgotten set once to each worker behind, and reports
// whether one is still behind.
func (c *cluster) sweep() (behind bool) {
	c.mu.Lock()
	ver := c.forgotVer
	req := &worker.ForgetGraphsRequest{App: c.app, Graphs: slices.Clone(c.forgotten)}
	var todo []*remote
	for _, r := range c.workers {
		if r.everReady && r.swept < ver {
			todo = append(todo, r)
		}
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return false
	}
	// Far more forgotten ranges than a request carries means the driver
	// holds thousands of lineages in between; the newest are sent, the
	// rest go with the application.
	if n := len(req.Graphs); n > worker.MaxForgetRanges {
		req.Graphs = req.Graphs[n-worker.MaxForgetRanges:]
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, sweepCalls)
		mu   sync.Mutex
		fail bool
	)
	for _, r := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok := c.sweepOne(r, req)
			if ok {
				c.mu.Lock()
				r.swept = max(r.swept, ver)
				c.mu.Unlock()
			}
			mu.Lock()
			fail = fail || !ok
			mu.Unlock()
		})
	}
	wg.Wait()
	return fail
}

// sweepOne has one worker remove the forgotten map outputs, and its
// executor, if it has one, drop the forgotten graphs and their cached
// partitions. Only the worker's files count: an executor that misses it
// bounds its graphs and cache anyway.
func (c *cluster) sweepOne(r *remote, req *worker.ForgetGraphsRequest) bool {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	_, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, c.client, r.rpc, worker.MethodForgetGraphs, req)
	if err != nil {
		c.s.log.Debug("removing forgotten map outputs", "worker", r.name, "err", err)
	}
	c.mu.Lock()
	exec := r.exec
	c.mu.Unlock()
	if exec != "" {
		if _, err := rpc.Call[worker.ForgetGraphsRequest, worker.Empty](ctx, c.client, exec, worker.MethodForgetGraphs, req); err != nil {
			c.s.log.Debug("dropping forgotten graphs from an executor", "worker", r.name, "err", err)
		}
	}
	return err == nil
}
