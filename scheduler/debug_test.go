package scheduler

import "fmt"

func (s *Scheduler) DebugState() string {
	out := fmt.Sprintf("running=%d queued=%d+%d+%d workers=%v\n", len(s.running), s.q.mapQ.len(), s.q.resultQ.len(), len(s.q.special), s.WorkerNames())
	for _, w := range s.WorkerNames() {
		out += fmt.Sprintf("  worker %s slots=%d busy=%d\n", w, s.workers[w].slots, s.workers[w].busy)
	}
	for id := range s.nextStage {
		st := s.stagesByID[id]
		if st == nil {
			continue
		}
		avail, n := 0, 0
		if st.shuffle != 0 {
			n, avail = st.out.maps, st.out.maps-st.out.missing
		}
		out += fmt.Sprintf("  stage %d shuffle=%d jobs=%v waiting=%v pending=%v avail=%d/%d done=%v ff=%d\n", id, st.shuffle, st.jobs, st.waiting, st.pending, avail, n, st.done, st.fetchFailures)
	}
	return out
}
