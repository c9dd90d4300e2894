package scheduler

import (
	"time"

	"github.com/google/btree"
)

type worker struct {
	name        string
	slots, busy int
	draining    bool
	failures    int           // machine failures since the last exclusion
	excluded    time.Duration // excluded from new tasks until this Tick time
	lowDisk     bool          // takes no new map tasks
	running     map[int64]*attempt

	decommission bool // outputs move off it once idle (WorkerDraining.Move)
	moveStarted  bool // DrainWorker went out

	// What the slot index counted it as when it was last added.
	tree                    int // slotIndex tree holding it, or -1
	live, fitMap, fitResult bool
}

// Worker classes: the slot index keeps one tree of workers with free
// slots per class.
const (
	fitAll     = iota // takes any task
	resultOnly        // low on disk: no map tasks while another worker can take them
	unfit             // excluded: no task while another worker can take it
	classes
)

// slotIndex orders the workers with free slots, most free first then by
// name, in one tree per class, and counts the live workers fit for each
// kind of task, so placing a task costs O(log workers).
type slotIndex struct {
	trees                   [classes]*btree.BTreeG[*worker]
	live, fitMap, fitResult int // workers not draining with slots, by fitness
}

func lessFree(a, b *worker) bool {
	if fa, fb := a.slots-a.busy, b.slots-b.busy; fa != fb {
		return fa > fb
	}
	return a.name < b.name
}

func newSlotIndex() slotIndex {
	var x slotIndex
	for i := range x.trees {
		x.trees[i] = btree.NewG(8, lessFree)
	}
	return x
}

func (x *slotIndex) empty() bool {
	for _, t := range x.trees {
		if t.Len() > 0 {
			return false
		}
	}
	return true
}

// add counts w as it is at now.
func (x *slotIndex) add(w *worker, now time.Duration) {
	w.live = !w.draining && w.slots > 0
	ok := w.excluded <= now
	w.fitResult = w.live && ok
	w.fitMap = w.fitResult && !w.lowDisk
	w.tree = -1
	if w.live {
		x.live++
		if w.fitResult {
			x.fitResult++
		}
		if w.fitMap {
			x.fitMap++
		}
		if w.busy < w.slots {
			switch {
			case !ok:
				w.tree = unfit
			case w.lowDisk:
				w.tree = resultOnly
			default:
				w.tree = fitAll
			}
			x.trees[w.tree].ReplaceOrInsert(w)
		}
	}
}

// remove uncounts w, as add counted it.
func (x *slotIndex) remove(w *worker) {
	if w.tree >= 0 {
		x.trees[w.tree].Delete(w)
		w.tree = -1
	}
	if w.live {
		x.live--
	}
	if w.fitResult {
		x.fitResult--
	}
	if w.fitMap {
		x.fitMap--
	}
	w.live, w.fitMap, w.fitResult = false, false, false
}

// updateWorker changes w through change, keeping the slot index in step.
func (s *Scheduler) updateWorker(w *worker, change func()) {
	s.slots.remove(w)
	if change != nil {
		change()
	}
	s.slots.add(w, s.now)
	if w.excluded > s.now {
		s.excluded[w.name] = true
	}
}

func (s *Scheduler) addWorker(ev WorkerAdded) {
	w := s.workers[ev.Worker]
	if w == nil {
		w = &worker{name: ev.Worker, running: map[int64]*attempt{}, tree: -1}
		s.workers[ev.Worker] = w
	}
	s.updateWorker(w, func() { w.slots, w.draining = ev.Slots, false })
}

// endExclusions puts back the workers whose exclusion has ended by now.
func (s *Scheduler) endExclusions() {
	for n := range s.excluded {
		w := s.workers[n]
		if w == nil {
			delete(s.excluded, n)
			continue
		}
		if w.excluded <= s.now {
			delete(s.excluded, n)
			s.updateWorker(w, nil)
		}
	}
}

// place picks the worker with the most free slots for a (ties by name), or
// nil to wait. It takes only workers fit for the task (not excluded, not
// low on disk for a map task) unless none is, rather than strand the job;
// never a's avoid (a speculative copy's original); and a's shun (where a
// machine failure hit it) only when no other worker could ever take it.
func (s *Scheduler) place(a *attempt) *worker {
	isMap := a.stage.shuffle != 0
	fitOnly := s.slots.fitResult > 0
	if isMap {
		fitOnly = s.slots.fitMap > 0
	}
	counts := func(w *worker) bool {
		switch {
		case w == nil:
			return false
		case !fitOnly:
			return w.live
		case isMap:
			return w.fitMap
		}
		return w.fitResult
	}
	shun := a.shun
	if shun != "" {
		n := s.slots.live
		if fitOnly {
			n = s.slots.fitResult
			if isMap {
				n = s.slots.fitMap
			}
		}
		if counts(s.workers[shun]) {
			n--
		}
		if a.avoid != shun && counts(s.workers[a.avoid]) {
			n--
		}
		if n <= 0 {
			shun = ""
		}
	}
	trees := []int{fitAll, resultOnly, unfit}
	if fitOnly {
		trees = trees[:1]
		if !isMap {
			trees = trees[:2]
		}
	}
	var best *worker
	for _, t := range trees {
		s.slots.trees[t].Ascend(func(w *worker) bool {
			if w.name == a.avoid || w.name == shun {
				return true
			}
			if best == nil || lessFree(w, best) {
				best = w
			}
			return false
		})
	}
	return best
}

// machineFailure counts a machine failure against a worker and excludes it
// once it has MaxWorkerFailures.
func (s *Scheduler) machineFailure(name string) {
	w := s.workers[name]
	if w == nil || s.cfg.MaxWorkerFailures <= 0 {
		return
	}
	if w.failures++; w.failures >= s.cfg.MaxWorkerFailures {
		s.updateWorker(w, func() {
			w.failures = 0
			w.excluded = s.now + s.cfg.ExcludeFor
		})
	}
}

// removeWorker withdraws a worker: its outputs are unregistered (or move
// to their replicas) and its running attempts are lost.
func (s *Scheduler) removeWorker(ev WorkerRemoved, out []Action) []Action {
	w := s.workers[ev.Worker]
	if w != nil {
		s.noteLost(ev.Worker)
	}
	var ids []int64
	if w != nil {
		s.slots.remove(w)
		delete(s.workers, ev.Worker)
		delete(s.excluded, ev.Worker)
		delete(s.drainCheck, ev.Worker)
		ids = sortedIDs(w.running)
	}
	out = s.unregisterWorker(ev.Worker, out)
	for _, id := range ids {
		out = s.taskFailed(TaskFailed{TaskID: id, Err: workerLostError{ev.Worker, ev.Reason}, Lost: true}, out)
	}
	return out
}

// workerLostError is the error of an attempt lost with its worker.
type workerLostError struct{ worker, reason string }

func (e workerLostError) Error() string { return "worker " + e.worker + " lost: " + e.reason }
