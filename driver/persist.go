package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"weak"

	"github.com/sluicehq/sluice/internal/rpc"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/worker"
)

// CheckpointDir returns the directory reliable checkpoints
// (rdd.RDD.Checkpoint) are written under: --checkpoint-dir, or what
// SetCheckpointDir set; "" when neither was given.
func (s *Session) CheckpointDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ckptDir
}

// SetCheckpointDir sets the directory reliable checkpoints are written
// under, creating it if need be, as Spark's SparkContext.setCheckpointDir
// does. In cluster mode it must be a directory that the driver and every
// worker see at the same path (a shared file system): a checkpoint must
// outlive the workers that wrote it. Checkpoints already written stay
// where they are.
func (s *Session) SetCheckpointDir(dir string) error {
	abs, err := checkpointDir(dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ckptDir = abs
	s.mu.Unlock()
	return nil
}

// checkpointDir makes dir absolute (executors may run elsewhere) and
// creates it.
func checkpointDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("driver: checkpoint directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("driver: checkpoint directory: %w", err)
	}
	return abs, nil
}

// UnpersistNode drops the persisted partitions of one node of g on every
// executor; rdd.RDD.Unpersist calls it. An executor that cannot be
// reached is logged and skipped: its storage goes with it or with the
// application.
func (s *Session) UnpersistNode(ctx context.Context, g *task.Graph, node int) error {
	s.mu.Lock()
	gid, ok := s.graphs[weak.Make(g)]
	s.mu.Unlock()
	if !ok {
		return nil // no job ran on g: nothing stored
	}
	s.backend.unpersist(ctx, gid, node)
	return ctx.Err()
}

func (l *local) unpersist(_ context.Context, gid, node int) { l.exec.Unpersist(gid, node) }

// unpersistTimeout bounds one executor's answer to Unpersist.
const unpersistTimeout = 10 * time.Second

func (c *cluster) unpersist(ctx context.Context, gid, node int) {
	c.mu.Lock()
	type target struct{ name, exec string }
	var ts []target
	for _, r := range c.workers {
		if r.exec != "" {
			ts = append(ts, target{r.name, r.exec})
		}
	}
	c.mu.Unlock()
	req := &worker.UnpersistRequest{App: c.app, Graph: gid, Node: node}
	var wg sync.WaitGroup
	sem := make(chan struct{}, sweepCalls)
	for _, t := range ts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, unpersistTimeout)
			defer cancel()
			if _, err := rpc.Call[worker.UnpersistRequest, worker.Empty](cctx, c.client, t.exec, worker.MethodUnpersist, req); err != nil {
				c.s.log.Warn("unpersist", "worker", t.name, "err", err)
			}
		})
	}
	wg.Wait()
}
