package rdd

import (
	"context"

	"github.com/sluicehq/sluice/internal/task"
)

// Runner runs jobs: the driver's *Session, in local or cluster mode. Pass
// one to every action; only runtimes implement it.
type Runner interface {
	RunJob(ctx context.Context, job *task.Job) error
}
