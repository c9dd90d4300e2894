package scheduler

import (
	"cmp"
	"slices"
)

// The map-output table of one shuffle: where each map output lives, its
// generation and its sizes. Reduce tasks get a snapshot of it, which the
// table shares until its next change (copy on write, chunk by chunk), so
// launching a reducer costs O(1) however many map outputs it reads and a
// change after a launch copies one chunk and the chunk directory.

// chunkSize is the number of map outputs per chunk of a table.
const chunkSize = 128

// outEntry is one registered map output; a zero entry (no worker) is
// missing.
type outEntry struct {
	worker  string
	replica string
	gen     int64
	sizes   *mapSizes
}

type outChunk [chunkSize]outEntry

// outputTable is the map-output table of one shuffle.
type outputTable struct {
	maps    int
	missing int
	chunks  []*outChunk
	// frozen: a snapshot holds chunks; owned[i]: chunks[i] is not shared
	// with any snapshot and may be written in place.
	frozen bool
	owned  []bool
}

func newOutputTable(maps int) *outputTable {
	n := (maps + chunkSize - 1) / chunkSize
	t := &outputTable{maps: maps, missing: maps, chunks: make([]*outChunk, n), owned: make([]bool, n)}
	for i := range t.chunks {
		t.chunks[i] = new(outChunk)
		t.owned[i] = true
	}
	return t
}

func (t *outputTable) get(i int) *outEntry { return &t.chunks[i/chunkSize][i%chunkSize] }

func (t *outputTable) has(i int) bool { return i >= 0 && i < t.maps && t.get(i).worker != "" }

// set replaces entry i, copying what a snapshot shares first.
func (t *outputTable) set(i int, e outEntry) {
	if t.frozen {
		t.chunks = slices.Clone(t.chunks)
		clear(t.owned)
		t.frozen = false
	}
	c := i / chunkSize
	if !t.owned[c] {
		cp := *t.chunks[c]
		t.chunks[c] = &cp
		t.owned[c] = true
	}
	old := &t.chunks[c][i%chunkSize]
	switch {
	case old.worker == "" && e.worker != "":
		t.missing--
	case old.worker != "" && e.worker == "":
		t.missing++
	}
	*old = e
}

// snapshot returns the table as it is now, unchanged by later sets.
func (t *outputTable) snapshot() *outputSnap {
	t.frozen = true
	return &outputSnap{maps: t.maps, chunks: t.chunks}
}

// outputSnap is an immutable view of a table.
type outputSnap struct {
	maps   int
	chunks []*outChunk
}

func (s *outputSnap) get(i int) *outEntry { return &s.chunks[i/chunkSize][i%chunkSize] }

// holdings indexes the map outputs a worker holds or keeps a replica of,
// so that losing it costs what it held, not the whole table.
type holdings map[OutputRef]struct{}

// hold records that worker holds (or keeps a replica of) ref.
func (s *Scheduler) hold(worker string, ref OutputRef) {
	if worker == "" {
		return
	}
	h := s.held[worker]
	if h == nil {
		h = holdings{}
		s.held[worker] = h
	}
	h[ref] = struct{}{}
}

func (s *Scheduler) unhold(worker string, ref OutputRef) {
	if h := s.held[worker]; h != nil {
		delete(h, ref)
		if len(h) == 0 {
			delete(s.held, worker)
		}
	}
}

// heldBy returns the outputs worker holds or keeps a replica of, in order.
func (s *Scheduler) heldBy(worker string) []OutputRef {
	refs := make([]OutputRef, 0, len(s.held[worker]))
	for r := range s.held[worker] {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, compareRefs)
	return refs
}

func compareRefs(a, b OutputRef) int {
	return cmp.Or(cmp.Compare(a.Graph, b.Graph), cmp.Compare(a.Shuffle, b.Shuffle), cmp.Compare(a.Map, b.Map))
}

// setOutput registers (or, with a zero entry, unregisters) map output i of
// st, keeping the holdings index and st's counters in step.
func (s *Scheduler) setOutput(st *stage, i int, e outEntry) {
	t := st.out
	old := *t.get(i)
	ref := OutputRef{Graph: st.graph, Shuffle: st.shuffle, Map: i}
	if old.worker != "" {
		s.unhold(old.worker, ref)
		s.unhold(old.replica, ref)
	}
	t.set(i, e)
	if e.worker != "" {
		s.hold(e.worker, ref)
		s.hold(e.replica, ref)
	}
	st.refreshIdle(i)
}

// dropTable forgets st's table and its holdings.
func (s *Scheduler) dropTable(st *stage) {
	t := st.out
	for i := range t.maps {
		if e := t.get(i); e.worker != "" {
			ref := OutputRef{Graph: st.graph, Shuffle: st.shuffle, Map: i}
			s.unhold(e.worker, ref)
			s.unhold(e.replica, ref)
		}
	}
	delete(s.outputs, shuffleKey{st.graph, st.shuffle})
}

// OutputsOn lists the map outputs registered on worker, in order.
func (s *Scheduler) OutputsOn(worker string) []OutputRef {
	var refs []OutputRef
	for _, r := range s.heldBy(worker) {
		if t := s.outputs[shuffleKey{r.Graph, r.Shuffle}]; t != nil && t.get(r.Map).worker == worker {
			refs = append(refs, r)
		}
	}
	return refs
}

// MapOutputBytes estimates the memory the map-output tables hold.
func (s *Scheduler) MapOutputBytes() int {
	n := 0
	for _, t := range s.outputs {
		n += len(t.chunks) * (8 + int(chunkBytes))
		seen := map[*mapSizes]bool{}
		for i := range t.maps {
			if sz := t.get(i).sizes; sz != nil && !seen[sz] {
				seen[sz] = true
				n += sz.bytes()
			}
		}
	}
	return n
}

// chunkBytes is the size of one chunk of a table.
const chunkBytes = chunkSize * (16 + 16 + 8 + 8)
