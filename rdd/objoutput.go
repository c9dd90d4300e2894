package rdd

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/task"
)

// saveObjects is a SaveAs action (named action; its job named name) to
// an s3:// prefix, committed without renames (internal/commit's object
// commit): each authorised attempt's result is its uncompleted upload, and
// the job commit completes exactly those. act carries the format and the
// codec save resolved, so part files are named and compressed as on a
// local file system: part-00000.json.gz.
func saveObjects[T any](ctx context.Context, run Runner, r *RDD[T], g *graph, dir, action, name string, act task.Action) error {
	st, err := objstore.Default()
	if err != nil {
		return fmt.Errorf("rdd: %s %s: %w", action, dir, err)
	}
	job, err := commit.SetupObjectJob(ctx, st, dir)
	if err != nil {
		return fmt.Errorf("rdd: %s: %w", action, err)
	}
	abort := func(err error) error {
		// Its own deadline: ctx may be why the job failed.
		actx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if aerr := job.Abort(actx); aerr != nil {
			return fmt.Errorf("%w (and cleaning up %s failed: %v)", err, dir, aerr)
		}
		return err
	}
	if err := g.prepare(ctx, run, r.n); err != nil {
		return abort(err)
	}
	parts := make([]int, r.n.parts)
	for i := range parts {
		parts[i] = i
	}
	pending := make([]objstore.Pending, len(parts))
	err = run.RunJob(ctx, &task.Job{
		Name:  name,
		Graph: g.pub, Node: r.n.id, Partitions: parts,
		Action: act,
		Result: func(p int, data []byte) (err error) {
			if p < 0 || p >= len(pending) {
				return fmt.Errorf("rdd: %s: a result for partition %d of %d", action, p, len(pending))
			}
			pending[p], err = commit.DecodePending(dir, p, data)
			return err
		},
	})
	if err == nil {
		err = job.Commit(ctx, pending)
	}
	if err != nil {
		return abort(fmt.Errorf("rdd: %s: %w", action, err))
	}
	return nil
}

// saveObjectPartition writes one partition, in act's format and codec, as
// a task attempt of the object commit and returns, when the driver
// authorised the attempt, its upload for the job commit.
func (r *RDD[T]) saveObjectPartition(ctx context.Context, tc *task.Context, part int, act task.Action) ([]byte, error) {
	suffix, err := partSuffix(act.Format, act.Codec)
	if err != nil {
		return nil, Permanent(fmt.Errorf("rdd: save: %w", err))
	}
	st, err := objstore.Default()
	if err != nil {
		return nil, fmt.Errorf("rdd: save %s: %w", act.Path, err)
	}
	a, err := commit.NewObjectAttempt(ctx, st, act.Path, suffix, tc.Stage, part, tc.Attempt)
	if err != nil {
		return nil, fmt.Errorf("rdd: save: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			a.Abort() // failed, or user code panicked
		}
	}()
	if err := r.writeFormatTo(ctx, tc, part, act, a.Writer()); err != nil {
		return nil, err
	}
	committed = true // Commit aborts by itself when it must
	b, err := a.Commit(ctx, tc.Commit)
	if err == nil && b == nil {
		err = fmt.Errorf("%w: partition %d attempt %d", task.ErrCommitDenied, part, tc.Attempt)
	}
	return b, err
}
