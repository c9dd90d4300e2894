package driver

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/scheduler"
	"github.com/sluicehq/sluice/worker"
)

// draining tells the loop that a worker is decommissioning.
func (c *cluster) draining(name string) {
	c.mu.Lock()
	r := c.workers[name]
	c.mu.Unlock()
	if r == nil {
		return
	}
	c.mu.Lock()
	r.draining = true
	ready := r.everReady
	c.mu.Unlock()
	if ready {
		c.send(memberChange{worker: name, draining: true})
	}
}

// core picks a live core worker for a copy of map output i held by the
// worker named not, by clusterpolicy.CopyTarget; nil when there is none.
func (c *cluster) core(i int, not string) *remote {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := make([]*remote, 0, len(c.workers))
	for _, r := range c.workers {
		ws = append(ws, r)
	}
	slices.SortFunc(ws, func(a, b *remote) int { return strings.Compare(a.name, b.name) })
	cands := make([]clusterpolicy.Candidate, len(ws))
	for k, r := range ws {
		cands[k] = clusterpolicy.Candidate{Name: r.name, Core: r.role == worker.RoleCore, Ready: r.exec != "", Draining: r.draining}
	}
	if k := clusterpolicy.CopyTarget(cands, i, not); k >= 0 {
		return ws[k]
	}
	return nil
}

// copyOutput has a core worker pull a map output from the worker holding it.
func (c *cluster) copyOutput(ctx context.Context, from *remote, to *remote, graph, shuffle, mapPart int) error {
	_, err := rpc.Call[worker.PullMapOutputRequest, worker.Empty](ctx, c.client, to.rpc, worker.MethodPullMapOutput,
		&worker.PullMapOutputRequest{App: c.app, Graph: graph, Shuffle: shuffle, Map: mapPart, From: from.rpc})
	return err
}

// drain moves a draining worker's map outputs to core workers, then lets
// the worker go. An output that cannot be moved stays: if the worker
// leaves, it is recomputed like any lost output.
func (c *cluster) drain(name string, outputs []scheduler.OutputRef) {
	c.mu.Lock()
	from := c.workers[name]
	c.mu.Unlock()
	if from == nil {
		return
	}
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(from.ctx, 5*time.Minute)
		defer cancel()
		moved := 0
		for _, ref := range outputs {
			to := c.core(ref.Map, name)
			if to == nil {
				c.s.log.Warn("no core worker to move map outputs to", "worker", name)
				break
			}
			if err := c.copyOutput(ctx, from, to, ref.Graph, ref.Shuffle, ref.Map); err != nil {
				c.s.log.Warn("moving a map output", "worker", name, "to", to.name, "err", err)
				continue
			}
			moved++
			// The loop applies the move before Drained goes out, so the
			// worker's departure can never find the output still there.
			done := make(chan struct{})
			select {
			case c.s.moves <- moveReq{scheduler.MapOutputMoved{Output: ref, From: name, To: to.name}, done}:
			case <-c.s.quit:
				return
			}
			select {
			case <-done:
			case <-c.s.quit:
				return
			}
		}
		c.s.log.Info("worker drained", "worker", name, "outputs_moved", moved, "outputs", len(outputs))
		c.mu.Lock()
		c.counts.OutputsMoved += moved
		c.counts.WorkersDrained++
		c.mu.Unlock()
		if _, err := rpc.Call[worker.DrainedRequest, worker.Empty](ctx, c.client, from.rpc, worker.MethodDrained, &worker.DrainedRequest{App: c.app}); err != nil {
			c.s.log.Warn("telling a worker it is drained", "worker", name, "err", err)
		}
	})
}
