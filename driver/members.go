package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/sluicehq/sluice/worker"

	"github.com/sluicehq/sluice/internal/task"
)

// join retries until a member answers or --wait passes.
func (c *cluster) join() error {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.Wait)
	defer cancel()
	var err error
	for {
		if _, err = c.node.Join(ctx, c.joinAt); err == nil {
			return nil
		}
		if errors.Is(err, membership.ErrNotMember) {
			return fmt.Errorf("driver: %w; --join takes the gossip address a worker listens on (its --listen), not its RPC port", err)
		}
		if errors.Is(err, membership.ErrKeyMismatch) {
			// A different secret does not heal by waiting.
			return c.keyMismatch()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("driver: cannot join the cluster at %v within --wait %v: %w", c.joinAt, c.s.cfg.Wait, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// keyMismatch is the error of a driver whose gossip the cluster refused:
// one line that names the members tried and the setting to change.
func (c *cluster) keyMismatch() error {
	at := strings.Join(c.joinAt, ",")
	switch c.src {
	case trust.FromInsecure:
		return fmt.Errorf("driver: the cluster at %s has a cluster secret and this driver runs --insecure: give --secret-file FILE (or $%s) with the workers' secret", at, trust.EnvSecretFile)
	case trust.FromDev:
		dev, _ := trust.DevSecretFile()
		return fmt.Errorf("driver: the cluster at %s refused this driver's cluster secret (no --secret-file was given, so it used the development secret %s): give --secret-file FILE (or $%s) with the workers' secret, or --insecure if they run without one", at, dev, trust.EnvSecretFile)
	}
	return fmt.Errorf("driver: the cluster at %s refused this driver's cluster secret %s: check --secret-file (or $%s): it must hold the workers' secret, or give --insecure if they run without one", at, c.creds.Fingerprint(), trust.EnvSecretFile)
}

// awaitWorkers waits until --min-workers executors are ready.
func (c *cluster) awaitWorkers() error {
	deadline := time.NewTimer(c.s.cfg.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := c.ready(); n >= c.min {
			return nil
		}
		select {
		case <-deadline.C:
			c.mu.Lock()
			last := c.lastErr
			c.mu.Unlock()
			err := fmt.Errorf("driver: %d of %s %d workers ready at %v after --wait %v",
				c.ready(), c.minBy, c.min, c.joinAt, c.s.cfg.Wait)
			if last != nil {
				err = fmt.Errorf("%w; last failure: %w", err, last)
			}
			return err
		case <-tick.C:
		}
	}
}

func (c *cluster) ready() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.workers {
		if r.exec != "" {
			n++
		}
	}
	return n
}

// watch follows membership: workers that appear get an executor, workers
// that go are withdrawn from the scheduler.
func (c *cluster) watch() {
	for _, m := range c.node.Members() {
		c.added(m)
	}
	for {
		select {
		case ev := <-c.node.Events():
			switch ev.Kind {
			case membership.Joined, membership.Updated:
				if ev.Member.Meta.State == worker.StateDraining {
					c.draining(ev.Member.Name)
				} else {
					c.added(ev.Member)
				}
			case membership.Left, membership.Failed:
				c.goneName(ev.Member.Name, "it "+ev.Kind.String())
			}
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *cluster) added(m membership.Member) {
	if m.Meta.Role != worker.RoleCore && m.Meta.Role != worker.RoleTask {
		return
	}
	c.mu.Lock()
	if old := c.workers[m.Name]; old != nil {
		if old.rpc == m.Meta.RPC {
			changed := old.lowDisk != m.Meta.LowDisk
			old.lowDisk = m.Meta.LowDisk
			ready := old.everReady
			c.mu.Unlock()
			if changed && ready {
				c.send(memberChange{worker: m.Name, disk: true, lowDisk: m.Meta.LowDisk})
			}
			return
		}
		// Restarted under the same name: the old instance is gone.
		c.mu.Unlock()
		c.gone(old, "it restarted")
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	ctx, cancel := context.WithCancel(c.ctx)
	r := &remote{name: m.Name, role: m.Meta.Role, slots: m.Meta.Slots, rpc: m.Meta.RPC, ctx: ctx, cancel: cancel, lowDisk: m.Meta.LowDisk}
	c.workers[m.Name] = r
	c.wg.Go(func() { c.setup(r, m.Meta.Slots) })
}

// setup ships the binary if the worker lacks it and starts the executor.
func (c *cluster) setup(r *remote, slots int) {
	ctx, cancel := context.WithTimeout(r.ctx, c.s.cfg.Wait+time.Minute)
	defer cancel()
	addr, err := c.startExecutor(ctx, r)
	// A lossy link can fail a call to a worker that still gossips; the
	// calls are idempotent (a worker runs one executor per application).
	for try := 1; try < setupTries && errors.Is(err, rpc.ErrUnavailable); try++ {
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		addr, err = c.startExecutor(ctx, r)
	}
	if err != nil {
		c.s.log.Warn("cannot use worker", "worker", r.name, "err", err)
		c.mu.Lock()
		if r.ctx.Err() == nil {
			c.lastErr = fmt.Errorf("worker %s: %w", r.name, err)
		}
		c.mu.Unlock()
		c.gone(r, err.Error())
		return
	}
	c.mu.Lock()
	if c.workers[r.name] != r {
		c.mu.Unlock()
		return
	}
	if !r.everReady {
		c.counts.WorkersReady++
	}
	r.exec, r.everReady, r.beat, r.replace = addr, true, time.Now(), ""
	r.execCtx, r.execCancel = context.WithCancelCause(r.ctx)
	low := r.lowDisk
	c.mu.Unlock()
	c.send(memberChange{worker: r.name, slots: slots, role: r.role})
	c.wakeSweep() // a worker back in contact may have missed forgotten graphs
	if low {
		c.send(memberChange{worker: r.name, disk: true, lowDisk: true})
	}
}

// setupTries bounds the tries to start an executor on a worker that
// cannot be reached, a second more apart each time (1+2+3 s in all).
const setupTries = 4

func (c *cluster) startExecutor(ctx context.Context, r *remote) (string, error) {
	has, err := rpc.Call[worker.HasBinaryRequest, worker.HasBinaryResponse](ctx, c.client, r.rpc, worker.MethodHasBinary, &worker.HasBinaryRequest{SHA256: c.sha})
	if err != nil {
		return "", err
	}
	if !has.Have {
		c.s.log.Info("uploading binary", "worker", r.name, "size", units.FormatBytes(int64(len(c.bin))))
		if _, err := rpc.Upload[worker.UploadBinaryRequest, worker.Empty](ctx, c.client, r.rpc, worker.MethodUploadBinary,
			&worker.UploadBinaryRequest{SHA256: c.sha, Size: int64(len(c.bin))}, bytes.NewReader(c.bin), int64(len(c.bin))); err != nil {
			return "", err
		}
	}
	cfg := c.s.cfg
	wd, _ := os.Getwd()
	c.mu.Lock()
	replace := r.replace
	c.mu.Unlock()
	resp, err := rpc.Call[worker.StartExecutorRequest, worker.StartExecutorResponse](ctx, c.client, r.rpc, worker.MethodStartExecutor,
		&worker.StartExecutorRequest{
			App: c.app, SHA256: c.sha, Driver: c.addr, Codec: cfg.ShuffleCodec.String(), Replace: replace,
			TaskMemory: cfg.Memory, CacheMemory: cfg.CacheMemory, CacheDisk: cfg.CacheDisk, RegistryDigest: task.RegistryDigest(), WorkDir: wd,
			Args: c.args, Env: c.env,
		})
	if err != nil {
		return "", err
	}
	return resp.Addr, nil
}

// gone withdraws a worker instance: its running calls are cancelled
// (their tasks are lost) and the scheduler stops offering it tasks. A
// newer instance under the same name is left alone.
func (c *cluster) gone(r *remote, reason string) {
	c.mu.Lock()
	if c.workers[r.name] != r {
		c.mu.Unlock()
		return
	}
	delete(c.workers, r.name)
	ready := r.exec != "" || r.everReady
	left := r.draining
	if ready {
		c.counts.WorkersLost++
	}
	c.mu.Unlock()
	r.cancel()
	if !ready {
		return // the scheduler never heard of it
	}
	c.workerLost(r.name)
	c.send(memberChange{worker: r.name, reason: reason, left: left})
}

// workerLost tells every executor that a worker is gone, so that fetches
// from it fail at once instead of waiting on a frozen peer.
func (c *cluster) workerLost(name string) {
	c.mu.Lock()
	var execs []string
	for _, r := range c.workers {
		if r.exec != "" {
			execs = append(execs, r.exec)
		}
	}
	c.mu.Unlock()
	for _, addr := range execs {
		c.wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			defer cancel()
			if _, err := rpc.Call[worker.WorkerLostRequest, worker.Empty](ctx, c.client, addr, worker.MethodWorkerLost, &worker.WorkerLostRequest{Worker: name}); err != nil {
				c.s.log.Debug("telling an executor a worker is lost", "worker", name, "executor", addr, "err", err)
			}
		})
	}
}

// goneName withdraws whatever instance of a worker is current.
func (c *cluster) goneName(name, reason string) {
	c.mu.Lock()
	r := c.workers[name]
	c.mu.Unlock()
	if r != nil {
		c.gone(r, reason)
	}
}

// send hands a membership change to the session loop, in order.
func (c *cluster) send(m memberChange) {
	select {
	case c.s.members <- m:
	case <-c.s.quit:
	case <-c.ctx.Done():
	}
}

// suspect pauses a worker whose executor refused a connection (it crashed,
// or the worker is dying): no new tasks go there, and its executor is
// started again. Its map outputs stay registered: the worker daemon, not
// the executor, serves them. If the worker is really gone, gossip says so
// within seconds and it is withdrawn then.
func (c *cluster) suspect(r *remote, slots int) {
	c.mu.Lock()
	if c.workers[r.name] != r || r.exec == "" {
		c.mu.Unlock()
		return
	}
	r.exec = ""
	c.counts.ExecutorsRestarted++
	c.mu.Unlock()
	c.wg.Go(func() { c.setup(r, slots) })
}
