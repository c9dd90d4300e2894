package scheduler

import "fmt"

func (s *Scheduler) DebugState() string {
	out := fmt.Sprintf("running=%d queue=%d workers=%v\n", len(s.running), len(s.queue), s.WorkerNames())
	for _, w := range s.WorkerNames() {
		out += fmt.Sprintf("  worker %s slots=%d busy=%d\n", w, s.workers[w].slots, s.workers[w].busy)
	}
	for id, st := range s.stagesByID {
		var outs []*MapStatus
		if st.shuffle != 0 {
			outs = s.outputs[shuffleKey{st.graph, st.shuffle}]
		}
		avail := 0
		for _, m := range outs {
			if m != nil {
				avail++
			}
		}
		out += fmt.Sprintf("  stage %d shuffle=%d jobs=%v waiting=%v pending=%v avail=%d/%d done=%v ff=%d\n", id, st.shuffle, st.jobs, st.waiting, st.pending, avail, len(outs), st.done, st.fetchFailures)
	}
	return out
}
