package spill

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"unsafe"

	"github.com/sluicehq/sluice/internal/block"
)

// source is one sorted input of a merge: a run file or the sorted records
// in memory. Its part, key and val are the current record.
type source struct {
	part     int32
	key, val []byte
	pfx      uint64 // keyPrefix(key), compared before the key

	// A run file, streamed block by block.
	path string
	f    *os.File
	br   *block.Reader
	rest []byte // undecoded records of the current block

	// Records in memory.
	ents   []entry
	chunks [][]byte
	pos    int
	done   bool // exhausted
}

// memAhead is how many records ahead of the one it returns a source in
// memory prefetches: records come out in key order, scattered over the
// arena, and a prefetch overlaps their cache misses.
const memAhead = 16

// next moves to the source's next record; false means it is exhausted.
func (s *source) next() (bool, error) {
	if s.br == nil {
		if s.pos >= len(s.ents) {
			return false, nil
		}
		if p := s.pos + memAhead; p < len(s.ents) {
			a := s.ents[p].off
			prefetch(uintptr(unsafe.Pointer(unsafe.SliceData(s.chunks[a>>32]))) + uintptr(uint32(a)))
		}
		e := &s.ents[s.pos]
		s.pos++
		c, o := s.chunks[e.off>>32], int(uint32(e.off))
		kend := o + int(e.klen)
		vend := kend + int(e.vlen)
		s.part, s.key, s.val = e.part, c[o:kend:kend], c[kend:vend:vend]
		s.pfx = keyPrefix(s.key)
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
	s.pfx = keyPrefix(s.key)
	return true, nil
}

func (s *source) closeFile() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// merger is a k-way merge of sources by a loser tree (a tournament tree
// that keeps each match's loser): a record costs one comparison per level,
// against the loser stored there, instead of a heap's two. Ties go to the
// lower index: sources are ordered oldest first, so equal records come out
// in insertion order.
type merger struct {
	srcs    []source
	tree    []int // tree[0] is the winner; tree[1:] the losers of the matches
	byKey   bool
	started bool
	closed  bool
}

// init reads every source's first record and plays the tournament.
func (m *merger) init() error {
	k := len(m.srcs)
	for i := range m.srcs {
		ok, err := m.srcs[i].next()
		if err != nil {
			return err
		}
		m.srcs[i].done = !ok
	}
	if k == 0 {
		return nil
	}
	// Leaves are nodes k..2k-1; node n's children are 2n and 2n+1.
	win := make([]int, 2*k)
	for i := range k {
		win[k+i] = i
	}
	m.tree = make([]int, k)
	for n := k - 1; n >= 1; n-- {
		a, b := win[2*n], win[2*n+1]
		if m.less(b, a) {
			a, b = b, a
		}
		win[n], m.tree[n] = a, b
	}
	m.tree[0] = win[1]
	if k == 1 {
		m.tree[0] = 0
	}
	return nil
}

// next advances past the record returned last and returns the smallest
// current record's source.
func (m *merger) next() (*source, bool, error) {
	if len(m.tree) == 0 {
		return nil, false, nil
	}
	w := m.tree[0]
	if m.started {
		ok, err := m.srcs[w].next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			m.srcs[w].done = true
		}
		// Replay w's path to the root against the losers stored on it.
		for n := (w + len(m.srcs)) / 2; n >= 1; n /= 2 {
			if l := m.tree[n]; m.less(l, w) {
				m.tree[n], w = w, l
			}
		}
		m.tree[0] = w
	}
	m.started = true
	if m.srcs[w].done {
		return nil, false, nil
	}
	return &m.srcs[w], true, nil
}

// less orders sources by their current records; an exhausted source comes
// after every other.
func (m *merger) less(i, j int) bool {
	a, b := &m.srcs[i], &m.srcs[j]
	if a.done || b.done {
		if a.done != b.done {
			return b.done
		}
		return i < j
	}
	if a.part != b.part {
		return a.part < b.part
	}
	if m.byKey {
		if a.pfx != b.pfx {
			return a.pfx < b.pfx
		}
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c < 0
		}
	}
	return i < j
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
