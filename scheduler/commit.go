package scheduler

import "time"

// grant is a result partition's commit authorisation.
type grant struct {
	attempt int
	task    int64         // the attempt's task id
	at      time.Duration // Tick time of the grant
	expired bool          // released after CommitTimeout: that attempt may not commit
}

// grantRef is a grant in s.grants, the queue of grants by the time given,
// which CommitTimeout releases from the front.
type grantRef struct {
	st   *stage
	part int
	task int64
	at   time.Duration
}

// canCommit answers an attempt's request to commit its output partition
// (CommitRequested): the first live attempt to ask wins, and every other
// attempt of that partition is denied while the winner lives (Spark's
// OutputCommitCoordinator). Only an attempt the scheduler considers running
// may commit: one recorded as lost, killed, finished or never launched is
// denied, so a zombie that comes back from a partition cannot take the
// commit from the attempt that replaced it. A grant whose attempt does not
// report within CommitTimeout is released (see expireCommits).
func (s *Scheduler) canCommit(stageID, part, attemptNum int) bool {
	st := s.stagesByID[stageID]
	if st == nil || st.shuffle != 0 {
		return false
	}
	i, ok := st.partIndex[part]
	if !ok {
		return false
	}
	var live *attempt
	for _, a := range st.live[i] {
		if a.task.Attempt == attemptNum {
			live = a
			break
		}
	}
	if live == nil || live.killed || live.epoch != st.epoch {
		return false // not running, or computed from inputs a rollback discarded
	}
	if g, ok := st.grants[part]; ok {
		if !g.expired || g.attempt == attemptNum {
			return g.attempt == attemptNum && !g.expired
		}
	}
	if st.done[i] {
		return false
	}
	st.grants[part] = grant{attempt: attemptNum, task: live.task.ID, at: s.now}
	if s.cfg.CommitTimeout > 0 {
		s.grants = append(s.grants, grantRef{st: st, part: part, task: live.task.ID, at: s.now})
		s.compactGrants()
	}
	return true
}

// compactGrants drops the queue's entries for grants that ended (their
// partition done, their attempt failed, their job over), so that the
// queue stays bounded when no Tick comes to expire them.
func (s *Scheduler) compactGrants() {
	if len(s.grants) < 64 || len(s.grants) < 2*s.grantsKept {
		return
	}
	kept := s.grants[:0]
	for _, r := range s.grants {
		if s.current(r) {
			kept = append(kept, r)
		}
	}
	clear(s.grants[len(kept):])
	s.grants = kept
	s.grantsKept = len(kept)
}

// current reports whether r is still its partition's unexpired grant.
func (s *Scheduler) current(r grantRef) bool {
	g, ok := r.st.grants[r.part]
	return ok && g.task == r.task && !g.expired
}

// expireCommits releases the commit grants whose attempt has not reported
// within CommitTimeout, and queues a copy of each such task on another
// worker. The silent attempt may still finish first; if it never does, the
// copy commits. Output is deterministic, so either is the same bytes.
func (s *Scheduler) expireCommits() {
	if s.cfg.CommitTimeout <= 0 {
		return
	}
	n := 0
	for ; n < len(s.grants); n++ {
		r := s.grants[n]
		if s.now-r.at <= s.cfg.CommitTimeout {
			break
		}
		if !s.current(r) {
			continue
		}
		g := r.st.grants[r.part]
		g.expired = true
		r.st.grants[r.part] = g
		if a := s.running[g.task]; a != nil && !s.completed(a.stage, a.index) && len(a.stage.jobs) > 0 {
			s.enqueue(a.stage, a.index, a.worker, "")
		}
	}
	if n > 0 {
		s.grants = append(s.grants[:0], s.grants[n:]...)
		s.grantsKept = min(s.grantsKept, len(s.grants))
	}
}
