package driver

import (
	"context"
)

// committer asks the loop's scheduler whether an attempt may commit.
type committer struct{ s *Session }

func (c committer) CanCommit(ctx context.Context, stage, part, attempt int) (bool, error) {
	reply := make(chan bool, 1)
	select {
	case c.s.commits <- commitAsk{stage, part, attempt, reply}:
	case <-c.s.quit:
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case ok := <-reply:
		return ok, nil
	case <-c.s.quit:
		return false, ErrClosed
	}
}
