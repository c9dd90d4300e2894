package worker

import (
	"context"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/membership"
)

// diskCheckEvery is how often a worker measures its free disk.
const diskCheckEvery = 5 * time.Second

// meta is what the worker gossips now.
func (d *Daemon) meta() membership.Meta {
	d.mu.Lock()
	defer d.mu.Unlock()
	state := StateAlive
	if d.draining {
		state = StateDraining
	}
	return membership.Meta{Role: d.cfg.Role, State: state, Slots: d.cfg.Slots, RPC: d.addr, Version: d.cfg.Version, LowDisk: d.lowDisk}
}

// diskLow measures Dir's free space against MinFreeDisk, with hysteresis:
// a worker that was low stays low until it has twice the minimum.
func (d *Daemon) diskLow(wasLow bool) bool {
	if d.cfg.MinFreeDisk <= 0 {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.cfg.Dir, &st); err != nil {
		return wasLow
	}
	free := int64(st.Bavail) * st.Bsize
	if wasLow {
		return free < 2*d.cfg.MinFreeDisk
	}
	return free < d.cfg.MinFreeDisk
}

// checkDisk gossips a change of lowDisk.
func (d *Daemon) checkDisk(ctx context.Context) {
	d.mu.Lock()
	was := d.lowDisk
	d.mu.Unlock()
	low := d.diskLow(was)
	if low == was {
		return
	}
	d.mu.Lock()
	d.lowDisk = low
	d.mu.Unlock()
	if low {
		d.log.Warn("low on disk: taking no new map tasks", "dir", d.cfg.Dir, "min_free", d.cfg.MinFreeDisk)
	} else {
		d.log.Info("disk space back", "dir", d.cfg.Dir)
	}
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.node.UpdateMeta(uctx, d.meta()); err != nil {
		d.log.Warn("announcing a change of disk space", "err", err)
	}
}
