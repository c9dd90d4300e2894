package clusterpolicy

import "time"

// Flapping, from the driver's heartbeats: an executor that misses
// FlapMissed beats in a row and then answers again has "flapped"; one that
// flaps FlapCount times within FlapWindow is excluded from new tasks for
// FlapExclude, and again each time it flaps while excluded.
const (
	FlapMissed  = 2
	FlapCount   = 3
	FlapWindow  = 2 * time.Minute
	FlapExclude = 2 * time.Minute
)

// FlapDetector follows one executor's heartbeats. The zero value is ready
// for a new executor.
type FlapDetector struct {
	missed int
	flaps  []time.Time // within FlapWindow, oldest first; at most FlapCount
}

// Beat records a heartbeat that was answered (ok) or not, at now, and
// reports whether the executor is flapping.
func (f *FlapDetector) Beat(ok bool, now time.Time) bool {
	if !ok {
		f.missed++
		return false
	}
	came := f.missed >= FlapMissed
	f.missed = 0
	if !came {
		return false
	}
	keep := f.flaps[:0]
	for _, t := range f.flaps {
		if now.Sub(t) < FlapWindow {
			keep = append(keep, t)
		}
	}
	f.flaps = append(keep, now)
	return len(f.flaps) >= FlapCount
}
