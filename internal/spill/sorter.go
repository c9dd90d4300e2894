package spill

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unsafe"

	"github.com/sluicehq/sluice/internal/block"
)

// DefaultBudget is the memory budget of a Config whose Budget is <= 0.
const DefaultBudget = 64 << 20

// DefaultMergeFactor is the merge factor of a Config whose MergeFactor is <= 0.
const DefaultMergeFactor = 64

// RecordOverhead is the least a record costs in memory beyond its key and
// value bytes: its sort entry. Records of several partitions cost twice
// that (the counting sort's second entry slice), and the buffers count by
// capacity, so a Sorter holds fewer records than budget / (size + 32).
const RecordOverhead = 32

// runBufferSize is the write buffer of a run file.
const runBufferSize = 256 << 10

// maxRecordFraming bounds the framing a record adds in a run file: a
// partition frame (1 + 5 bytes) and two length prefixes (5 bytes each).
const maxRecordFraming = 16

// ErrFinished is returned by Add after Iter or Close, and by Iter after
// Iter or Close.
var ErrFinished = errors.New("spill: sorter already finished")

// Config configures a Sorter.
type Config struct {
	// Dir is where run files go; it is created if missing. Required.
	Dir string
	// Budget is the memory, in bytes, that the sorter's buffers of records
	// (the arena of keys and values and the sort entries, by capacity) may
	// take before the records are spilled as a sorted run; <= 0 means
	// DefaultBudget. Run and merge buffers (MergeFactor) are not in it.
	Budget int64
	// Codec compresses run files.
	Codec block.Codec
	// ByKey sorts records by key bytes within a partition; otherwise records
	// keep their insertion order within a partition.
	ByKey bool
	// Pool, when set, gives the sorter the record buffers of a closed one
	// and takes its own back at Close.
	Pool *Pool
	// MergeFactor is the most runs read at once; more runs are first merged
	// in groups of this size. Each open run costs about 200 KiB of buffers.
	// <= 0 means DefaultMergeFactor; 1 is treated as 2.
	MergeFactor int
}

// entry is a record's sort key and location: 32 bytes, so sorting moves
// small fixed-size values instead of byte slices.
type entry struct {
	prefix uint64 // first 8 key bytes, big-endian, zero-padded (ByKey only)
	off    int    // key's offset in the arena; increases with insertion order
	part   int32
	klen   uint32
	vlen   uint32
}

const (
	adding = iota
	iterating
	closed
)

// Sorter sorts records by partition (and key) within a memory budget.
// A Sorter is not safe for concurrent use.
type Sorter struct {
	cfg    Config
	budget int64

	arena   []byte
	ents    []entry
	scratch []entry // counting sort destination, reused
	counts  []int
	minPart int32
	maxPart int32

	dir     string   // private run directory in cfg.Dir, made at the first spill
	runs    []string // run files, oldest first
	nextRun int
	spills  int
	spilled int64 // bytes of the runs spilled
	bw      *bufio.Writer
	blk     *block.Writer

	it    *Iterator
	state int
	err   error // sticky failure of a spill
}

// NewSorter returns a Sorter configured by cfg, creating cfg.Dir if needed.
func NewSorter(cfg Config) (*Sorter, error) {
	if cfg.Dir == "" {
		return nil, errors.New("spill: Config.Dir is required")
	}
	if !cfg.Codec.Valid() {
		return nil, fmt.Errorf("spill: unknown codec %s", cfg.Codec)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("spill: creating run directory %s: %w", cfg.Dir, err)
	}
	if cfg.MergeFactor <= 0 {
		cfg.MergeFactor = DefaultMergeFactor
	}
	cfg.MergeFactor = max(cfg.MergeFactor, 2)
	budget := cfg.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	s := &Sorter{cfg: cfg, budget: budget}
	if b, ok := cfg.Pool.get(); ok {
		s.arena, s.ents, s.scratch, s.counts = b.arena, b.ents, b.scratch, b.counts
		if s.held(cap(s.arena), cap(s.ents), cap(s.scratch) > 0) > budget {
			// Too big for this budget: dropped, not kept beside the
			// buffers this sorter grows.
			s.arena, s.ents, s.scratch, s.counts = nil, nil, nil, nil
		}
	}
	return s, nil
}

// A Pool hands the record buffers of closed Sorters to new ones, so that a
// process that runs task after task reuses a budget's worth of buffers per
// running task instead of dropping them for the collector while the next
// task grows its own: the heap then holds one set per task, not also the
// garbage of the last. Like a sync.Pool, which it is, it keeps buffers
// only until the collector has run twice without their being taken, so
// buffers no task reuses (a job that does not sort) are not held. A Pool
// is safe for concurrent use; a nil one keeps nothing.
type Pool struct{ p sync.Pool }

// NewPool returns an empty Pool.
func NewPool() *Pool { return &Pool{} }

// buffers are a Sorter's record buffers, empty.
type buffers struct {
	arena         []byte
	ents, scratch []entry
	counts        []int
}

func (p *Pool) get() (buffers, bool) {
	if p == nil {
		return buffers{}, false
	}
	b, ok := p.p.Get().(*buffers)
	if !ok {
		return buffers{}, false
	}
	return *b, true
}

func (p *Pool) put(b buffers) {
	if p == nil || cap(b.arena)+cap(b.ents) == 0 {
		return
	}
	p.p.Put(&b)
}

// Add copies a record for partition part into the sorter, first spilling
// the records in memory as a sorted run if the record would take them over
// the budget. A single record larger than the budget is held on its own.
func (s *Sorter) Add(part int, key, val []byte) error {
	if s.err != nil {
		return s.err
	}
	if s.state != adding {
		return ErrFinished
	}
	if part < 0 || part > math.MaxInt32 {
		return fmt.Errorf("spill: partition %d out of range [0, %d]", part, math.MaxInt32)
	}
	if n := len(key) + len(val); n+maxRecordFraming > block.MaxBlockSize {
		return fmt.Errorf("spill: %w: key and value of %d bytes (limit %d)", block.ErrRecordTooLarge, n, block.MaxBlockSize-maxRecordFraming)
	}
	n := len(key) + len(val)
	p := int32(part)
	if len(s.ents) > 0 && !s.reserve(n, p, false) {
		if err := s.spill(); err != nil {
			s.err = err
			return err
		}
	}
	if len(s.ents) == 0 {
		s.minPart, s.maxPart = p, p
		s.reserve(n, p, true)
	} else {
		s.minPart, s.maxPart = min(s.minPart, p), max(s.maxPart, p)
	}
	e := entry{off: len(s.arena), part: p, klen: uint32(len(key)), vlen: uint32(len(val))}
	if s.cfg.ByKey {
		e.prefix = keyPrefix(key)
	}
	s.arena = append(s.arena, key...)
	s.arena = append(s.arena, val...)
	s.ents = append(s.ents, e)
	return nil
}

// entrySize is the bytes of one entry.
const entrySize = int64(unsafe.Sizeof(entry{}))

// held returns the bytes the sorter's buffers take with an arena of
// capacity arena and an entry slice of capacity ents: what the budget
// bounds. With records of more than one partition, sorting needs a
// second entry slice as long as the first (the counting sort's), which
// is counted from the moment a second partition appears.
func (s *Sorter) held(arena, ents int, multi bool) int64 {
	scratch := cap(s.scratch)
	if multi {
		scratch = max(scratch, ents)
	}
	return int64(arena) + entrySize*int64(ents+scratch)
}

// reserve makes room in the arena for n more bytes and in the entry
// slice for one more entry, of partition p, without taking the buffers
// past the budget, and reports whether it could. Each buffer grows
// towards its share of the budget at the records' mean size so far (see
// grown); their capacity is kept across spills. With force, room is
// made even past the budget: for a record that must be held alone.
func (s *Sorter) reserve(n int, p int32, force bool) bool {
	needA, needE := len(s.arena)+n, len(s.ents)+1
	multi := len(s.ents) > 0 && (p < s.minPart || p > s.maxPart || s.minPart != s.maxPart)
	capA, capE := cap(s.arena), cap(s.ents)
	if needA > capA || needE > capE {
		per := entrySize
		if multi {
			per *= 2
		}
		// The shares of the budget at the mean record size.
		mean := int64(needA) / int64(needE)
		recs := s.budget / (mean + per)
		if needA > capA {
			capA = grown(capA, needA, mean*recs)
		}
		if needE > capE {
			capE = grown(capE, needE, recs)
		}
	}
	if !force && (capA < 0 || capE < 0 || s.held(capA, capE, multi) > s.budget) {
		return false
	}
	capA, capE = max(capA, needA), max(capE, needE)
	if capA > cap(s.arena) {
		s.arena = append(make([]byte, 0, capA), s.arena...)
	}
	if capE > cap(s.ents) {
		s.ents = append(make([]entry, 0, capE), s.ents...)
	}
	return true
}

// grown returns the capacity a buffer of capacity c grows to so as to
// hold need: double (at least 64), but past an eighth of share straight
// to share, so that the copy's old buffer, garbage at once, adds at most
// an eighth to what the budget holds; -1 when share leaves too little
// room to be worth a copy.
func grown(c, need int, share int64) int {
	n := int64(max(2*c, 64))
	if n > share/8 {
		n = share
	}
	if n < int64(need) || int(n)-c < c/8 {
		return -1
	}
	return int(n)
}

// Spills returns the number of sorted runs Add has spilled to disk.
func (s *Sorter) Spills() int { return s.spills }

// SpillBytes returns the bytes of the runs spilled to disk so far, as
// written (compressed).
func (s *Sorter) SpillBytes() int64 { return s.spilled }

// MemoryUsed returns the bytes the sorter's buffers hold in memory: the
// arena and entry slices by capacity, which the budget bounds.
func (s *Sorter) MemoryUsed() int64 {
	return s.held(cap(s.arena), cap(s.ents), s.maxPart > s.minPart)
}

// Iter ends adding and returns the sorted records: those in memory merged
// with every spilled run. The Iterator is valid until Close.
func (s *Sorter) Iter() (*Iterator, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.state != adding {
		return nil, ErrFinished
	}
	s.state = iterating
	s.sortEntries()
	if err := s.reduceRuns(); err != nil {
		s.err = err
		return nil, err
	}
	srcs, err := s.openRuns(s.runs, 1)
	if err != nil {
		s.err = err
		return nil, err
	}
	srcs = append(srcs, source{ents: s.ents, arena: s.arena})
	it := &Iterator{m: merger{srcs: srcs, byKey: s.cfg.ByKey}}
	s.it = it
	if err := it.m.init(); err != nil {
		it.m.close()
		s.err = err
		return nil, err
	}
	return it, nil
}

// Close closes the run files an Iterator still reads and removes every run
// file. It is safe to call more than once, and before or after Iter.
func (s *Sorter) Close() error {
	if s.state == closed {
		return nil
	}
	s.state = closed
	if s.it != nil {
		s.it.m.close()
		s.it.m.srcs = nil // the records in memory go back to the pool
	}
	s.cfg.Pool.put(buffers{arena: s.arena[:0], ents: s.ents[:0], scratch: s.scratch[:0], counts: s.counts})
	s.arena, s.ents, s.scratch, s.counts = nil, nil, nil, nil
	if s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("spill: removing runs: %w", err)
	}
	return nil
}

func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// sortEntries sorts s.ents by (part, key when ByKey, insertion order).
func (s *Sorter) sortEntries() {
	if len(s.ents) < 2 {
		return
	}
	span := int(s.maxPart-s.minPart) + 1
	if span > 4*len(s.ents)+1024 {
		// Too sparse for a counting sort: compare everything.
		slices.SortFunc(s.ents, func(a, b entry) int {
			if a.part != b.part {
				return cmp.Compare(a.part, b.part)
			}
			return s.compareKeys(a, b)
		})
		return
	}
	if span > 1 {
		s.countingSort(span)
	}
	if !s.cfg.ByKey {
		return
	}
	// Sort each partition's run of entries by key.
	for lo := 0; lo < len(s.ents); {
		hi := lo + 1
		for hi < len(s.ents) && s.ents[hi].part == s.ents[lo].part {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(s.ents[lo:hi], s.compareKeys)
		}
		lo = hi
	}
}

// countingSort orders s.ents by partition, stably, in O(n + span).
func (s *Sorter) countingSort(span int) {
	if cap(s.counts) < span+1 {
		s.counts = make([]int, span+1)
	}
	counts := s.counts[:span+1]
	clear(counts)
	for i := range s.ents {
		counts[s.ents[i].part-s.minPart+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	s.scratch = slices.Grow(s.scratch[:0], len(s.ents))[:len(s.ents)]
	for _, e := range s.ents {
		i := e.part - s.minPart
		s.scratch[counts[i]] = e
		counts[i]++
	}
	s.ents, s.scratch = s.scratch, s.ents
}

// compareKeys orders entries of one partition: by key when ByKey, then by
// arena offset, which is insertion order.
func (s *Sorter) compareKeys(a, b entry) int {
	if s.cfg.ByKey {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		if c := bytes.Compare(s.key(a), s.key(b)); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.off, b.off)
}

func (s *Sorter) key(e entry) []byte {
	end := e.off + int(e.klen)
	return s.arena[e.off:end:end]
}

// spill writes the records in memory as a sorted run and empties memory.
func (s *Sorter) spill() error {
	s.sortEntries()
	w, err := s.createRun()
	if err != nil {
		return err
	}
	for _, e := range s.ents {
		kend := e.off + int(e.klen)
		vend := kend + int(e.vlen)
		if err := w.add(e.part, s.arena[e.off:kend], s.arena[kend:vend]); err != nil {
			w.abort()
			return err
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	s.runs = append(s.runs, w.path)
	s.spills++
	if fi, err := os.Stat(w.path); err == nil {
		s.spilled += fi.Size()
	}
	s.arena, s.ents = s.arena[:0], s.ents[:0]
	if s.held(cap(s.arena), cap(s.ents), cap(s.scratch) > 0) > s.budget {
		// Buffers shaped before a second partition appeared, or grown
		// for a record held alone: start afresh within the budget.
		s.arena, s.ents, s.scratch = nil, nil, nil
	}
	return nil
}

// reduceRuns merges runs in groups of MergeFactor until at most that many
// remain. Groups are consecutive runs, so ties keep their order.
func (s *Sorter) reduceRuns() error {
	f := s.cfg.MergeFactor
	for len(s.runs) > f {
		var next []string
		for i := 0; i < len(s.runs); i += f {
			group := s.runs[i:min(i+f, len(s.runs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			out, err := s.mergeRuns(group)
			if err != nil {
				return err
			}
			next = append(next, out)
		}
		s.runs = next
	}
	return nil
}

// mergeRuns merges the runs in group into a new run and removes them.
func (s *Sorter) mergeRuns(group []string) (string, error) {
	srcs, err := s.openRuns(group, 0)
	if err != nil {
		return "", err
	}
	m := merger{srcs: srcs, byKey: s.cfg.ByKey}
	defer m.close()
	if err := m.init(); err != nil {
		return "", err
	}
	w, err := s.createRun()
	if err != nil {
		return "", err
	}
	for {
		src, ok, err := m.next()
		if err != nil {
			w.abort()
			return "", err
		}
		if !ok {
			break
		}
		if err := w.add(src.part, src.key, src.val); err != nil {
			w.abort()
			return "", err
		}
	}
	if err := w.finish(); err != nil {
		return "", err
	}
	for _, path := range group {
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("spill: removing merged run: %w", err)
		}
	}
	return w.path, nil
}

// openRuns opens the given runs as merge sources, with room for extra more.
func (s *Sorter) openRuns(paths []string, extra int) ([]source, error) {
	srcs := make([]source, 0, len(paths)+extra)
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			for i := range srcs {
				srcs[i].closeFile()
			}
			return nil, fmt.Errorf("spill: opening run: %w", err)
		}
		srcs = append(srcs, source{path: path, f: f, br: block.NewReader(f)})
	}
	return srcs, nil
}

// runWriter writes one run file.
type runWriter struct {
	s    *Sorter
	path string
	f    *os.File
}

// createRun creates the next run file in the sorter's private directory;
// Close removes the directory, so a failed run needs no cleanup of its own.
func (s *Sorter) createRun() (*runWriter, error) {
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.cfg.Dir, "spill-")
		if err != nil {
			return nil, fmt.Errorf("spill: creating run directory in %s: %w", s.cfg.Dir, err)
		}
		s.dir = dir
	}
	path := filepath.Join(s.dir, fmt.Sprintf("run-%d.spill", s.nextRun))
	s.nextRun++
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spill: creating run: %w", err)
	}
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(f, runBufferSize)
		s.blk = block.NewWriter(s.bw, s.cfg.Codec)
	} else {
		s.bw.Reset(f)
		s.blk.Reset(s.bw)
	}
	return &runWriter{s: s, path: path, f: f}, nil
}

func (w *runWriter) add(part int32, key, val []byte) error {
	var pb [binary.MaxVarintLen32]byte
	n := binary.PutUvarint(pb[:], uint64(part))
	w.s.blk.Frame(pb[:n])
	w.s.blk.Frame(key)
	w.s.blk.Frame(val)
	if err := w.s.blk.EndRecord(); err != nil {
		return fmt.Errorf("spill: writing run %s: %w", w.path, err)
	}
	return nil
}

func (w *runWriter) finish() error {
	err := w.s.blk.Flush()
	if err == nil {
		err = w.s.bw.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spill: writing run %s: %w", w.path, err)
	}
	return nil
}

// abort closes a run being written; Close removes the file.
func (w *runWriter) abort() { _ = w.f.Close() }
