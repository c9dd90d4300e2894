package scheduler

import (
	"slices"
	"time"
)

type attempt struct {
	task    Task
	stage   *stage
	index   int // task index within the stage
	worker  string
	avoid   string        // a worker this attempt must not run on
	shun    string        // a worker to avoid while another can take it
	started time.Duration // Tick time at launch
	records int64         // read so far, from TaskProgress; -1 before a report
	killed  bool          // a KillTask went out for it
	epoch   int           // the stage's epoch at launch
	pool    *pool         // FAIR: the pool it is queued or running in
}

// queues hold launchable attempts, FIFO: one set in FIFO mode, one per
// pool in FAIR mode.
type queues struct {
	mapQ, resultQ fifo       // attempts without placement constraints
	special       []*attempt // attempts with avoid or shun
}

func (q *queues) len() int { return q.mapQ.len() + q.resultQ.len() + len(q.special) }

func (q *queues) empty() bool { return q.len() == 0 }

// fifo is a queue of attempts.
type fifo struct {
	items []*attempt
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(a *attempt) { q.items = append(q.items, a) }

func (q *fifo) peek() *attempt { return q.items[q.head] }

func (q *fifo) pop() {
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// enqueue queues an attempt of task index i; avoid names a worker it must
// not run on (a speculative copy's original's), shun one it should not
// while another can take it (where a machine failure hit it).
func (s *Scheduler) enqueue(st *stage, i int, avoid, shun string) *attempt {
	s.nextTask++
	t := Task{
		ID: s.nextTask, Stage: st.id, Graph: st.graph, Partition: i, Attempt: int(st.attempts[i]),
	}
	if st.shuffle != 0 {
		t.Kind, t.Shuffle = MapTask, st.shuffle
	} else {
		t.Kind, t.Node, t.Partition = ResultTask, st.node, st.resultParts[i]
	}
	st.attempts[i]++
	st.pend(i)
	q, p := s.queueFor(st)
	a := &attempt{task: t, stage: st, index: i, avoid: avoid, shun: shun, pool: p}
	switch {
	case avoid != "" || shun != "":
		q.special = append(q.special, a)
	case st.shuffle != 0:
		q.mapQ.push(a)
	default:
		q.resultQ.push(a)
	}
	return a
}

// stale reports whether a queued attempt is no longer wanted: nobody needs
// its stage, or another attempt (the original of a speculative copy)
// finished first. Its inputs lost since it was queued make it wait too:
// parentsLost.
func (s *Scheduler) stale(a *attempt) (stale, parentsLost bool) {
	if len(a.stage.jobs) == 0 || s.completed(a.stage, a.index) {
		return true, false
	}
	if !s.parentsAvailable(a.stage) {
		return true, true
	}
	return false, false
}

// headOf drops q's stale attempts from its head and returns the first
// live one, or nil. Stages whose inputs were lost are added to resubmit:
// they wait for the inputs and queue their tasks again then.
func (s *Scheduler) headOf(q *fifo, resubmit *[]*stage) *attempt {
	for q.len() > 0 {
		a := q.peek()
		stale, lost := s.stale(a)
		if !stale {
			return a
		}
		q.pop()
		a.stage.unpend(a.index)
		if lost && !slices.Contains(*resubmit, a.stage) {
			*resubmit = append(*resubmit, a.stage)
		}
	}
	return nil
}

// launch assigns queued attempts to free slots, each to the worker with
// the most free slots (ties by name): in FIFO mode first come first served
// across the queues; in FAIR mode from the pool that fairCompare puts
// first, FIFO within it. Each launch or dropped attempt costs O(log
// workers), and in FAIR mode O(pools log pools) more.
func (s *Scheduler) launch(out []Action) []Action {
	for {
		var resubmit []*stage
		for !s.slots.empty() {
			var (
				pick *attempt
				to   *worker
				take func()
			)
			if s.cfg.Mode == FAIR {
				for _, p := range s.fairOrder() {
					if pick, to, take = s.pickFrom(&p.q, &resubmit); pick != nil {
						break
					}
				}
			} else {
				pick, to, take = s.pickFrom(&s.q, &resubmit)
			}
			if pick == nil {
				break
			}
			take()
			out = s.start(pick, to, out)
		}
		again := false
		for _, st := range resubmit {
			if !st.waiting && len(st.jobs) > 0 {
				out = s.submit(st, out)
				again = true
			}
		}
		if !again {
			return out
		}
	}
}

// pickFrom returns the first attempt of q, by task id, that a worker can
// take, the worker, and a function that takes it off q; a nil attempt when
// none can run now. Stale attempts it meets are dropped, and stages whose
// inputs were lost are added to resubmit.
func (s *Scheduler) pickFrom(q *queues, resubmit *[]*stage) (*attempt, *worker, func()) {
	hm := s.headOf(&q.mapQ, resubmit)
	hr := s.headOf(&q.resultQ, resubmit)
	var pick *attempt
	var to *worker
	if hm != nil {
		if w := s.place(hm); w != nil {
			pick, to = hm, w
		}
	}
	if hr != nil && (pick == nil || hr.task.ID < pick.task.ID) {
		if w := s.place(hr); w != nil {
			pick, to = hr, w
		}
	}
	sp := -1
	kept := q.special[:0]
	for i, a := range q.special {
		if sp >= 0 || (pick != nil && a.task.ID > pick.task.ID) {
			kept = append(kept, q.special[i:]...)
			break
		}
		if stale, lost := s.stale(a); stale {
			a.stage.unpend(a.index)
			if lost && !slices.Contains(*resubmit, a.stage) {
				*resubmit = append(*resubmit, a.stage)
			}
			continue
		}
		if w := s.place(a); w != nil {
			pick, to, sp = a, w, len(kept)
		}
		kept = append(kept, a)
	}
	clear(q.special[len(kept):])
	q.special = kept
	if pick == nil {
		return nil, nil, nil
	}
	return pick, to, func() {
		switch {
		case sp >= 0:
			q.special = slices.Delete(q.special, sp, sp+1)
		case pick == hm:
			q.mapQ.pop()
		default:
			q.resultQ.pop()
		}
	}
}

// start runs a on w.
func (s *Scheduler) start(a *attempt, w *worker, out []Action) []Action {
	st := a.stage
	s.updateWorker(w, func() {
		w.busy++
		w.running[a.task.ID] = a
	})
	a.worker, a.started, a.epoch, a.records = w.name, s.now, st.epoch, -1
	a.task.Job = firstJob(st)
	a.task.Inputs = s.inputs(st, a.index)
	s.running[a.task.ID] = a
	if a.pool != nil {
		a.pool.running++
	}
	st.live[a.index] = append(st.live[a.index], a)
	s.graphRuns[st.graph]++
	if st.lostOutputs[a.index] {
		delete(st.lostOutputs, a.index)
		s.recomputed++
		a.task.Recomputed = true
	}
	return append(out, LaunchTask{Task: a.task, Worker: w.name})
}

// finish ends a running attempt, or returns nil for a stale report.
func (s *Scheduler) finish(id int64) *attempt {
	a := s.running[id]
	if a == nil {
		return nil
	}
	delete(s.running, id)
	if a.pool != nil {
		a.pool.running--
	}
	if w := s.workers[a.worker]; w != nil {
		s.updateWorker(w, func() {
			w.busy--
			delete(w.running, id)
		})
		if w.decommission {
			s.drainCheck[w.name] = true
		}
	}
	st := a.stage
	if l := slices.DeleteFunc(st.live[a.index], func(b *attempt) bool { return b == a }); len(l) > 0 {
		st.live[a.index] = l
	} else {
		delete(st.live, a.index)
	}
	if s.graphRuns[st.graph]--; s.graphRuns[st.graph] <= 0 {
		delete(s.graphRuns, st.graph)
	}
	st.unpend(a.index)
	return a
}

// sortedIDs returns the keys of running, sorted.
func sortedIDs(running map[int64]*attempt) []int64 {
	ids := make([]int64, 0, len(running))
	for id := range running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// runningWhere returns the ids of running attempts that keep accepts, in
// order, so that actions come out the same on every run.
func (s *Scheduler) runningWhere(keep func(*attempt) bool) []int64 {
	var ids []int64
	for id, a := range s.running {
		if keep(a) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// kill emits KillTask for the attempts not yet killed, in the given order.
func (s *Scheduler) kill(ids []int64, out []Action) []Action {
	for _, id := range ids {
		if a := s.running[id]; a != nil && !a.killed {
			a.killed = true
			out = append(out, KillTask{TaskID: id, Worker: a.worker})
		}
	}
	return out
}

// killOthers kills the attempts of task index i of st other than keep:
// their partition is done.
func (s *Scheduler) killOthers(st *stage, i int, keep int64, out []Action) []Action {
	var ids []int64
	for _, a := range st.live[i] {
		if a.task.ID != keep {
			ids = append(ids, a.task.ID)
		}
	}
	slices.Sort(ids)
	return s.kill(ids, out)
}
