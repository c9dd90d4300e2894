package spill

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/sluicehq/sluice/internal/block"
)

// source is one sorted input of a merge: a run file or the sorted records
// in memory. Its part, key and val are the current record.
type source struct {
	part     int32
	key, val []byte

	// A run file, streamed block by block.
	path string
	f    *os.File
	br   *block.Reader
	rest []byte // undecoded records of the current block

	// Records in memory.
	ents  []entry
	arena []byte
	pos   int
}

// next moves to the source's next record; false means it is exhausted.
func (s *source) next() (bool, error) {
	if s.br == nil {
		if s.pos >= len(s.ents) {
			return false, nil
		}
		e := s.ents[s.pos]
		s.pos++
		kend := e.off + int(e.klen)
		vend := kend + int(e.vlen)
		s.part, s.key, s.val = e.part, s.arena[e.off:kend:kend], s.arena[kend:vend:vend]
		return true, nil
	}
	for len(s.rest) == 0 {
		if s.f == nil {
			return false, nil
		}
		p, err := s.br.Next()
		if err == io.EOF {
			s.closeFile()
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("spill: reading run %s: %w", s.path, err)
		}
		s.rest = p
	}
	pf, rest, err := block.NextFrame(s.rest)
	if err == nil {
		s.key, rest, err = block.NextFrame(rest)
	}
	if err == nil {
		s.val, rest, err = block.NextFrame(rest)
	}
	if err != nil {
		return false, fmt.Errorf("spill: reading run %s: %w", s.path, err)
	}
	v, n := binary.Uvarint(pf)
	if n <= 0 || n != len(pf) || v > math.MaxInt32 {
		return false, fmt.Errorf("spill: reading run %s: %w: bad partition frame %x", s.path, block.ErrCorrupt, pf)
	}
	s.part, s.rest = int32(v), rest
	return true, nil
}

func (s *source) closeFile() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// merger is a k-way merge of sources by a binary min-heap of source
// indexes. Ties go to the lower index: sources are ordered oldest first, so
// equal records come out in insertion order.
type merger struct {
	srcs    []source
	heap    []int
	byKey   bool
	started bool
	closed  bool
}

// init reads every source's first record and builds the heap.
func (m *merger) init() error {
	m.heap = make([]int, 0, len(m.srcs))
	for i := range m.srcs {
		ok, err := m.srcs[i].next()
		if err != nil {
			return err
		}
		if ok {
			m.heap = append(m.heap, i)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return nil
}

// next advances past the record returned last and returns the smallest
// current record's source.
func (m *merger) next() (*source, bool, error) {
	if m.started && len(m.heap) > 0 {
		ok, err := m.srcs[m.heap[0]].next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		m.down(0)
	}
	m.started = true
	if len(m.heap) == 0 {
		return nil, false, nil
	}
	return &m.srcs[m.heap[0]], true, nil
}

func (m *merger) less(i, j int) bool {
	a, b := &m.srcs[i], &m.srcs[j]
	if a.part != b.part {
		return a.part < b.part
	}
	if m.byKey {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c < 0
		}
	}
	return i < j
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (m *merger) close() {
	m.closed = true
	for i := range m.srcs {
		m.srcs[i].closeFile()
	}
}

// Iterator yields the sorted records of a Sorter.
type Iterator struct {
	m    merger
	part int32
	key  []byte
	val  []byte
	err  error
	done bool
}

// Next moves to the next record and reports whether there is one. At the
// end, or on an error (see Err), it returns false.
func (it *Iterator) Next() bool {
	if it.done {
		return false
	}
	if it.m.closed {
		it.finish(ErrFinished)
		return false
	}
	src, ok, err := it.m.next()
	if err != nil || !ok {
		it.finish(err)
		return false
	}
	it.part, it.key, it.val = src.part, src.key, src.val
	return true
}

func (it *Iterator) finish(err error) {
	it.err, it.done = err, true
	it.key, it.val = nil, nil
	it.m.close()
}

// Part returns the current record's partition.
func (it *Iterator) Part() int { return int(it.part) }

// Key returns the current record's key, valid until the next call to Next.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current record's value, valid until the next call to
// Next.
func (it *Iterator) Value() []byte { return it.val }

// Err returns the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.err }
