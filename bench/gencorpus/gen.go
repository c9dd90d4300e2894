package main

import (
	"context"
	"io"
	"math/bits"
	"math/rand/v2"
	"sync"
)

// The corpus layout. The file is a sequence of chunks of at most chunkBytes,
// each ending at a line end and drawn from its own PCG seeded by (seed, chunk
// index), so chunks can be generated in parallel and the output does not
// depend on the number of workers. Changing any of these changes the corpus.
const (
	chunkBytes   = 4 << 20
	minLineWords = 5
	lineWordBits = 4  // line lengths are minLineWords + [0, 1<<lineWordBits)
	crlfPercent  = 1  // lines that end in "\r\n" rather than "\n"
	oddSepLines  = 32 // one line in oddSepLines has a tab, one two spaces
	maxLineBytes = (minLineWords+1<<lineWordBits)*(maxWord+2) + 2
)

// chunk is one generated piece of the corpus.
type chunk struct {
	buf   []byte
	words int
}

// generator makes the chunks of one corpus.
type generator struct {
	seed  uint64
	size  int64
	vocab *vocab
	zipf  *zipfTable
}

func (g *generator) chunks() int64 {
	return (g.size + chunkBytes - 1) / chunkBytes
}

// fill generates chunk k into buf, which must have room for chunkBytes plus
// slack, and marks the ranks it used in seen.
func (g *generator) fill(k int64, buf []byte, seen []uint64) chunk {
	limit := int(min(chunkBytes, g.size-k*chunkBytes))
	src := rand.NewPCG(g.seed, splitmix64(uint64(k)))
	var line [minLineWords + 1<<lineWordBits - 1]int
	p, words := 0, 0
	for {
		start := p
		// One draw lays out the line: bits 0-3 its length, 4-23 its end,
		// 24-28 whether one separator is a tab or two spaces, 32-63 which.
		lr := src.Uint64()
		n := minLineWords + int(lr&(1<<lineWordBits-1))
		odd := 0
		if (lr>>24)&(oddSepLines-1) < 2 {
			odd = 1 + int((lr>>32)*uint64(n-1)>>32)
		}
		for j := range n {
			if j > 0 {
				buf[p] = ' '
				p++
				if j == odd {
					if lr&(1<<24) == 0 {
						buf[p-1] = '\t'
					} else {
						buf[p] = ' '
						p++
					}
				}
			}
			i := g.zipf.draw(src)
			line[j] = i
			if i < len(g.vocab.slots) {
				s := &g.vocab.slots[i]
				*(*[slotBytes]byte)(buf[p:]) = *s // copies past the word; later bytes overwrite it
				p += int(s[maxWord])
			} else {
				p = len(appendWord(buf[:p], uint64(i+1)))
			}
		}
		if ((lr>>4)&(1<<20-1))%100 < crlfPercent {
			buf[p] = '\r'
			p++
		}
		buf[p] = '\n'
		p++
		if p > limit {
			return chunk{buf: buf[:start], words: words}
		}
		words += n
		for _, i := range line[:n] {
			seen[i>>6] |= 1 << (i & 63)
		}
	}
}

// stats summarises a written corpus.
type stats struct {
	bytes, words, distinct int64
}

// writeTo generates the corpus into w with the given number of workers,
// writing chunks in order. It stops early, with ctx's error, when ctx is
// done.
func (g *generator) writeTo(parent context.Context, w io.Writer, workers int) (stats, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	type job struct {
		k    int64
		done chan chunk
	}
	jobs := make(chan job)
	order := make(chan chan chunk, 2*workers)
	bufs := make(chan []byte, 3*workers)
	for range cap(bufs) {
		bufs <- make([]byte, chunkBytes+maxLineBytes+slotBytes)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		defer close(order)
		for k := range g.chunks() {
			done := make(chan chunk, 1)
			select {
			case order <- done:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{k, done}:
			case <-ctx.Done():
				return
			}
		}
	})
	seens := make([][]uint64, workers)
	for n := range workers {
		seen := make([]uint64, (g.zipf.n+63)/64)
		seens[n] = seen
		wg.Go(func() {
			for j := range jobs {
				var buf []byte
				select {
				case buf = <-bufs:
				case <-ctx.Done():
					return
				}
				j.done <- g.fill(j.k, buf, seen)
			}
		})
	}

	var st stats
	var err error
	for done := range order {
		var c chunk
		select {
		case c = <-done:
		case <-ctx.Done():
		}
		if err = ctx.Err(); err != nil {
			break
		}
		if _, err = w.Write(c.buf); err != nil {
			break
		}
		st.bytes += int64(len(c.buf))
		st.words += int64(c.words)
		bufs <- c.buf[:cap(c.buf)]
	}
	if err == nil {
		err = parent.Err() // the producer may have stopped before the first chunk
	}
	cancel()
	for range order { // let the producer finish
	}
	wg.Wait()
	if err != nil {
		return st, err
	}
	for i := range seens[0] {
		var x uint64
		for _, s := range seens {
			x |= s[i]
		}
		st.distinct += int64(bits.OnesCount64(x))
	}
	return st, nil
}
