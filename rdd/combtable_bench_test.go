package rdd

import (
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
)

// zipfWords is a stream of n words drawn from a vocabulary of vocab by a
// Zipf law of exponent 1.1, as bench/gencorpus draws them: the key stream
// of a map-side wordcount.
func zipfWords(n, vocab int) []string {
	rng := rand.New(rand.NewSource(1))
	z := rand.NewZipf(rng, 1.1, 1, uint64(vocab-1))
	words := make([]string, vocab)
	for i := range words {
		words[i] = fmt.Sprintf("%x", uint64(i)*0x9e3779b97f4a7c15>>(40+i%5*4))
	}
	// One string holds the stream, as one string holds a chunk of a
	// text file, so reading the words is sequential.
	var sb strings.Builder
	for range n {
		sb.WriteString(words[z.Uint64()])
		sb.WriteByte(' ')
	}
	return strings.Fields(sb.String())
}

// perRecord runs f b.N times over n records, reporting the calling
// thread's CPU time per record (cpu-ns/record), which load on a shared
// machine barely moves.
func perRecord(b *testing.B, n int, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N*n), "cpu-ns/record")
}

func zipfInts(n, vocab int) []uint64 {
	rng := rand.New(rand.NewSource(1))
	z := rand.NewZipf(rng, 1.1, 1, uint64(vocab-1))
	out := make([]uint64, n)
	for i := range out {
		out[i] = z.Uint64() * 0x9e3779b97f4a7c15
	}
	return out
}

const benchRecords, benchVocab = 1 << 21, 1 << 20

// BenchmarkCombineStrings counts a Zipf stream of words with the combine
// table and with the Go map the map side used before it (a rank index
// and a slice of counts); ns/record is the figure to compare.
func BenchmarkCombineStrings(b *testing.B) {
	words := zipfWords(benchRecords, benchVocab)
	b.Run("combTable", func(b *testing.B) {
		perRecord(b, len(words), func() {
			t := newCombTable[int64](0, 1<<30)
			for _, w := range words {
				i, isNew := t.lookup(w)
				if i < 0 {
					t.grow()
					i, isNew = t.lookup(w)
				}
				if isNew {
					t.slots[i].v = 1
				} else {
					t.slots[i].v++
				}
			}
		})
	})
	b.Run("gomap", func(b *testing.B) {
		perRecord(b, len(words), func() {
			idx := map[string]int32{}
			var vals []int64
			for _, w := range words {
				if i, ok := idx[w]; ok {
					vals[i]++
					continue
				}
				idx[w] = int32(len(vals))
				vals = append(vals, 1)
			}
		})
	})
}

// BenchmarkSpillTableStrings is the combTable row of
// BenchmarkCombineStrings through spillTable, whose batches overlap the
// cache misses of lookups.
func BenchmarkSpillTableStrings(b *testing.B) {
	words := zipfWords(benchRecords, benchVocab)
	tc := &task.Context{Memory: 1 << 30}
	add := func(a, b int64) int64 { return a + b }
	perRecord(b, len(words), func() {
		t := newSpillTable(tc, 0, 1<<30, codec.For[int64](), func(x int64) int64 { return x }, add, keyBytes, partZero)
		for _, w := range words {
			if err := t.addString(w, 1); err != nil {
				b.Fatal(err)
			}
		}
		if err := t.done(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCombineInts is BenchmarkCombineStrings with integer keys.
func BenchmarkCombineInts(b *testing.B) {
	keys := zipfInts(benchRecords, benchVocab)
	b.Run("combTable", func(b *testing.B) {
		perRecord(b, len(keys), func() {
			t := newCombTable[int64](0, 1<<30)
			for _, k := range keys {
				i, isNew := t.lookupWord(k)
				if i < 0 {
					t.grow()
					i, isNew = t.lookupWord(k)
				}
				if isNew {
					t.slots[i].v = 1
				} else {
					t.slots[i].v++
				}
			}
		})
	})
	b.Run("gomap", func(b *testing.B) {
		perRecord(b, len(keys), func() {
			idx := map[uint64]int32{}
			var vals []int64
			for _, k := range keys {
				if i, ok := idx[k]; ok {
					vals[i]++
					continue
				}
				idx[k] = int32(len(vals))
				vals = append(vals, 1)
			}
		})
	})
}
