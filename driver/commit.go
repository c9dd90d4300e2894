package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/task"
)

// commitWait bounds how long a commit request waits for the loop's
// answer: the loop answers in one Step, so minutes mean it is wedged, and
// the attempt is better retried than left hanging.
const commitWait = time.Minute

// committer asks the loop's scheduler whether an attempt may commit: the
// request goes into the loop as a CommitRequested event, and the loop
// hands back the CommitAnswered action's answer.
type committer struct{ s *Session }

func (c committer) CanCommit(ctx context.Context, stage, part, attempt int) (bool, error) {
	timer := time.NewTimer(commitWait)
	defer timer.Stop()
	reply := make(chan bool, 1)
	select {
	case c.s.commits <- commitAsk{stage, part, attempt, reply}:
	case <-c.s.quit:
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	case <-timer.C:
		return false, fmt.Errorf("%w: the driver did not take the request within %v", task.ErrCommitDenied, commitWait)
	}
	select {
	case ok := <-reply:
		return ok, nil
	case <-c.s.quit:
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	case <-timer.C:
		return false, fmt.Errorf("%w: no answer from the driver within %v", task.ErrCommitDenied, commitWait)
	}
}
