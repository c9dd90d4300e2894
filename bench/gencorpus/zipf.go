package main

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The sampler's buckets: each of the headRanks most frequent ranks is a bucket
// of its own, and the rest of the ranks form buckets of tailBlock
// consecutive ranks. One alias table over the buckets stays in a core's L2
// cache (a 1e6 vocabulary has 48 K buckets, 384 KiB) and so does the word
// cache of the head, which most draws hit (87% for the default vocabulary and
// exponent). Random loads from per-word tables of the whole vocabulary miss the
// cache, and on these virtual machines such a miss costs more than computing
// a tail word afresh.
const (
	headRanks = 1 << 15
	tailBlock = 64
	maxVocab  = 100_000_000 // setup takes seconds and 12 MiB per worker here
)

// zipfTable samples 0-based ranks i in [0, n) with P(i) ∝ (i+1)**-s, the
// distribution of rand.NewZipf(r, s, 1, n-1), whose rejection sampler costs
// several transcendental functions per value. Here a head rank costs one
// draw and one cached load. A tail rank costs one more draw: the alias table
// picks a block with its exact mass, then a uniform rank of the block is kept
// with probability w(r)/w(r0), r0 the block's first rank, which is more than
// 99.7% for blocks after rank headRanks and mostly decided without math.Pow.
type zipfTable struct {
	s       float64
	n, k    int
	buckets aliasTable
}

func newZipfTable(s float64, n int) (*zipfTable, error) {
	if !(s > 1) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("zipf exponent %v: must be a number greater than 1", s)
	}
	if n < 1 || n > maxVocab {
		return nil, fmt.Errorf("vocabulary size %d: must be in [1, %d]", n, maxVocab)
	}
	k := min(n, headRanks)
	w := make([]float64, k, k+(n-k+tailBlock-1)/tailBlock)
	for i := range w {
		w[i] = math.Pow(float64(i+1), -s)
	}
	for r0 := k; r0 < n; r0 += tailBlock {
		var b float64
		for i := min(n, r0+tailBlock) - 1; i >= r0; i-- { // smallest first, for a more exact sum
			b += math.Pow(float64(i+1), -s)
		}
		w = append(w, b)
	}
	return &zipfTable{s: s, n: n, k: k, buckets: newAlias(w)}, nil
}

// draw returns a 0-based rank.
func (t *zipfTable) draw(src *rand.PCG) int {
	j := t.buckets.sample(src.Uint64())
	if j < t.k {
		return j
	}
	return t.inBlock(t.k+(j-t.k)*tailBlock, src)
}

// inBlock returns a rank of the tail block that starts at r0, with P(i)
// ∝ (i+1)**-s, by rejection from a uniform proposal.
func (t *zipfTable) inBlock(r0 int, src *rand.PCG) int {
	b := uint64(min(tailBlock, t.n-r0))
	for {
		u := src.Uint64()
		d := int((u >> 32) * b >> 32)
		if d == 0 {
			return r0
		}
		// Keep r0+d with probability ((r0+1)/(r0+d+1))**s, which is at least
		// 1 - s*d/(r0+1) (convexity).
		keep := float64(uint32(u)) / (1 << 32)
		if keep < 1-t.s*float64(d)/float64(r0+1) ||
			keep < math.Pow(float64(r0+1)/float64(r0+d+1), t.s) {
			return r0 + d
		}
	}
}

// aliasTable is Walker's alias table: outcome j is drawn by picking a column
// uniformly and then either j itself or the column's alias.
type aliasTable []aliasEntry

type aliasEntry struct {
	thr   uint32 // keep the column with probability thr/2**32
	alias uint32
}

// newAlias builds an alias table for outcomes with the given weights (Vose's
// method).
func newAlias(w []float64) aliasTable {
	n := len(w)
	var sum float64
	for i := n - 1; i >= 0; i-- {
		sum += w[i]
	}
	q := make([]float64, n)
	var small, large []uint32
	for i, x := range w {
		q[i] = x / sum * float64(n)
		if q[i] < 1 {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	t := make(aliasTable, n)
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		t[s] = aliasEntry{thr: uint32(max(q[s], 0) * (1 << 32)), alias: l}
		q[l] -= 1 - q[s]
		if q[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left has q == 1 up to rounding: it always keeps its column.
	for _, rest := range [][]uint32{small, large} {
		for _, i := range rest {
			t[i] = aliasEntry{thr: math.MaxUint32, alias: i}
		}
	}
	return t
}

// sample maps a uniform u to an outcome: its high half picks the column, its
// low half decides between the column and its alias.
func (t aliasTable) sample(u uint64) int {
	j := (u >> 32) * uint64(len(t)) >> 32
	e := t[j]
	i := int(e.alias)
	if uint32(u) < e.thr {
		i = int(j)
	}
	return i
}

// probs returns the probability of each outcome as the table samples it.
func (t aliasTable) probs() []float64 {
	p := make([]float64, len(t))
	for j, e := range t {
		keep := float64(e.thr) / (1 << 32)
		p[j] += keep / float64(len(t))
		p[e.alias] += (1 - keep) / float64(len(t))
	}
	return p
}
