package codec

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestHashPinned fixes Hash's values: changing them would send keys to
// different partitions than a previous version of the binary did.
func TestHashPinned(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"a", 0x82a2a958a9bece5b},
		{"hello", 0xe9c562c0fdb23244},
		{"\x00", 0xb9034ad37056f5fb},
		{"the quick brown fox", 0x1cd65fcf86e59d9d},
	} {
		if got := Hash([]byte(tt.in)); got != tt.want {
			t.Errorf("Hash(%q) = %#016x, want %#016x", tt.in, got, tt.want)
		}
	}
}

func TestHashIsFNV1aThenFmix64(t *testing.T) {
	r := newRand(20)
	for range 200 {
		b := []byte(fmt.Sprint(r.Uint64()))
		h := fnv.New64a()
		h.Write(b)
		if got, want := Hash(b), fmix64(h.Sum64()); got != want {
			t.Fatalf("Hash(%q) = %#x, want %#x", b, got, want)
		}
	}
}

// TestHashSpreads checks that sequential keys, the worst case for plain
// FNV modulo a small power of two, fill partitions evenly.
func TestHashSpreads(t *testing.T) {
	const keys = 100000
	for _, parts := range []int{2, 8, 64, 100, 1024} {
		counts := make([]int, parts)
		c := For[int64]()
		var buf []byte
		for i := range keys {
			buf = c.Append(buf[:0], int64(i))
			counts[Hash(buf)%uint64(parts)]++
		}
		// Chi-squared with parts-1 degrees of freedom; the bound is far
		// above any plausible value for a uniform spread.
		exp := float64(keys) / float64(parts)
		chi := 0.0
		for _, n := range counts {
			d := float64(n) - exp
			chi += d * d / exp
		}
		if limit := 2*float64(parts) + 50; chi > limit {
			t.Errorf("%d partitions: chi-squared %.1f > %.1f; counts %v", parts, chi, limit, counts[:min(parts, 16)])
		}
	}
}
