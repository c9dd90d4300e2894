package rdd

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"unsafe"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/spill"
	"github.com/sluicehq/sluice/internal/task"
)

// combTable is the combine tables' hash table: an open-addressing table
// (linear probing) from keys, as bytes, to one combiner each, specialised
// for the keys of a combine. A key of up to inlineKey bytes is packed into
// its slot, beside its combiner, so a lookup compares three words of the
// slot it loads and touches no other memory: one cache line for a key the
// table has not seen lately, where Go's map loads a control word, a slot
// and then the key's bytes behind a pointer. A longer key lives in an
// arena and is compared after its hash. Each slot keeps the key's hash
// (the low 32 bits, which place it, so growing never hashes a key again)
// and its first-seen rank, by which the table is read back in the order
// keys arrived: deterministic without sorting, whatever the hash seed.
//
// The table itself never allocates more than it is told to: lookup
// reports a full table, and the caller grows it (grow) or empties it into
// a sorter (reset), keeping the memory it holds (bytes) within a budget.
type combTable[C any] struct {
	slots   []combSlot[C]
	n       int    // keys held
	arena   []byte // the bytes of keys longer than inlineKey
	mask    uint64
	seed    [4]uint64
	collide bool // test hook: every key has hash 0
}

// combSlot is one slot. meta is 0 for an empty slot, else the low 32 bits
// of the key's hash above its rank+1. w is the key: for up to inlineKey
// bytes, the bytes little-endian with the length in the top byte of w[1];
// for a longer key, its arena offset, and its length or'd with longKey.
// For an 8-byte combiner a slot is 32 bytes: two to a cache line, none
// across two.
type combSlot[C any] struct {
	meta uint64
	w    [2]uint64
	v    C
}

const (
	inlineKey   = 15
	longKey     = 0xff << 56
	minSlots    = 16
	metaRankMax = 1<<32 - 2
)

// newCombTable makes a table with room for about hint keys, in no more
// than budget bytes of slots.
func newCombTable[C any](hint int, budget int64) *combTable[C] {
	t := &combTable[C]{seed: [4]uint64{rand.Uint64(), rand.Uint64() | 1, rand.Uint64(), rand.Uint64() | 1}}
	n := minSlots
	for n-n/4 < hint && int64(2*n)*t.slotSize() <= budget {
		n *= 2
	}
	t.alloc(n)
	return t
}

func (t *combTable[C]) slotSize() int64 { return int64(unsafe.Sizeof(combSlot[C]{})) }

func (t *combTable[C]) alloc(n int) {
	t.slots = make([]combSlot[C], n)
	t.mask = uint64(n - 1)
}

// bytes is the memory the table holds: its slots and its arena.
func (t *combTable[C]) bytes() int64 {
	return int64(len(t.slots))*t.slotSize() + int64(cap(t.arena))
}

// grownBytes is bytes after a grow.
func (t *combTable[C]) grownBytes() int64 { return t.bytes() + int64(len(t.slots))*t.slotSize() }

// full reports whether one more key would pass the load factor, 3/4.
func (t *combTable[C]) full() bool { return t.n+1 > len(t.slots)-len(t.slots)/4 || t.n >= metaRankMax }

// grow doubles the slots. Slots move by their stored hash bits, which
// place them in tables of up to 2^32 slots.
func (t *combTable[C]) grow() {
	old := t.slots
	t.alloc(2 * len(old))
	for i := range old {
		s := &old[i]
		if s.meta == 0 {
			continue
		}
		j := (s.meta >> 32) & t.mask
		for t.slots[j].meta != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = *s
	}
}

// reset empties the table, keeping its memory.
func (t *combTable[C]) reset() {
	clear(t.slots)
	t.n = 0
	t.arena = t.arena[:0]
}

// lookup returns the slot of key, inserting the key with a zero combiner
// when it is new; i is -1 when the key is new and the table is full.
// key is copied: it may be a view of memory that is reused.
func (t *combTable[C]) lookup(key string) (i int, isNew bool) {
	if len(key) > inlineKey {
		return t.lookupLong(key)
	}
	w := pack(key)
	return t.lookupPacked(w, t.hash(w))
}

// lookupWord is lookup of the 8 bytes of x, little-endian, packed
// directly: the table of integer keys.
func (t *combTable[C]) lookupWord(x uint64) (i int, isNew bool) {
	w := packWord(x)
	return t.lookupPacked(w, t.hash(w))
}

// pack packs a key of up to inlineKey bytes.
func pack(key string) [2]uint64 {
	var b [16]byte
	copy(b[:], key)
	b[15] = byte(len(key))
	return [2]uint64{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
}

// packWord packs the 8 bytes of x, little-endian.
func packWord(x uint64) [2]uint64 { return [2]uint64{x, 8 << 56} }

// hash hashes a packed key.
// Two independent multiplications by random odd numbers, folded: one
// multiplication's latency.
func (t *combTable[C]) hash(w [2]uint64) uint64 {
	if t.collide {
		return 0
	}
	return mix(w[0]^t.seed[0], t.seed[1]) ^ mix(w[1]^t.seed[2], t.seed[3])
}

// touch loads the slot where a key of hash h starts, so that the loads
// of several keys overlap (see spillTable.flush).
func (t *combTable[C]) touch(h uint64) uint64 { return t.slots[h&t.mask].meta }

// lookupPacked is lookup of a packed key w of hash h.
func (t *combTable[C]) lookupPacked(w [2]uint64, h uint64) (int, bool) {
	tag := h << 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.meta == 0 {
			if t.full() {
				return -1, true
			}
			t.n++
			s.meta = tag | uint64(t.n)
			s.w = w
			return int(i), true
		}
		if s.meta&^0xffffffff == tag && s.w == w {
			return int(i), false
		}
	}
}

func (t *combTable[C]) lookupLong(key string) (int, bool) {
	h := t.hashLong(key)
	if t.collide {
		h = 0
	}
	tag := h << 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.meta == 0 {
			if t.full() {
				return -1, true
			}
			t.n++
			s.meta = tag | uint64(t.n)
			s.w = [2]uint64{uint64(len(t.arena)), uint64(len(key)) | longKey}
			t.arena = append(t.arena, key...)
			return int(i), true
		}
		if s.meta&^0xffffffff == tag && s.w[1] == uint64(len(key))|longKey &&
			string(t.arena[s.w[0]:s.w[0]+uint64(len(key))]) == key {
			return int(i), false
		}
	}
}

// hashLong hashes a key of more than inlineKey bytes, 16 at a time.
func (t *combTable[C]) hashLong(key string) uint64 {
	b := unsafe.Slice(unsafe.StringData(key), len(key))
	h := t.seed[2] ^ uint64(len(b))
	for len(b) >= 16 {
		h = mix(binary.LittleEndian.Uint64(b)^t.seed[0]^h, binary.LittleEndian.Uint64(b[8:])^t.seed[1])
		b = b[16:]
	}
	var tail [16]byte
	copy(tail[:], b)
	h = mix(binary.LittleEndian.Uint64(tail[:])^t.seed[0]^h, binary.LittleEndian.Uint64(tail[8:])^t.seed[1])
	return mix(h, t.seed[2])
}

// mix is wyhash's mum: the 128-bit product of a and b, folded.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// key returns the bytes of slot i's key, in dst when inline.
func (t *combTable[C]) key(dst *[16]byte, i int) []byte {
	s := &t.slots[i]
	if s.w[1]&longKey == longKey {
		end := s.w[0] + s.w[1]&^longKey
		return t.arena[s.w[0]:end:end]
	}
	binary.LittleEndian.PutUint64(dst[0:], s.w[0])
	binary.LittleEndian.PutUint64(dst[8:], s.w[1])
	return dst[:dst[15]]
}

// word returns slot i's key put in by lookupWord.
func (t *combTable[C]) word(i int) uint64 { return t.slots[i].w[0] }

// ranked returns the indexes of the occupied slots in first-seen order,
// in order (reused when large enough).
func (t *combTable[C]) ranked(order []int32) []int32 {
	if cap(order) < t.n {
		order = make([]int32, t.n)
	}
	order = order[:t.n]
	for i := range t.slots {
		if m := t.slots[i].meta; m != 0 {
			order[uint32(m)-1] = int32(i)
		}
	}
	return order
}

// spillTable is a combTable within a memory budget: one combiner per key,
// folding in records of type X, and moving everything it holds into a
// sorter, which spills sorted runs, when it would outgrow the budget.
// Its memory is counted exactly: the slots and arena as allocated, the
// rank order read back, and what growable combiners (slices, strings,
// maps) hold beyond their slots as sizeOf measures it.
type spillTable[X, C any] struct {
	tc     *task.Context
	t      *combTable[C]
	cc     codec.Codec[C]
	create func(X) C
	merge  func(C, X) C
	budget int64
	grows  bool
	extra  int64 // what growable combiners hold beyond their slots
	order  []int32
	so     *spill.Sorter
	kb, vb []byte
	// encodeKey appends the key's canonical encoding (codec.KeyFor) to
	// dst, given the key's bytes in the table; partOf is the partition of
	// the key so encoded.
	encodeKey func(dst, raw []byte) []byte
	partOf    func(raw, kb []byte) (int, error)

	batch [16]queued[X] // records whose lookups are to come (flush)
	nb    int
	sink  uint64 // what touching slots loaded, so the loads stay
}

// queued is a record waiting in a spillTable's batch: its packed key and
// the key's hash.
type queued[X any] struct {
	w [2]uint64
	h uint64
	x X
}

// keyBytes is encodeKey for a table keyed by encodings already.
func keyBytes(dst, raw []byte) []byte { return append(dst, raw...) }

// partZero is partOf for a table with one partition.
func partZero(_, _ []byte) (int, error) { return 0, nil }

func newSpillTable[X, C any](tc *task.Context, hint int, budget int64, cc codec.Codec[C], create func(X) C, merge func(C, X) C,
	encodeKey func(dst, raw []byte) []byte, partOf func(raw, kb []byte) (int, error)) *spillTable[X, C] {
	return &spillTable[X, C]{
		tc: tc, t: newCombTable[C](hint, budget/2), cc: cc, create: create, merge: merge,
		budget: budget, grows: growable[C](), encodeKey: encodeKey, partOf: partOf,
	}
}

// mem is the memory the table holds.
func (s *spillTable[X, C]) mem() int64 { return s.t.bytes() + s.extra + 4*int64(cap(s.order)) }

// room makes room for one more key: a table twice the size if that fits
// in the budget, else an empty one.
func (s *spillTable[X, C]) room() error {
	if s.t.n > 0 && s.t.grownBytes()+s.extra+4*int64(cap(s.order)) > s.budget {
		return s.dump()
	}
	s.t.grow()
	return nil
}

// addString folds x into the combiner of key, given as its bytes, which
// may be a view of memory that is reused once addString returns. Short
// keys are folded in batches (see flush): call done before reading the
// table.
func (s *spillTable[X, C]) addString(key string, x X) error {
	if len(key) > inlineKey {
		if err := s.flush(); err != nil {
			return err
		}
		i, isNew := s.t.lookupLong(key)
		if i < 0 {
			if err := s.room(); err != nil {
				return err
			}
			i, isNew = s.t.lookupLong(key)
		}
		return s.fold(i, isNew, x)
	}
	return s.queue(pack(key), x)
}

// addWord folds x into the combiner of the integer key w, in batches as
// addString does.
func (s *spillTable[X, C]) addWord(w uint64, x X) error { return s.queue(packWord(w), x) }

func (s *spillTable[X, C]) queue(w [2]uint64, x X) error {
	b := &s.batch[s.nb]
	b.w, b.h, b.x = w, s.t.hash(w), x
	if s.nb++; s.nb == len(s.batch) {
		return s.flush()
	}
	return nil
}

// flush folds the batched records in, in order. It first loads the slot
// of every key of the batch, so that the cache misses of keys the table
// has not seen lately overlap instead of following one another: most of
// the time of a lookup in a large table is that miss.
func (s *spillTable[X, C]) flush() error {
	n := s.nb
	s.nb = 0
	var sum uint64
	for j := range n {
		sum += s.t.touch(s.batch[j].h)
	}
	s.sink += sum
	for j := range n {
		b := &s.batch[j]
		i, isNew := s.t.lookupPacked(b.w, b.h)
		if i < 0 {
			if err := s.room(); err != nil {
				return err
			}
			i, isNew = s.t.lookupPacked(b.w, b.h)
		}
		if err := s.fold(i, isNew, b.x); err != nil {
			return err
		}
	}
	clear(s.batch[:n]) // drop references to values
	return nil
}

// done folds in what is batched: the table is complete.
func (s *spillTable[X, C]) done() error { return s.flush() }

func (s *spillTable[X, C]) fold(i int, isNew bool, x X) error {
	v := &s.t.slots[i].v
	if isNew {
		*v = s.create(x)
		if s.grows {
			var zero C
			s.extra += sizeOf(*v) - sizeOf(zero)
		}
	} else {
		if s.grows {
			s.extra -= sizeOf(*v)
		}
		*v = s.merge(*v, x)
		if s.grows {
			s.extra += sizeOf(*v)
		}
	}
	if s.mem() > s.budget {
		return s.dump()
	}
	return nil
}

// dump moves the table into the sorter, in first-seen order.
func (s *spillTable[X, C]) dump() error {
	if s.so == nil {
		var err error
		if s.so, err = newSorter(s.tc, s.budget, true); err != nil {
			return err
		}
	}
	err := s.each(func(raw []byte, c *C) error {
		s.kb = s.encodeKey(s.kb[:0], raw)
		p, err := s.partOf(raw, s.kb)
		if err != nil {
			return err
		}
		s.vb = s.cc.Append(s.vb[:0], *c)
		return s.so.Add(p, s.kb, s.vb)
	})
	s.t.reset()
	s.extra = 0
	return err
}

// each calls f with every key's bytes and combiner, in first-seen order,
// until f fails. The bytes are valid during the call only.
func (s *spillTable[X, C]) each(f func(raw []byte, c *C) error) error {
	if s.nb != 0 {
		panic("rdd: a combine table read with records still batched")
	}
	s.order = s.t.ranked(s.order)
	var buf [16]byte
	for rest := s.order; len(rest) > 0; {
		group := rest[:min(len(rest), len(s.batch))]
		s.touch(group)
		for _, i := range group {
			if err := f(s.t.key(&buf, int(i)), &s.t.slots[i].v); err != nil {
				return err
			}
		}
		rest = rest[len(group):]
	}
	return nil
}

// touch loads the slots of a group, so that their misses overlap.
func (s *spillTable[X, C]) touch(group []int32) {
	var sum uint64
	for _, i := range group {
		sum += s.t.slots[i].meta
	}
	s.sink += sum
}

// spilled reports whether the table went to the sorter; then the caller
// dumps what is left and reads the sorter.
func (s *spillTable[X, C]) spilled() bool { return s.so != nil }

func (s *spillTable[X, C]) close() {
	if s.so != nil {
		closeSorter(s.tc, s.so)
		s.so = nil
	}
}

// rawKey says how a map-side combine keys K in a combTable: a string kind
// by its bytes, an integer kind by its value as a word, a fixed-size key
// (bools, and arrays and structs of integers and bools with no padding)
// by the fixed bytes of its memory, each without encoding it; any other
// key by its canonical encoding (the zero rawKey). The first three are
// one-to-one, so keys the table tells apart are keys Go tells apart; the
// reduce side groups by the canonical encoding, as the partitioner does.
type rawKey[K any] struct {
	str      bool
	fixed    int // the size of K, for a fixed-size key
	word     func(*K) uint64
	fromWord func(uint64) K
}

// encoded reports whether keys are held by their canonical encoding.
func (rk rawKey[K]) encoded() bool { return !rk.str && rk.fixed == 0 && rk.word == nil }

// rawBytesEqual reports whether values of t are equal exactly when their
// memory is: no pointers, floats (+0 == -0, NaN != NaN), interfaces or
// strings, no padding and no blank fields (which == ignores), at any
// depth.
func rawBytesEqual(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	case reflect.Array:
		return rawBytesEqual(t.Elem())
	case reflect.Struct:
		var sum uintptr
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" || f.Offset != sum || !rawBytesEqual(f.Type) {
				return false
			}
			sum += f.Type.Size()
		}
		return sum == t.Size()
	}
	return false
}

// rawKeyOf returns how a map-side combine keys K.
func rawKeyOf[K any]() rawKey[K] {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return rawKey[K]{str: true}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return rawKey[K]{
			word:     func(k *K) uint64 { return *(*uint64)(unsafe.Pointer(k)) },
			fromWord: func(w uint64) (k K) { *(*uint64)(unsafe.Pointer(&k)) = w; return k },
		}
	case reflect.Int32, reflect.Uint32:
		return rawKey[K]{
			word:     func(k *K) uint64 { return uint64(*(*uint32)(unsafe.Pointer(k))) },
			fromWord: func(w uint64) (k K) { *(*uint32)(unsafe.Pointer(&k)) = uint32(w); return k },
		}
	case reflect.Int16, reflect.Uint16:
		return rawKey[K]{
			word:     func(k *K) uint64 { return uint64(*(*uint16)(unsafe.Pointer(k))) },
			fromWord: func(w uint64) (k K) { *(*uint16)(unsafe.Pointer(&k)) = uint16(w); return k },
		}
	case reflect.Int8, reflect.Uint8:
		return rawKey[K]{
			word:     func(k *K) uint64 { return uint64(*(*uint8)(unsafe.Pointer(k))) },
			fromWord: func(w uint64) (k K) { *(*uint8)(unsafe.Pointer(&k)) = uint8(w); return k },
		}
	}
	if t := reflect.TypeFor[K](); t.Size() > 0 && rawBytesEqual(t) {
		return rawKey[K]{fixed: int(t.Size())}
	}
	return rawKey[K]{}
}

// write writes the table to a shuffle writer, partition by partition,
// each in first-seen order: a counting sort by partition, then every
// record encoded straight into the writer's block.
func (s *spillTable[X, C]) write(w task.ShuffleWriter, parts int) error {
	part := make([]int32, s.t.n)
	count := make([]int, parts+1)
	r := 0
	err := s.each(func(raw []byte, _ *C) error {
		s.kb = s.encodeKey(s.kb[:0], raw)
		p, err := s.partOf(raw, s.kb)
		if err != nil {
			return err
		}
		part[r] = int32(p)
		count[p+1]++
		r++
		return nil
	})
	if err != nil {
		return err
	}
	for p := 1; p <= parts; p++ {
		count[p] += count[p-1]
	}
	slots := make([]int32, len(part))
	for r, p := range part {
		slots[count[p]] = s.order[r]
		count[p]++
	}
	var buf [16]byte
	cur := -1
	for j, i := range slots {
		if j%len(s.batch) == 0 {
			s.touch(slots[j:min(len(slots), j+len(s.batch))])
		}
		if p := int(part[s.t.slots[i].meta&0xffffffff-1]); p != cur {
			if err := w.Partition(p); err != nil {
				return err
			}
			cur = p
		}
		s.kb = s.encodeKey(s.kb[:0], s.t.key(&buf, int(i)))
		w.Frame(s.kb)
		s.vb = s.cc.Append(s.vb[:0], s.t.slots[i].v)
		w.Frame(s.vb)
		if err := w.EndRecord(); err != nil {
			return err
		}
	}
	return nil
}
