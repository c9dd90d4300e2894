package rdd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/partfile"
	"github.com/sluicehq/sluice/internal/task"
)

// ErrNoCheckpointDir is returned by an action that needs to write a
// checkpoint when the Runner has no checkpoint directory.
var ErrNoCheckpointDir = errors.New("rdd: no checkpoint directory")

// Checkpoint marks r to be saved to the Runner's checkpoint directory
// (the driver's --checkpoint-dir, or Session.SetCheckpointDir) and its
// lineage truncated there, as Spark's RDD.checkpoint does. The next action
// that needs r first runs a job that computes every partition of r and
// writes it to a file, atomically; from then on every job, and every
// recovery, reads those files instead of recomputing r's parents, so the
// data survive the loss of every worker that computed them. The
// directory must be one that the driver and every worker see at the same
// path (a shared file system): Sluice checks that the driver sees every
// file. Files are checked on read (length, frame count, checksums); a
// missing or damaged one fails the tasks that read it, with its path,
// since the lineage behind it is no longer run. The files stay after the
// program ends, as Spark's do; remove them when no longer needed.
//
// Call it before the first action on r, in the Func that builds the
// lineage or on the RDD that Invoke returned. Persisting r as well saves
// nothing here: the checkpoint job computes r once and later jobs read the
// files. It returns r.
func (r *RDD[T]) Checkpoint() *RDD[T] {
	if r.n.checkpoint == "" {
		r.n.checkpoint = callSite(1)
	}
	return r
}

// IsCheckpointed reports whether r's checkpoint is written.
func (r *RDD[T]) IsCheckpointed() bool { return r.n.state().ckpt != "" }

// CheckpointFile returns the directory of r's checkpoint once written.
func (r *RDD[T]) CheckpointFile() (string, bool) {
	dir := r.n.state().ckpt
	return dir, dir != ""
}

// walkLive returns the nodes that a job on root runs, parents first: a
// written checkpoint's parents are not run.
func walkLive(root *node) []*node {
	var out []*node
	seen := map[*node]bool{}
	var visit func(n *node)
	visit = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.state().ckpt == "" {
			for _, d := range n.deps {
				visit(d.parent)
			}
			for _, a := range n.aux {
				visit(a)
			}
		}
		out = append(out, n)
	}
	visit(root)
	return out
}

// writeCheckpoint runs the job that writes n's checkpoint and, once every
// file is in place, truncates the lineage at n.
func (g *graph) writeCheckpoint(ctx context.Context, run Runner, n *node) error {
	sr, ok := run.(storageRunner)
	dir := ""
	if ok {
		dir = sr.CheckpointDir()
	}
	if dir == "" {
		return fmt.Errorf("%w: Checkpoint of %s at %s: set one with the driver's --checkpoint-dir flag or Session.SetCheckpointDir", ErrNoCheckpointDir, n.name, n.checkpoint)
	}
	g.mu.Lock()
	if g.ckptRoot == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		g.ckptRoot = hex.EncodeToString(b[:])
	}
	nodeDir := filepath.Join(dir, g.ckptRoot, fmt.Sprintf("rdd-%d", n.id))
	g.mu.Unlock()
	parts := make([]int, n.parts)
	for i := range parts {
		parts[i] = i
	}
	sizes := make([]int64, n.parts)
	err := run.RunJob(ctx, &task.Job{
		Name:  fmt.Sprintf("Checkpoint at %s", n.checkpoint),
		Graph: g.pub, Node: n.id, Partitions: parts,
		Action: task.Action{Kind: task.ActCheckpoint, Path: nodeDir},
		Result: func(part int, data []byte) error {
			size, k := binary.Uvarint(data)
			if k <= 0 || len(data) != k {
				return fmt.Errorf("rdd: checkpoint of %s: malformed result for partition %d", n.name, part)
			}
			sizes[part] = int64(size)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("rdd: writing the checkpoint of %s (Checkpoint at %s): %w", n.name, n.checkpoint, err)
	}
	for p, want := range sizes {
		path := checkpointPath(nodeDir, p)
		st, err := os.Stat(path)
		if err != nil || st.Size() != want {
			return fmt.Errorf("rdd: checkpoint of %s: the driver does not see partition %d as the worker wrote it (%v): the checkpoint directory %s must be on a file system that the driver and every worker share", n.name, p, err, dir)
		}
	}
	st := n.state()
	st.ckpt = nodeDir
	n.setState(st)
	return nil
}

// checkpointPart computes partition part and writes it into the
// checkpoint directory dir, returning the file's size.
func (r *RDD[T]) checkpointPart(ctx context.Context, tc *task.Context, part int, dir string) ([]byte, error) {
	f, err := partfile.Create(checkpointPath(dir, part), tc.Codec)
	if err != nil {
		return nil, err
	}
	var (
		rec  []byte
		werr error
	)
	err = r.iterate(ctx, tc, part, func(t T) bool {
		rec = r.codec.put(rec[:0], t)
		werr = f.Record(rec)
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		f.Abort()
		return nil, err
	}
	size, err := f.CommitNew()
	if err != nil {
		return nil, err
	}
	return binary.AppendUvarint(nil, uint64(size)), nil
}
