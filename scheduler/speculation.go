package scheduler

import (
	"container/heap"
	"slices"
	"time"
)

// tick applies the time: exclusions end, silent commit grants are
// released, stranded jobs fail, and stragglers get speculative copies.
func (s *Scheduler) tick(now time.Duration, out []Action) []Action {
	s.now = now
	s.endExclusions()
	s.expireCommits()
	out = s.strandedCheck(out)
	if !s.cfg.Speculation || len(s.workers) < 2 {
		return out
	}
	s.speculateSlow()
	s.speculateStragglers()
	return out
}

// speculateStragglers launches copies of stragglers: in a stage where at
// least the quantile of tasks has finished, a task running longer than the
// multiplier times the median duration gets a copy on another worker (as
// Spark's spark.speculation.multiplier and .quantile). It costs the
// attempts running, which the slots bound.
func (s *Scheduler) speculateStragglers() {
	for _, id := range sortedIDs(s.running) {
		a := s.running[id]
		st := a.stage
		if len(st.jobs) == 0 || st.pending[a.index] > 1 || st.durations.len() == 0 {
			continue
		}
		if st.durations.len() < int(s.cfg.SpeculationQuantile*float64(st.parts)) {
			continue
		}
		limit := max(time.Duration(s.cfg.SpeculationMultiplier*float64(st.durations.median())), s.cfg.SpeculationMinRuntime)
		if s.now-a.started > limit && !s.completed(st, a.index) {
			s.enqueue(st, a.index, a.worker, "")
			s.speculated++
		}
	}
}

// speculateSlow gives a copy to each running task reading far slower than
// the median of its stage's running tasks, however few of the stage's
// tasks have finished: a task on a sick machine (a failing disk, a
// throttled host) need not wait for 90% of its stage.
func (s *Scheduler) speculateSlow() {
	ids := s.runningWhere(func(a *attempt) bool { return a.records >= 0 && len(a.stage.jobs) > 0 })
	rate := func(a *attempt) float64 {
		return float64(a.records) / max(float64(s.now-a.started), 1)
	}
	rates := map[*stage][]float64{}
	for _, id := range ids {
		a := s.running[id]
		rates[a.stage] = append(rates[a.stage], rate(a))
	}
	medians := map[*stage]float64{}
	for st, r := range rates {
		slices.Sort(r)
		medians[st] = r[len(r)/2]
	}
	for _, id := range ids {
		a := s.running[id]
		st := a.stage
		if len(rates[st]) < 3 || st.pending[a.index] > 1 || s.now-a.started < s.cfg.SpeculationSlowAfter || s.completed(st, a.index) {
			continue
		}
		if rate(a) < s.cfg.SpeculationSlowRate*medians[st] {
			s.enqueue(st, a.index, a.worker, "")
			s.speculated++
		}
	}
}

// median keeps the median of the durations added so far in O(log n) per
// addition: the element at index n/2 of them sorted.
type median struct {
	lo maxHeap // the smallest n/2
	hi minHeap // the rest; its least is the median
}

func (m *median) len() int { return len(m.lo) + len(m.hi) }

func (m *median) add(d time.Duration) {
	if len(m.hi) > 0 && d >= m.hi[0] {
		heap.Push(&m.hi, d)
	} else {
		heap.Push(&m.lo, d)
	}
	n := m.len()
	for len(m.lo) > n/2 {
		heap.Push(&m.hi, heap.Pop(&m.lo))
	}
	for len(m.lo) < n/2 {
		heap.Push(&m.lo, heap.Pop(&m.hi))
	}
}

func (m *median) median() time.Duration { return m.hi[0] }

type minHeap []time.Duration

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type maxHeap []time.Duration

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
