package spill

import (
	"cmp"
	"slices"
)

// sortByKey sorts ents by (partition, key bytes, insertion order) without
// reading the arena for most comparisons: entries compare by their 8-byte
// key prefixes, as Spark's Tungsten sort does, and only a group of entries
// whose keys agree in their first d bytes and go on past d+8 is refined:
// each gets the next 8 key bytes as its prefix (one arena read per entry)
// and the group is sorted again by those. A group of keys that end within
// their prefix and agree in it is one key, ordered by insertion.
//
// key returns an entry's key bytes; addr, the address of its first byte,
// for a prefetch.
func sortByKey(ents []entry, key func(*entry) []byte, addr func(*entry) uintptr) {
	slices.SortFunc(ents, func(a, b entry) int {
		if a.part != b.part {
			return cmp.Compare(a.part, b.part)
		}
		return compareAt(&a, &b, 0)
	})
	type group struct{ lo, hi, depth int }
	var stack []group
	push := func(g []entry, lo, depth int) {
		// Groups at this depth: same partition and prefix, and keys that
		// go on past it.
		for i := 0; i < len(g); {
			j := i + 1
			if tail(&g[i], depth) == 9 {
				for j < len(g) && g[j].part == g[i].part && g[j].prefix == g[i].prefix && tail(&g[j], depth) == 9 {
					j++
				}
				if j-i > 1 {
					stack = append(stack, group{lo + i, lo + j, depth + 8})
				}
			}
			i = j
		}
	}
	push(ents, 0, 0)
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		run := ents[g.lo:g.hi]
		for i := range run {
			if j := i + prefetchAhead; j < len(run) {
				prefetch(addr(&run[j]) + uintptr(g.depth))
			}
			run[i].prefix = keyPrefix(key(&run[i])[g.depth:])
		}
		d := g.depth
		slices.SortFunc(run, func(a, b entry) int { return compareAt(&a, &b, d) })
		push(run, g.lo, d)
	}
}

// prefetchAhead is how many entries ahead of the one whose prefix it
// reloads a refinement prefetches the key.
const prefetchAhead = 16

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
