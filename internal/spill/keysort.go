package spill

import (
	"cmp"
	"slices"
)

// Sorting by key compares entries by their 8-byte key prefixes, as Spark's
// Tungsten sort does, so that most of the work never reads the arena, and
// distributes large groups by radix instead of comparing at all:
//
//   - sortByKey puts the entries of each partition together, by an
//     in-place distribution when the partitions are few, and sorts each
//     partition's entries with radixSort.
//   - radixSort distributes a group of entries whose keys agree in their
//     first d+b bytes by key byte d+b (an American flag sort: in place, so
//     the entries need no second array), with one more bucket, first, for
//     keys that end there: those keys are all the same, and are put in
//     insertion order. Bytes d to d+7 come from the prefix; past them each
//     entry's prefix is reloaded from byte d+8 of its key (one arena read,
//     prefetched, per entry).
//   - A group of fewer than radixMin entries is sorted by comparing
//     (prefix, how many key bytes go on, insertion order); groups equal in
//     their prefix whose keys go on past it are refined the same way, 8
//     bytes deeper.
//
// The order is total (ties go by arena offset, which is insertion order),
// so the result does not depend on the algorithm.

// radixMin is the group size below which a comparison sort beats a
// distribution over 257 buckets.
const radixMin = 96

// maxPartBuckets is the most partitions sortByKey distributes entries over
// at once; sparser partitions are sorted by comparison.
const maxPartBuckets = 4096

// prefetchAhead is how many entries ahead of the one whose prefix it
// reloads a refinement prefetches the key.
const prefetchAhead = 16

// keySorter sorts entries by key; key returns an entry's key bytes, addr
// the address of its first byte, for a prefetch.
type keySorter struct {
	key   func(*entry) []byte
	addr  func(*entry) uintptr
	stack []group
}

// group is a range of entries whose keys agree in their first depth+b
// bytes, with prefixes holding key bytes [depth, depth+8).
type group struct{ lo, hi, depth, b int }

// sortByKey sorts ents, whose partitions lie in [minPart, maxPart], by
// (partition, key bytes, insertion order).
func sortByKey(ents []entry, minPart, maxPart int32, key func(*entry) []byte, addr func(*entry) uintptr) {
	ks := keySorter{key: key, addr: addr}
	span := int(maxPart-minPart) + 1
	if span > maxPartBuckets {
		slices.SortFunc(ents, func(a, b entry) int {
			if a.part != b.part {
				return cmp.Compare(a.part, b.part)
			}
			return compareAt(&a, &b, 0)
		})
		// Each run of a partition is now sorted by prefix; refine it.
		for lo := 0; lo < len(ents); {
			hi := lo + 1
			for hi < len(ents) && ents[hi].part == ents[lo].part {
				hi++
			}
			ks.refine(ents, lo, hi, 0)
			ks.run(ents)
			lo = hi
		}
		return
	}
	if span > 1 {
		counts := make([]int, span)
		for i := range ents {
			counts[ents[i].part-minPart]++
		}
		flagSort(ents, counts, func(e *entry) int { return int(e.part - minPart) })
		lo := 0
		for _, c := range counts {
			if c > 1 {
				ks.stack = append(ks.stack, group{lo, lo + c, 0, 0})
			}
			lo += c
		}
	} else {
		ks.stack = append(ks.stack, group{0, len(ents), 0, 0})
	}
	ks.run(ents)
}

// run sorts the groups on the stack, and those they split into.
func (ks *keySorter) run(ents []entry) {
	for len(ks.stack) > 0 {
		g := ks.stack[len(ks.stack)-1]
		ks.stack = ks.stack[:len(ks.stack)-1]
		ks.sortGroup(ents, g)
	}
}

func (ks *keySorter) sortGroup(ents []entry, g group) {
	run := ents[g.lo:g.hi]
	if len(run) < radixMin {
		d := g.depth
		slices.SortFunc(run, func(a, b entry) int { return compareAt(&a, &b, d) })
		ks.refine(ents, g.lo, g.hi, d)
		return
	}
	if g.b == 8 {
		// Every key here goes on past its prefix: take the next 8 bytes.
		ks.reload(run, g.depth+8)
		ks.stack = append(ks.stack, group{g.lo, g.hi, g.depth + 8, 0})
		return
	}
	d, b := g.depth, g.b
	shift := 56 - 8*uint(b)
	bucket := func(e *entry) int {
		if int(e.klen)-d <= b {
			return 0
		}
		return 1 + int(byte(e.prefix>>shift))
	}
	var counts [257]int
	for i := range run {
		counts[bucket(&run[i])]++
	}
	if counts[bucket(&run[0])] == len(run) {
		// One bucket: nothing to move.
		if bucket(&run[0]) == 0 {
			slices.SortFunc(run, func(a, b entry) int { return cmp.Compare(a.off, b.off) })
			return
		}
		ks.stack = append(ks.stack, group{g.lo, g.hi, d, b + 1})
		return
	}
	flagSort(run, counts[:], bucket)
	// Bucket 0 holds one key, ended at byte d+b: insertion order.
	slices.SortFunc(run[:counts[0]], func(a, b entry) int { return cmp.Compare(a.off, b.off) })
	lo := g.lo + counts[0]
	for _, c := range counts[1:] {
		if c > 1 {
			ks.stack = append(ks.stack, group{lo, lo + c, d, b + 1})
		}
		lo += c
	}
}

// refine pushes, for the entries in [lo, hi) sorted by compareAt at depth
// d, each run of two or more that agree in their prefix and go on past it,
// with prefixes reloaded 8 bytes deeper.
func (ks *keySorter) refine(ents []entry, lo, hi, d int) {
	for i := lo; i < hi; {
		j := i + 1
		if tail(&ents[i], d) == 9 {
			for j < hi && ents[j].prefix == ents[i].prefix && tail(&ents[j], d) == 9 {
				j++
			}
			if j-i > 1 {
				ks.reload(ents[i:j], d+8)
				ks.stack = append(ks.stack, group{i, j, d + 8, 0})
			}
		}
		i = j
	}
}

// reload sets each entry's prefix to its key bytes [d, d+8).
func (ks *keySorter) reload(run []entry, d int) {
	for i := range run {
		if j := i + prefetchAhead; j < len(run) {
			prefetch(ks.addr(&run[j]) + uintptr(d))
		}
		run[i].prefix = keyPrefix(ks.key(&run[i])[d:])
	}
}

// flagSort permutes ents in place so that bucket(e) ascends, given how many
// entries each bucket has (an American flag sort). It does not keep the
// order within a bucket.
func flagSort(ents []entry, counts []int, bucket func(*entry) int) {
	next := make([]int, len(counts))
	ends := make([]int, len(counts))
	sum := 0
	for k, c := range counts {
		next[k] = sum
		sum += c
		ends[k] = sum
	}
	for k := range counts {
		for next[k] < ends[k] {
			e := ents[next[k]]
			for bk := bucket(&e); bk != k; bk = bucket(&e) {
				ents[next[bk]], e = e, ents[next[bk]]
				next[bk]++
			}
			ents[next[k]] = e
			next[k]++
		}
	}
}

// tail is how many key bytes an entry has from depth d, up to 9: 9 means
// more than its prefix holds.
func tail(e *entry, d int) int { return min(int(e.klen)-d, 9) }

// compareAt orders two entries whose keys agree in their first d bytes and
// whose prefixes hold key bytes [d, d+8): by prefix, then by how many key
// bytes go on (the shorter key is a prefix of the longer when the
// zero-padded prefixes agree), then by insertion order. Two keys that both
// go on past their equal prefixes tie here until refined.
func compareAt(a, b *entry, d int) int {
	if a.prefix != b.prefix {
		if a.prefix < b.prefix {
			return -1
		}
		return 1
	}
	if ta, tb := tail(a, d), tail(b, d); ta != tb {
		return ta - tb
	}
	return cmp.Compare(a.off, b.off)
}
