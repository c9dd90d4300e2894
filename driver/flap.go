package driver

import "time"

// Flapping, from the driver's heartbeats: an executor that misses
// flapMissed beats in a row and then answers again has "flapped"; one that
// flaps flapCount times within flapWindow is excluded from new tasks for
// flapExclude, and again each time it flaps while excluded.
const (
	flapMissed  = 2
	flapCount   = 3
	flapWindow  = 2 * time.Minute
	flapExclude = 2 * time.Minute
)

// flapDetector follows one executor's heartbeats.
type flapDetector struct {
	missed int
	flaps  []time.Time // within flapWindow, oldest first
}

// beat records a heartbeat that was answered (ok) or not, at now, and
// reports whether the executor is flapping.
func (f *flapDetector) beat(ok bool, now time.Time) bool {
	if !ok {
		f.missed++
		return false
	}
	came := f.missed >= flapMissed
	f.missed = 0
	if !came {
		return false
	}
	keep := f.flaps[:0]
	for _, t := range f.flaps {
		if now.Sub(t) < flapWindow {
			keep = append(keep, t)
		}
	}
	f.flaps = append(keep, now)
	return len(f.flaps) >= flapCount
}
