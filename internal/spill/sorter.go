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

// RecordOverhead is the sort entry of a record, charged beyond its key and
// value bytes.
const RecordOverhead = entrySize

// entrySize is the size of an entry.
const entrySize = 32

// Arena chunks: records are copied into chunks of chunkSize bytes (less for
// a small budget), so the arena grows without copying what it holds and
// without the slack of a doubling slice; a record that does not fit the rest
// of a chunk starts the next one, and one larger than a chunk gets a chunk
// of its own size.
//
// With a budget of at least mapBudget, chunks are hugePage bytes mapped
// outside the Go heap (see mapChunk); a smaller budget would leave too
// much of itself in the unfilled end of the last chunk.
const (
	maxChunkSize = 1 << 20
	minChunkSize = 64
	hugePage     = 2 << 20
	mapBudget    = 16 * hugePage
)

// runBufferSize is the write buffer of a run file.
const runBufferSize = 256 << 10

// runReadCost is what an open run costs while it is merged: the block
// reader's read buffer and its stored and raw block buffers
// (block.DefaultBlockSize each, as the run writer writes them).
const runReadCost = 3 * 64 << 10

// runWriteCost is what writing runs costs: the write buffer and the block
// writer's raw and compressed block buffers.
const runWriteCost = runBufferSize + 2*64<<10

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
	// Budget is the memory, in bytes, that the sorter's arrays may take
	// before the records are spilled as a sorted run; <= 0 means
	// DefaultBudget. It counts the arena chunks that hold keys and values,
	// the sort entries (RecordOverhead bytes a record; twice that without
	// ByKey, for the partition sort's scratch array), and while merging,
	// runReadCost a run file open.
	Budget int64
	// Codec compresses run files.
	Codec block.Codec
	// ByKey sorts records by key bytes within a partition; otherwise records
	// keep their insertion order within a partition.
	ByKey bool
	// Pool, when set, gives the sorter the entry array of a closed one
	// and takes its own back at Close.
	Pool *Pool
	// MergeFactor is the most runs read at once; more runs are first merged
	// in groups of this size, and fewer when the budget cannot hold the
	// buffers of this many. Each open run costs about 200 KiB of buffers.
	// <= 0 means DefaultMergeFactor; 1 is treated as 2.
	MergeFactor int
}

// entry is a record's sort key and location: 32 bytes, so sorting moves
// small fixed-size values instead of byte slices, and compares keys by
// their prefix without touching the arena.
type entry struct {
	// prefix is 8 key bytes, big-endian, zero-padded (ByKey only): from
	// the first byte, or while sortEntries refines a group of keys equal
	// in their first d bytes, from byte d.
	prefix uint64
	off    uint64 // chunk index << 32 | offset in the chunk; increases with insertion order
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
	cfg       Config
	budget    int64
	limit     int64 // what the records may take: the budget, less the merge's buffers once runs are spilled
	fanIn     int   // the most runs merged at once
	chunkSize int
	slot      int64 // bytes charged per entry slot

	chunks [][]byte       // arena chunks in use; the last one is being filled
	spare  [][]byte       // chunks emptied by a spill, reused before allocating
	arena  int64          // bytes of the chunks in use and spare
	mapped map[*byte]bool // chunks from mapChunk, by their first byte
	ents   []entry
	// With ByKey, the records in memory as Add received them are a few
	// ascending runs (a reduce task's input is the sorted outputs of the
	// map tasks, one after another): natural holds where each run after
	// the first starts, and they are merged instead of sorted. unordered
	// means more than maxNatural runs; then the entries are sorted.
	natural   []int
	unordered bool
	scratch   []entry // counting sort destination (without ByKey), reused
	counts    []int
	minPart   int32
	maxPart   int32

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
	s := &Sorter{cfg: cfg, budget: budget, limit: budget, fanIn: cfg.MergeFactor, slot: entrySize}
	if !cfg.ByKey {
		s.slot = 2 * entrySize
	}
	// A sixteenth of the budget keeps the unfilled end of the last chunk
	// small next to what the budget holds.
	s.chunkSize = int(min(max(budget/16, minChunkSize), maxChunkSize))
	if budget >= mapBudget {
		s.chunkSize = hugePage
		s.mapped = make(map[*byte]bool)
	}
	s.reuse(cfg.Pool.get())
	return s, nil
}

// A Pool hands the entry arrays of closed Sorters to new ones, so that a
// process that runs task after task reuses them instead of dropping them
// for the collector while the next task grows its own. Like a sync.Pool,
// which it is, it keeps an array only until the collector has run twice
// without its being taken. Arena chunks are never pooled: a chunk holds
// the bytes of records the closed sorter handed out, so reusing it would
// change them under a caller that broke the rule not to keep them past
// Close, where a fresh chunk each time leaves them as they were (on the
// heap) or faults (mapped). A Pool is safe for concurrent use; a nil one
// keeps nothing.
type Pool struct{ p sync.Pool }

// NewPool returns an empty Pool.
func NewPool() *Pool { return &Pool{} }

func (p *Pool) get() []entry {
	if p == nil {
		return nil
	}
	if b, ok := p.p.Get().(*[]entry); ok {
		return *b
	}
	return nil
}

func (p *Pool) put(ents []entry) {
	if p != nil && cap(ents) > 0 {
		ents = ents[:0]
		p.p.Put(&ents)
	}
}

// reuse takes a pooled entry array when its slots take at most half of
// the budget; otherwise it is left for the collector.
func (s *Sorter) reuse(ents []entry) {
	if cap(ents) > 0 && int64(cap(ents))*s.slot <= s.budget/2 {
		s.ents = ents[:0]
	}
}

// Add copies a record for partition part into the sorter, first spilling
// the records in memory as a sorted run if the record would take the
// sorter's arrays over the budget. A single record larger than the budget
// is held on its own.
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
	n := len(key) + len(val)
	if n+maxRecordFraming > block.MaxBlockSize {
		return fmt.Errorf("spill: %w: key and value of %d bytes (limit %d)", block.ErrRecordTooLarge, n, block.MaxBlockSize-maxRecordFraming)
	}
	if !s.fits(n) {
		if len(s.ents) > 0 {
			if err := s.spill(); err != nil {
				s.err = err
				return err
			}
		}
		if !s.fits(n) {
			// Alone over the budget: drop the reusable arrays and hold it.
			s.dropSpare(0)
			s.ents, s.scratch = nil, nil
		}
	}
	if len(s.ents) == cap(s.ents) {
		s.growEntries()
	}
	c := s.room(n)
	p := int32(part)
	if len(s.ents) == 0 {
		s.minPart, s.maxPart = p, p
	} else {
		s.minPart, s.maxPart = min(s.minPart, p), max(s.maxPart, p)
	}
	chunk := s.chunks[c]
	e := entry{off: uint64(c)<<32 | uint64(len(chunk)), part: p, klen: uint32(len(key)), vlen: uint32(len(val))}
	if s.cfg.ByKey {
		e.prefix = keyPrefix(key)
		if !s.unordered && len(s.ents) > 0 && s.before(&e, key, &s.ents[len(s.ents)-1]) {
			if len(s.natural) == maxNatural {
				s.unordered = true
			} else {
				s.natural = append(s.natural, len(s.ents))
			}
		}
	}
	chunk = append(chunk, key...)
	s.chunks[c] = append(chunk, val...)
	s.ents = append(s.ents, e)
	return nil
}

// maxNatural is the most ascending runs of records in memory that are
// merged rather than sorted.
const maxNatural = 64

// before reports whether the record of entry e with key k sorts before the
// one of entry last (by partition, then key); both prefixes are from byte 0.
func (s *Sorter) before(e *entry, k []byte, last *entry) bool {
	if e.part != last.part {
		return e.part < last.part
	}
	if e.prefix != last.prefix {
		return e.prefix < last.prefix
	}
	return bytes.Compare(k, s.key(last)) < 0
}

// presorted reports whether the records in memory are merged from their
// natural runs instead of sorted.
func (s *Sorter) presorted() bool { return s.cfg.ByKey && !s.unordered }

// memSources returns the records in memory as merge sources: one per
// natural run when presorted, else all of them, sorted.
func (s *Sorter) memSources() []source {
	if !s.presorted() {
		return []source{{ents: s.ents, chunks: s.chunks}}
	}
	srcs := make([]source, 0, len(s.natural)+1)
	lo := 0
	for _, hi := range append(s.natural, len(s.ents)) {
		srcs = append(srcs, source{ents: s.ents[lo:hi], chunks: s.chunks})
		lo = hi
	}
	return srcs
}

// fits reports whether a record of n key and value bytes fits the budget
// with what is held: it may need a new chunk and a larger entry array.
func (s *Sorter) fits(n int) bool {
	need := s.MemoryUsed()
	if k := len(s.chunks); k == 0 || cap(s.chunks[k-1])-len(s.chunks[k-1]) < n {
		if c := s.takeSpare(n, false); c < 0 {
			need += int64(max(n, s.chunkSize))
		}
	}
	if len(s.ents) == cap(s.ents) {
		need += int64(s.nextCap()-cap(s.ents)) * s.slot
	}
	return need <= s.limit
}

// nextCap is the entry array's next capacity: it doubles, so that the
// copies of the entries as it grows add up to one of the final array, and
// holds at least 8 entries.
func (s *Sorter) nextCap() int { return max(8, 2*cap(s.ents)) }

func (s *Sorter) growEntries() {
	next := s.nextCap()
	if free := (s.limit - s.MemoryUsed()) / s.slot; int64(next-cap(s.ents)) > free && free > 0 {
		next = cap(s.ents) + int(free) // the budget's last entries
	}
	// make, not append, so that the capacity is exactly what is charged.
	grown := make([]entry, len(s.ents), next)
	copy(grown, s.ents)
	s.ents = grown
}

// takeSpare returns the index in s.spare of a chunk with room for n bytes,
// or -1; with take, it moves that chunk to s.chunks and returns its index
// there.
func (s *Sorter) takeSpare(n int, take bool) int {
	for i, c := range s.spare {
		if cap(c) >= n {
			if !take {
				return i
			}
			s.spare = slices.Delete(s.spare, i, i+1)
			s.chunks = append(s.chunks, c[:0])
			return len(s.chunks) - 1
		}
	}
	return -1
}

// room returns the index of a chunk with room for n more bytes, starting a
// new one (a spare if one is big enough) when the last is full.
func (s *Sorter) room(n int) int {
	if k := len(s.chunks); k > 0 && cap(s.chunks[k-1])-len(s.chunks[k-1]) >= n {
		return k - 1
	}
	if c := s.takeSpare(n, true); c >= 0 {
		return c
	}
	size := max(n, s.chunkSize)
	var c []byte
	if s.mapped != nil && size == s.chunkSize {
		var ok bool
		if c, ok = mapChunk(size); ok {
			s.mapped[unsafe.SliceData(c)] = true
		}
	}
	if c == nil {
		c = make([]byte, 0, size)
	}
	s.chunks = append(s.chunks, c)
	s.arena += int64(size)
	return len(s.chunks) - 1
}

// dropSpare frees spare chunks, last first, until the sorter's arrays take
// at most limit bytes or none is left.
func (s *Sorter) dropSpare(limit int64) {
	for len(s.spare) > 0 && s.MemoryUsed() > limit {
		c := s.spare[len(s.spare)-1]
		s.spare[len(s.spare)-1] = nil
		s.spare = s.spare[:len(s.spare)-1]
		s.freeChunk(c)
	}
}

func (s *Sorter) freeChunk(c []byte) {
	s.arena -= int64(cap(c))
	if p := unsafe.SliceData(c); s.mapped[p] {
		delete(s.mapped, p)
		unmapChunk(c)
	}
}

// Spills returns the number of sorted runs Add has spilled to disk.
func (s *Sorter) Spills() int { return s.spills }

// SpillBytes returns the bytes of the runs spilled to disk so far, as
// written (compressed).
func (s *Sorter) SpillBytes() int64 { return s.spilled }

// MemoryUsed returns the bytes the sorter's arrays hold: arena chunks (in
// use and spare) and entry slots, allocated or reserved for sorting.
func (s *Sorter) MemoryUsed() int64 {
	return s.arena + int64(cap(s.ents))*s.slot
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
	s.dropSpare(0)
	if err := s.reduceRuns(); err != nil {
		s.err = err
		return nil, err
	}
	srcs, err := s.openRuns(s.runs, 1)
	if err != nil {
		s.err = err
		return nil, err
	}
	srcs = append(srcs, s.memSources()...)
	it := &Iterator{m: merger{srcs: srcs, byKey: s.cfg.ByKey}}
	s.it = it
	if err := it.m.init(); err != nil {
		it.m.close()
		s.err = err
		return nil, err
	}
	return it, nil
}

// Close closes the run files an Iterator still reads, frees the arena and
// removes every run file: no key or value an Iterator returned may be used
// after it. It is safe to call more than once, and before or after Iter.
func (s *Sorter) Close() error {
	if s.state == closed {
		return nil
	}
	s.state = closed
	if s.it != nil {
		s.it.m.close()
		s.it.m.srcs = nil
	}
	s.dropSpare(0)
	for _, c := range s.chunks {
		s.freeChunk(c)
	}
	s.cfg.Pool.put(s.ents)
	s.chunks, s.ents, s.scratch = nil, nil, nil
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

func (s *Sorter) key(e *entry) []byte {
	c, o := s.chunks[e.off>>32], int(uint32(e.off))
	end := o + int(e.klen)
	return c[o:end:end]
}

// addr is the address of an entry's key, for a prefetch.
func (s *Sorter) addr(e *entry) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(s.chunks[e.off>>32]))) + uintptr(uint32(e.off))
}

func (s *Sorter) val(e *entry) []byte {
	c, o := s.chunks[e.off>>32], int(uint32(e.off))+int(e.klen)
	end := o + int(e.vlen)
	return c[o:end:end]
}

// sortEntries sorts s.ents by (part, key when ByKey, insertion order).
func (s *Sorter) sortEntries() {
	if len(s.ents) < 2 {
		return
	}
	if s.presorted() {
		return // merged from its runs
	}
	if s.cfg.ByKey {
		sortByKey(s.ents, s.minPart, s.maxPart, s.key, s.addr)
		return
	}
	span := int(s.maxPart-s.minPart) + 1
	if span > 4*len(s.ents)+1024 {
		// Too sparse for a counting sort.
		slices.SortFunc(s.ents, func(a, b entry) int {
			if a.part != b.part {
				return cmp.Compare(a.part, b.part)
			}
			return cmp.Compare(a.off, b.off)
		})
		return
	}
	if span > 1 {
		s.countingSort(span)
	}
}

// countingSort orders s.ents by partition, stably, in O(n + span). Its
// scratch array is the second half of each entry slot that MemoryUsed
// charges without ByKey.
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
	if cap(s.scratch) < len(s.ents) {
		s.scratch = make([]entry, len(s.ents), cap(s.ents))
	}
	s.scratch = s.scratch[:len(s.ents)]
	for _, e := range s.ents {
		i := e.part - s.minPart
		s.scratch[counts[i]] = e
		counts[i]++
	}
	s.ents, s.scratch = s.scratch, s.ents[:0]
}

// spill writes the records in memory as a sorted run and empties memory,
// keeping the arena chunks and the entry array for the next records.
//
// The first spill sets aside, out of the budget, the buffers that writing
// and merging runs take: a merge fan-in of up to MergeFactor runs, as many
// as a quarter of the budget holds, at least 2. The records get what is
// left, but at least half the budget, so a budget under about 1.5 MiB is
// exceeded by at most two open runs and a run writer while merging.
func (s *Sorter) spill() error {
	if s.spills == 0 {
		s.fanIn = int(min(max(s.budget/4/runReadCost, 2), int64(s.cfg.MergeFactor)))
		s.limit = s.budget - min(int64(s.fanIn)*runReadCost+runWriteCost, s.budget/2)
	}
	s.sortEntries()
	w, err := s.createRun()
	if err != nil {
		return err
	}
	if s.presorted() && len(s.natural) > 0 {
		m := merger{srcs: s.memSources(), byKey: true}
		err := m.init()
		for err == nil {
			src, ok, nerr := m.next()
			if err = nerr; !ok || err != nil {
				break
			}
			err = w.add(src.part, src.key, src.val)
		}
		if err != nil {
			w.abort()
			return err
		}
	} else {
		for i := range s.ents {
			e := &s.ents[i]
			if err := w.add(e.part, s.key(e), s.val(e)); err != nil {
				w.abort()
				return err
			}
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
	for _, c := range s.chunks {
		s.spare = append(s.spare, c[:0])
	}
	clear(s.chunks)
	s.chunks, s.ents = s.chunks[:0], s.ents[:0]
	s.natural, s.unordered = s.natural[:0], false
	// The first spill lowers the limit: give back what is over it.
	s.dropSpare(s.limit)
	if s.MemoryUsed() > s.limit {
		s.ents, s.scratch = nil, nil
	}
	return nil
}

// reduceRuns merges runs in groups of MergeFactor until at most that many
// remain. Groups are consecutive runs, so ties keep their order.
func (s *Sorter) reduceRuns() error {
	f := s.fanIn
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
		readAhead(f)
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
