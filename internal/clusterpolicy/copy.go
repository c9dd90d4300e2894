package clusterpolicy

// Candidate is a worker as the choice of a copy's destination sees it.
type Candidate struct {
	Name     string
	Core     bool // its role is core: it is never reclaimed
	Ready    bool // its executor is up (the driver can reach it)
	Draining bool // it is decommissioning: it takes no copies
}

// Eligible reports whether c may receive a copy of an output held by the
// worker named from.
func (c Candidate) Eligible(from string) bool {
	return c.Core && c.Ready && !c.Draining && c.Name != from
}

// CopyTarget returns the index in ws of the worker to receive a copy of
// map output m (a partition number, not negative) held by the worker named
// from: a replica (--shuffle-replicas 1) or an output moved off a draining
// worker. Copies spread over the eligible workers, taken in the order of
// ws, which must be sorted by name so that the choice depends on nothing
// but the cluster: number m % count. It returns -1 when no worker is
// eligible: the output gets no copy.
func CopyTarget(ws []Candidate, m int, from string) int {
	n := 0
	for _, w := range ws {
		if w.Eligible(from) {
			n++
		}
	}
	if n == 0 {
		return -1
	}
	k := m % n
	for i, w := range ws {
		if w.Eligible(from) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1 // not reached: n counted an eligible worker at k or after
}
