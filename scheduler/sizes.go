package scheduler

import (
	"slices"
)

// Map output sizes, stored compactly (Spark's CompressedMapStatus and
// HighlyCompressedMapStatus). A map output of R reduce partitions costs at
// most a few bytes per non-empty partition, or about R/8 bytes past that.
// Whether a partition is empty is always exact: a reducer skips the empty
// ones without fetching, so an empty partition reported non-empty costs a
// fetch and a non-empty one reported empty would lose data. The size of a
// non-empty partition is exact while that is cheap, and for the largest
// partitions; otherwise it is the average of the non-empty ones, and
// marked approximate: a reducer then checks the length of what it fetched
// only against an exact size (the blocks carry their own checksums, and a
// truncated stream fails in the transport).

// exactBudget is how many bytes of exact (index, size) pairs a map output
// may keep before its sizes are compressed: about 85 non-empty partitions,
// so small shuffles keep every size exact.
const exactBudget = 1024

// maxLarge bounds the exact sizes a compressed map output keeps for its
// largest partitions.
const maxLarge = 64

// mapSizes is the size of each reduce partition of one map output,
// immutable once built.
type mapSizes struct {
	parts int
	// approx: sizes of non-empty partitions outside idx are avg.
	approx bool
	avg    int64
	// idx and size: exact sizes of non-empty partitions, by increasing
	// partition: all of them when !approx, the largest when approx.
	idx  []uint32
	size []int64
	// Approximate sizes say which partitions are non-empty in one of two
	// ways: empty lists the empty ones (when they are few), or bits marks
	// the non-empty ones.
	empty []uint32
	bits  []uint64
	total int64
}

// compressSizes returns sizes in compact form. Only a size of 0 is empty;
// a partition past len(sizes) has an unknown size, so it is never skipped.
func compressSizes(sizes []int64) *mapSizes {
	m := &mapSizes{parts: len(sizes)}
	nonEmpty, largest := 0, int64(0)
	for _, n := range sizes {
		if n != 0 {
			nonEmpty++
			m.total += max(n, 0)
			largest = max(largest, n)
		}
	}
	if 12*nonEmpty <= max(exactBudget, len(sizes)/8+12*maxLarge) {
		m.idx = make([]uint32, 0, nonEmpty)
		m.size = make([]int64, 0, nonEmpty)
		for p, n := range sizes {
			if n != 0 {
				m.idx = append(m.idx, uint32(p))
				m.size = append(m.size, n)
			}
		}
		return m
	}
	m.approx = true
	m.avg = max(m.total/int64(nonEmpty), 1)
	emptyN := len(sizes) - nonEmpty
	if 4*emptyN < len(sizes)/8 {
		m.empty = make([]uint32, 0, emptyN)
		for p, n := range sizes {
			if len(m.empty) == emptyN {
				break
			}
			if n == 0 {
				m.empty = append(m.empty, uint32(p))
			}
		}
	} else {
		m.bits = make([]uint64, (len(sizes)+63)/64)
		for p, n := range sizes {
			if n != 0 {
				m.bits[p/64] |= 1 << (p % 64)
			}
		}
	}
	// The largest partitions, past four times the average, keep their
	// exact size: they are what skew looks like.
	var large []int
	for p, n := range sizes {
		if largest < 4*m.avg {
			break // none is
		}
		if n >= 4*m.avg {
			large = append(large, p)
		}
	}
	if len(large) > maxLarge {
		slices.SortStableFunc(large, func(a, b int) int {
			switch {
			case sizes[a] > sizes[b]:
				return -1
			case sizes[a] < sizes[b]:
				return 1
			}
			return 0
		})
		large = large[:maxLarge]
		slices.Sort(large)
	}
	for _, p := range large {
		m.idx = append(m.idx, uint32(p))
		m.size = append(m.size, sizes[p])
	}
	return m
}

// at returns the size of partition p and whether it is exact. An empty
// partition is always exactly 0; one the sizes do not cover is -1,
// unknown.
func (m *mapSizes) at(p int) (size int64, exact bool) {
	if p < 0 || p >= m.parts {
		return -1, false
	}
	if i, ok := slices.BinarySearch(m.idx, uint32(p)); ok {
		return m.size[i], true
	}
	if !m.approx {
		return 0, true
	}
	if m.bits != nil {
		if m.bits[p/64]&(1<<(p%64)) == 0 {
			return 0, true
		}
		return m.avg, false
	}
	if _, ok := slices.BinarySearch(m.empty, uint32(p)); ok {
		return 0, true
	}
	return m.avg, false
}

// bytes estimates the memory m holds.
func (m *mapSizes) bytes() int {
	return 64 + 4*len(m.idx) + 8*len(m.size) + 4*len(m.empty) + 8*len(m.bits)
}
