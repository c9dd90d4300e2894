package scheduler

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrBadInput is wrapped by the error of a ShuffleInput that does not
// decode.
var ErrBadInput = errors.New("scheduler: malformed shuffle input")

// ShuffleInput locates what a task reads of one shuffle: partition Part of
// every map output. Only the non-empty blocks are listed (Blocks), so a
// task's inputs cost a few bytes per map output that has data for its
// partition, whatever the shuffle's size. In the driver it is a snapshot
// of the map-output table taken at launch; on the wire (MarshalBinary) a
// worker table and varint-coded blocks.
type ShuffleInput struct {
	Shuffle int
	Part    int // the reduce partition read
	v       *inputView
}

// MapBlock is one map output's block of a reduce partition.
type MapBlock struct {
	Map     int    // the map partition that wrote it
	Worker  string // where it lives
	Replica string // a core worker holding a copy, or ""
	Gen     int64  // the registration's generation, for FetchFailed
	Size    int64  // bytes; -1 when unknown
	Exact   bool   // Size is exact (else an estimate: the map output's sizes are compressed)
}

// inputView is a ShuffleInput's content: a snapshot to read lazily, or
// blocks decoded from the wire.
type inputView struct {
	maps int
	snap *outputSnap

	once    sync.Once
	blocks  []MapBlock
	workers []string
}

func newShuffleInput(shuffle, part int, snap *outputSnap) ShuffleInput {
	return ShuffleInput{Shuffle: shuffle, Part: part, v: &inputView{maps: snap.maps, snap: snap}}
}

// NewShuffleInput returns the input of partition part of shuffle that
// maps map outputs write, of which blocks are the non-empty ones, in map
// order. It is for tests and simulators that build tasks themselves.
func NewShuffleInput(shuffle, part, maps int, blocks []MapBlock) ShuffleInput {
	v := &inputView{maps: maps, blocks: slices.Clone(blocks)}
	v.workers = workersOf(v.blocks)
	v.once.Do(func() {})
	return ShuffleInput{Shuffle: shuffle, Part: part, v: v}
}

func (v *inputView) load(part int) {
	v.once.Do(func() {
		if v.snap == nil {
			return
		}
		for m := range v.maps {
			e := v.snap.get(m)
			size, exact := int64(-1), false
			if e.sizes != nil {
				size, exact = e.sizes.at(part)
				if size == 0 && exact {
					continue // empty: nothing to fetch
				}
			}
			v.blocks = append(v.blocks, MapBlock{Map: m, Worker: e.worker, Replica: e.replica, Gen: e.gen, Size: size, Exact: exact})
		}
		v.workers = workersOf(v.blocks)
		v.snap = nil
	})
}

func workersOf(blocks []MapBlock) []string {
	var ws []string
	for _, b := range blocks {
		ws = append(ws, b.Worker)
		if b.Replica != "" {
			ws = append(ws, b.Replica)
		}
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// Maps returns the number of map outputs of the shuffle.
func (in ShuffleInput) Maps() int {
	if in.v == nil {
		return 0
	}
	return in.v.maps
}

// Blocks returns the non-empty blocks of the partition, in map order. The
// slice is shared: do not modify it.
func (in ShuffleInput) Blocks() []MapBlock {
	if in.v == nil {
		return nil
	}
	in.v.load(in.Part)
	return in.v.blocks
}

// Block returns map output m's block of the partition; false when it is
// empty (or m is out of range).
func (in ShuffleInput) Block(m int) (MapBlock, bool) {
	bs := in.Blocks()
	i, ok := slices.BinarySearchFunc(bs, m, func(b MapBlock, m int) int { return b.Map - m })
	if !ok {
		return MapBlock{}, false
	}
	return bs[i], true
}

// Workers returns the workers the blocks live on, replicas included,
// sorted.
func (in ShuffleInput) Workers() []string {
	if in.v == nil {
		return nil
	}
	in.v.load(in.Part)
	return in.v.workers
}

// inputVersion is the first byte of an encoded ShuffleInput.
const inputVersion = 1

// MarshalBinary encodes the input compactly: a table of worker names, then
// per non-empty block the distance from the previous block's map, the
// worker's and replica's table indexes, the generation as a difference
// from the previous one, and the size with its exactness.
func (in ShuffleInput) MarshalBinary() ([]byte, error) {
	blocks, workers := in.Blocks(), in.Workers()
	b := []byte{inputVersion}
	b = binary.AppendUvarint(b, uint64(in.Shuffle))
	b = binary.AppendUvarint(b, uint64(in.Part))
	b = binary.AppendUvarint(b, uint64(in.Maps()))
	b = binary.AppendUvarint(b, uint64(len(workers)))
	for _, w := range workers {
		b = binary.AppendUvarint(b, uint64(len(w)))
		b = append(b, w...)
	}
	index := func(w string) uint64 {
		i, _ := slices.BinarySearch(workers, w)
		return uint64(i)
	}
	b = binary.AppendUvarint(b, uint64(len(blocks)))
	prevMap, prevGen := -1, int64(0)
	for _, bl := range blocks {
		b = binary.AppendUvarint(b, uint64(bl.Map-prevMap-1))
		b = binary.AppendUvarint(b, index(bl.Worker))
		r := uint64(0)
		if bl.Replica != "" {
			r = index(bl.Replica) + 1
		}
		b = binary.AppendUvarint(b, r)
		b = binary.AppendVarint(b, bl.Gen-prevGen)
		sz := uint64(max(bl.Size, -1)+1) << 1
		if bl.Exact {
			sz |= 1
		}
		b = binary.AppendUvarint(b, sz)
		prevMap, prevGen = bl.Map, bl.Gen
	}
	return b, nil
}

// maxInputMaps bounds the map outputs an encoded input may declare.
const maxInputMaps = 1 << 28

// UnmarshalBinary decodes what MarshalBinary wrote. Malformed input is an
// error wrapping ErrBadInput, never a panic.
func (in *ShuffleInput) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.byte(); v != inputVersion {
		return d.fail("version %d", v)
	}
	shuffle, part, maps := d.uint(1<<31), d.uint(1<<31), d.uint(maxInputMaps)
	nw := d.uint(uint64(len(data)))
	var workers []string
	for range nw {
		if d.err != nil {
			break
		}
		n := d.uint(uint64(len(d.b)))
		workers = append(workers, string(d.bytes(int(n))))
	}
	nb := d.uint(min(maps, uint64(len(data))))
	var blocks []MapBlock
	prevMap, prevGen := -1, int64(0)
	for range nb {
		if d.err != nil {
			break
		}
		m := uint64(prevMap+1) + d.uint(maps)
		w := d.uint(uint64(len(workers)) - 1)
		r := d.uint(uint64(len(workers)))
		gen := prevGen + d.int()
		sz := d.uint(1 << 62)
		if d.err != nil {
			break
		}
		if m >= maps || len(workers) == 0 {
			return d.fail("block of map %d past %d map outputs", m, maps)
		}
		b := MapBlock{Map: int(m), Worker: workers[w], Gen: gen, Size: int64(sz>>1) - 1, Exact: sz&1 == 1}
		if r > 0 {
			b.Replica = workers[r-1]
		}
		blocks = append(blocks, b)
		prevMap, prevGen = int(m), gen
	}
	if d.err == nil && len(d.b) > 0 {
		return d.fail("%d bytes after the blocks", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*in = NewShuffleInput(int(shuffle), int(part), int(maps), nil)
	in.v.blocks, in.v.workers = blocks, workersOf(blocks)
	return nil
}

// decoder reads varints, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
	}
	return d.err
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uint reads an unsigned varint no larger than limit.
func (d *decoder) uint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if v > limit {
		d.fail("value %d past %d", v, limit)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}
