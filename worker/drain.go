package worker

import (
	"context"
	"time"
)

// Drain asks a running daemon to decommission gracefully, as on a spot
// interruption notice: it turns draining in gossip and takes no new
// applications, each driver stops giving it tasks, lets its running tasks
// finish and copies the map outputs it needs to core workers, then says
// so; when every driver has (or DrainTimeout passed) the worker leaves the
// cluster and Run returns nil.
func (d *Daemon) Drain() {
	select {
	case d.drainReq <- struct{}{}:
	default:
	}
}

// drain turns the worker draining and returns a channel closed when every
// application was drained or the timeout passed.
func (d *Daemon) drain(ctx context.Context) <-chan struct{} {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	meta := d.meta()
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := d.node.UpdateMeta(uctx, meta); err != nil {
		d.log.Warn("announcing draining", "err", err)
	}
	cancel()
	d.log.Info("draining", "worker", d.node.Name(), "timeout", d.cfg.DrainTimeout)
	done := make(chan struct{})
	d.wg.Go(func() {
		defer close(done)
		deadline := time.NewTimer(d.cfg.DrainTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !d.allDrained() {
			select {
			case <-deadline.C:
				d.log.Warn("drain timeout: leaving with work still here", "worker", d.node.Name())
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return done
}

func (d *Daemon) allDrained() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.apps {
		if !a.drained {
			return false
		}
	}
	return true
}
