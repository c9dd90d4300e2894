package driver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/clusterpolicy"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/worker"
)

// errFrozen ends the task calls of an executor that stopped answering
// heartbeats.
var errFrozen = errors.New("driver: the executor stopped answering heartbeats")

// heartbeats asks every ready executor, each interval, what it is
// running. An executor that has not answered for --heartbeat-timeout is
// frozen (a stopped or wedged process whose worker still gossips): its
// tasks are lost, and its worker is asked to replace it. One that keeps
// going silent and coming back is flapping: no new tasks for a while. The
// rules are internal/clusterpolicy's, which the simulator runs too.
func (c *cluster) heartbeats() {
	timeout := c.s.cfg.HeartbeatTimeout
	if timeout <= 0 {
		timeout = DefaultConfig().HeartbeatTimeout
	}
	interval := clusterpolicy.HeartbeatInterval(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		var ready []*remote
		for _, r := range c.workers {
			if r.exec != "" {
				ready = append(ready, r)
			}
		}
		c.mu.Unlock()
		for _, r := range ready {
			c.mu.Lock()
			exec, execCtx, beat := r.exec, r.execCtx, r.beat
			c.mu.Unlock()
			if clusterpolicy.Frozen(beat, time.Now(), timeout) {
				c.frozen(r, exec)
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(execCtx, interval)
				defer cancel()
				resp, err := rpc.Call[worker.Empty, worker.HeartbeatResponse](ctx, c.client, exec, worker.MethodHeartbeat, nil)
				c.mu.Lock()
				flapping := r.exec == exec && r.flap.Beat(err == nil, time.Now())
				c.mu.Unlock()
				if flapping {
					c.s.log.Warn("executor flapping: no new tasks for a while", "worker", r.name, "for", clusterpolicy.FlapExclude)
					c.send(memberChange{worker: r.name, flapping: true})
				}
				if err != nil {
					return
				}
				if len(resp.Tasks) > 0 {
					select {
					case c.s.progress <- resp.Tasks:
					default: // the loop is busy: the next beat reports again
					}
				}
				c.mu.Lock()
				if r.exec == exec {
					r.beat = time.Now()
				}
				c.mu.Unlock()
			})
		}
	}
}

// frozen withdraws an executor that stopped answering: its running task
// calls end (the tasks are lost and go elsewhere) and its worker is asked
// to kill it and start another. Map outputs stay: the worker serves them.
func (c *cluster) frozen(r *remote, exec string) {
	c.mu.Lock()
	if c.workers[r.name] != r || r.exec != exec {
		c.mu.Unlock()
		return
	}
	r.exec, r.replace = "", exec
	r.execCancel(errFrozen)
	c.counts.ExecutorsReplaced++
	c.mu.Unlock()
	c.s.log.Warn("executor frozen: no heartbeat; replacing it", "worker", r.name, "executor", exec, "timeout", c.s.cfg.HeartbeatTimeout)
	c.wg.Go(func() { c.setup(r, r.slots) })
}
