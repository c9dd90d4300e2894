package scheduler

import (
	"fmt"
	"slices"
)

func (s *Scheduler) taskSucceeded(ev TaskSucceeded, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil {
		return out // a stale report
	}
	st := a.stage
	if s.forgotten(st) || a.epoch != st.epoch {
		if a.epoch != st.epoch && st.pending[a.index] == 0 && len(st.jobs) > 0 && !s.completed(st, a.index) && s.parentsAvailable(st) {
			s.enqueue(st, a.index, "", "")
		}
		return out
	}
	if st.shuffle != 0 {
		if !st.out.has(a.index) && ev.MapStatus != nil && s.workers[ev.MapStatus.Worker] != nil {
			ms := ev.MapStatus
			replica := ms.Replica
			if s.workers[replica] == nil {
				replica = "" // its core worker is gone already
			}
			s.nextGen++
			s.setOutput(st, a.index, outEntry{worker: ms.Worker, replica: replica, gen: s.nextGen, sizes: compressSizes(ms.Sizes)})
			st.durations.add(s.now - a.started)
			out = s.killOthers(st, a.index, ev.TaskID, out)
		}
		if !s.available(st) {
			if !st.out.has(a.index) && len(st.jobs) > 0 && st.pending[a.index] == 0 {
				s.enqueue(st, a.index, "", "") // its worker is already gone
			}
			return out
		}
		st.fetchFailures = 0
		// The stage is complete: start the stages that waited on it.
		var ready []*stage
		for _, w := range s.stagesByID {
			if w.waiting && slices.Contains(w.parents, st) && len(w.jobs) > 0 {
				ready = append(ready, w)
			}
		}
		slices.SortFunc(ready, func(a, b *stage) int { return a.id - b.id })
		for _, w := range ready {
			out = s.submit(w, out)
		}
		return out
	}
	if st.done[a.index] || st.job.done {
		return out
	}
	st.markDone(a.index)
	delete(st.grants, a.task.Partition)
	st.fetchFailures = 0
	st.durations.add(s.now - a.started)
	out = s.killOthers(st, a.index, ev.TaskID, out)
	j := st.job
	out = append(out, DeliverResult{Job: j.id, Partition: st.resultParts[a.index], Data: ev.Result})
	j.left--
	if j.left == 0 {
		out = append(out, JobSucceeded{Job: j.id})
		out = s.endJob(j, out)
	}
	return out
}

func (s *Scheduler) taskFailed(ev TaskFailed, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil || s.forgotten(a.stage) {
		return out
	}
	st := a.stage
	if st.shuffle == 0 {
		if c, ok := st.grants[a.task.Partition]; ok && c.attempt == a.task.Attempt {
			delete(st.grants, a.task.Partition) // the authorised attempt died: let another commit
		}
	}
	if s.completed(st, a.index) || a.epoch != st.epoch {
		return out // another attempt already succeeded, or a rollback outdated this one
	}
	if ev.Machine {
		s.machineFailure(a.worker)
	}
	var err error
	if ev.Lost || ev.Machine {
		st.losses[a.index]++
		if int(st.losses[a.index]) >= s.cfg.MaxTaskLosses {
			err = fmt.Errorf("%w: task %d of stage %d (%s) was lost %d times; last: %v",
				ErrTaskLost, a.task.Partition, st.id, st.name, st.losses[a.index], ev.Err)
		}
	} else {
		st.failures[a.index]++
		switch {
		case ev.Permanent:
			// Retrying cannot help: the same input meets the same error.
			err = fmt.Errorf("%w: task %d of stage %d (%s) failed on %s with an error that cannot change on retry: %w",
				ErrTaskFailed, a.task.Partition, st.id, st.name, a.worker, ev.Err)
		case int(st.failures[a.index]) >= s.cfg.MaxTaskFailures:
			err = fmt.Errorf("%w: task %d of stage %d (%s) failed %d times, last on %s: %w",
				ErrTaskFailed, a.task.Partition, st.id, st.name, st.failures[a.index], a.worker, ev.Err)
		}
	}
	if err != nil {
		return s.failJobs(st, err, out)
	}
	if len(st.jobs) > 0 && st.pending[a.index] == 0 {
		shun := ""
		if ev.Machine {
			shun = a.worker // its machine failed this attempt: try another
		}
		s.enqueue(st, a.index, "", shun)
	}
	return out
}

// fetchFailed handles a task that could not read a map output: the output
// is unregistered unless the report is stale, and the task's stage waits
// for its parent to recompute what is missing. Too many in a row fail the
// stage's jobs.
func (s *Scheduler) fetchFailed(ev FetchFailed, out []Action) []Action {
	a := s.finish(ev.TaskID)
	if a == nil || s.forgotten(a.stage) {
		return out
	}
	if a.epoch != a.stage.epoch {
		// Outdated by a rollback: its parent reruns anyway.
		if len(a.stage.jobs) > 0 && !a.stage.waiting {
			out = s.submit(a.stage, out)
		}
		return out
	}
	st := a.stage
	var parent *stage
	for _, p := range st.parents {
		if p.shuffle == ev.Shuffle {
			parent = p
		}
	}
	fresh := false // the report names the current registration
	if parent != nil && ev.Map >= 0 && ev.Map < parent.out.maps {
		if m := *parent.out.get(ev.Map); m.worker != "" && m.worker == ev.Worker && m.gen == ev.Gen {
			fresh = true
			if m.replica != "" && s.workers[m.replica] != nil {
				s.nextGen++
				s.setOutput(parent, ev.Map, outEntry{worker: m.replica, sizes: m.sizes, gen: s.nextGen})
			} else {
				if s.available(parent) {
					s.stagesRecomputed++
				}
				s.setOutput(parent, ev.Map, outEntry{})
				parent.markLost(ev.Map)
			}
		}
	}
	if parent != nil && parent.indeterminate && !s.available(parent) {
		out = s.rollback(parent, out)
		if len(st.jobs) == 0 {
			return out
		}
	}
	// Reports about an output already unregistered (its worker was lost, or
	// a sibling task reported it first) are one failure, counted once.
	if fresh {
		st.fetchFailures++
	}
	if st.fetchFailures >= s.cfg.MaxStageFailures {
		err := fmt.Errorf("%w: stage %d (%s) failed %d times in a row: could not read map output %d of shuffle %d from %s: %s; workers lost: %s",
			ErrStageFailed, st.id, st.name, st.fetchFailures, ev.Map, ev.Shuffle, ev.Worker, ev.Err, s.LostSummary())
		return s.failJobs(st, err, out)
	}
	// The parent may be recomputing other lost outputs already; queue this
	// one too. Then the reading stage waits for it.
	if parent != nil && len(parent.jobs) > 0 && !parent.waiting {
		out = s.submit(parent, out)
	}
	if len(st.jobs) == 0 || st.waiting {
		return out
	}
	return s.submit(st, out)
}

// unregisterWorker forgets the map outputs a lost worker held, or moves
// them to their replicas. Map stages that an active job needs and that
// lost outputs are submitted again at once, so recomputation starts
// before reducers trip over the gap. It costs what the worker held.
func (s *Scheduler) unregisterWorker(worker string, out []Action) []Action {
	var hit []*stage
	// In order: generations are numbered as outputs move, and the same
	// events must give the same generations.
	refs := s.heldBy(worker)
	for len(refs) > 0 {
		k := shuffleKey{refs[0].Graph, refs[0].Shuffle}
		n := 1
		for n < len(refs) && refs[n].Graph == k.graph && refs[n].Shuffle == k.shuffle {
			n++
		}
		group := refs[:n]
		refs = refs[n:]
		st := s.mapStages[k]
		if st == nil {
			continue
		}
		t := st.out
		if s.available(st) && slices.ContainsFunc(group, func(r OutputRef) bool {
			e := t.get(r.Map)
			return e.worker == worker && (e.replica == "" || s.workers[e.replica] == nil)
		}) {
			s.stagesRecomputed++
		}
		for _, r := range group {
			e := *t.get(r.Map)
			if e.replica == worker {
				e.replica = ""
				s.setOutput(st, r.Map, e)
			}
			switch {
			case e.worker != worker:
			case e.replica != "" && s.workers[e.replica] != nil:
				// The copy on a core worker takes over: nothing to recompute.
				s.nextGen++
				s.setOutput(st, r.Map, outEntry{worker: e.replica, sizes: e.sizes, gen: s.nextGen})
			default:
				s.setOutput(st, r.Map, outEntry{})
				st.markLost(r.Map)
				if !slices.Contains(hit, st) {
					hit = append(hit, st)
				}
			}
		}
	}
	slices.SortFunc(hit, func(a, b *stage) int { return a.id - b.id })
	for _, st := range hit {
		if st.indeterminate {
			out = s.rollback(st, out)
		}
	}
	for _, st := range hit {
		if len(st.jobs) > 0 && !st.waiting {
			out = s.submit(st, out)
		}
	}
	return out
}

// outputMoved re-registers a map output copied to another worker.
func (s *Scheduler) outputMoved(ev MapOutputMoved) {
	k := shuffleKey{ev.Output.Graph, ev.Output.Shuffle}
	st := s.mapStages[k]
	if st == nil || ev.Output.Map < 0 || ev.Output.Map >= st.out.maps || s.workers[ev.To] == nil {
		return
	}
	if e := *st.out.get(ev.Output.Map); e.worker != "" && e.worker == ev.From {
		s.nextGen++
		s.setOutput(st, ev.Output.Map, outEntry{worker: ev.To, sizes: e.sizes, gen: s.nextGen})
	}
}

// rollback handles a lost output of an indeterminate stage: rerunning any
// of its tasks may move records between its reduce partitions, so every
// output of it, and of every map stage downstream, is discarded and rerun.
// A job that already received results computed from the old outputs
// cannot be made consistent: it fails with a message saying so.
func (s *Scheduler) rollback(st *stage, out []Action) []Action {
	ids := make([]int, 0, len(s.stagesByID))
	for id := range s.stagesByID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var rolled []*stage
	for _, id := range ids {
		d := s.stagesByID[id]
		if d == nil || (d != st && !d.descendsFrom(st)) {
			continue
		}
		rolled = append(rolled, d)
		// Attempts already running read or wrote the old version: their
		// results must not mix with the new one.
		d.epoch++
		out = s.kill(s.runningWhere(func(a *attempt) bool { return a.stage == d }), out)
		if d.shuffle != 0 {
			for i := range d.out.maps {
				if d.out.has(i) {
					s.setOutput(d, i, outEntry{})
					d.markLost(i)
				}
			}
			continue
		}
		if d.job != nil && !d.job.done && d.doneN > 0 {
			out = s.failJobs(d, fmt.Errorf("%w: stage %d (%s) is indeterminate (its output depends on input order) and lost an output after stage %d had delivered results computed from it; rerun the job, or make the lineage deterministic (sort, or partition by key, instead of Repartition)",
				ErrStageFailed, st.id, st.name, d.id), out)
		}
	}
	// Every stage rolled back runs again once its inputs do: the attempts
	// just killed will not bring it back.
	for _, d := range rolled {
		if len(d.jobs) > 0 && !d.waiting {
			out = s.submit(d, out)
		}
	}
	return out
}
