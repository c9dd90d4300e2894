package obs

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/units"
)

// JobSummary describes a finished job in a few lines, for the end of a
// job on a terminal (-v or --summary):
//
//	job 3 SUCCEEDED in 12.4s: 2 stages, 412 tasks (3 lost, 5 recomputed)
//	  records 1,204,332 in, 48,211 out · shuffle 81.2 MiB written, 81.2 MiB read · spilled 0 B
func (s *Store) JobSummary(id int) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.jobIdx[id]
	if !ok {
		return ""
	}
	j := s.snap.Jobs[i]
	var tot Metrics
	var stages, tasks, lost, recomputed, failed int
	for _, st := range s.snap.Stages {
		if st.Job != id {
			continue
		}
		stages++
		tot.add(st.Totals)
		for _, t := range st.Rows {
			tasks++
			switch t.Status {
			case Lost:
				lost++
			case Failed:
				failed++
			}
			if t.Recomputed {
				recomputed++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "job %d %s in %s: %d stages, %d tasks", j.ID, j.Status, time.Duration(j.End-j.Start)*time.Millisecond, stages, tasks)
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d failed", failed))
	}
	if lost > 0 {
		notes = append(notes, fmt.Sprintf("%d lost", lost))
	}
	if recomputed > 0 {
		notes = append(notes, fmt.Sprintf("%d recomputed", recomputed))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintf(&b, "\n  records %s in, %s out · shuffle %s written, %s read · spilled %s",
		units.Count(tot.RecordsIn), units.Count(tot.RecordsOut), units.HumanBytes(tot.ShuffleWrite), units.HumanBytes(tot.ShuffleRead), units.HumanBytes(tot.SpillBytes))
	if j.Error != "" {
		fmt.Fprintf(&b, "\n  error: %s", j.Error)
	}
	return b.String()
}
