package main

import (
	"math"
	"math/bits"
)

// The word-length model. Frequent words are short, as in natural text: the
// word of rank r has about lenBase+lenSlope*ln(r) letters, jittered by up to
// ±lenJitter and clamped to [minLetters, maxLetters]. The constants are tuned
// so that the default corpus (vocab 1e6, s 1.1) has about 188 M words per GiB;
// TestWordsPerGiB holds them there.
const (
	lenBase    = 1.94
	lenSlope   = 0.55
	lenJitter  = 1.5
	minLetters = 2
	maxLetters = 12

	// plainRanks are never decorated: the most frequent words of a language
	// are plain, and one decorated top word would dominate the corpus.
	plainRanks = 100

	// slotBytes is the size of one cached word: up to 15 bytes and the length
	// in the last byte, so that the generator copies a fixed 16 bytes.
	slotBytes = 16
	maxWord   = slotBytes - 1
)

// decorations are single non-letter runes inserted into about 3.5% of words
// so that tokenizers meet digits, punctuation and multi-byte UTF-8.
var (
	punct    = []string{"'", "-", ".", ",", "!", "?", ";", ":"}
	nonASCII = []string{"é", "è", "ü", "ö", "ñ", "ç", "ß", "ø", "å", "ł", "я", "ж", "中", "語"}
)

// appendWord appends the word of rank r >= 1, at most maxWord bytes. The word
// is a pure function of r, so the vocabulary does not depend on the seed or
// on its size, and distinct ranks have distinct words: the letters are a
// bijection of r among the 26**l strings of its length l (hence l is raised
// until r < 26**l), and a decoration inserts exactly one non-letter rune, which
// can be removed again to recover the plain word.
func appendWord(dst []byte, r uint64) []byte {
	h := splitmix64(r)
	jitter := (float64(h>>11)/(1<<53)*2 - 1) * lenJitter
	l := int(math.Round(lenBase + lenSlope*math.Ln2*log2(r) + jitter))
	l = min(max(l, minLetters), maxLetters)
	for r >= pow26(l) {
		l++
	}
	var letters [maxLetters + 1]byte
	x := permute26(r, l)
	for j := l - 1; j >= 0; j-- {
		letters[j] = 'a' + byte(x%26)
		x /= 26
	}
	return decorate(dst, letters[:l], r, splitmix64(h))
}

// log2 is a piecewise linear log2 for r >= 1, exact at powers of two and at
// most 0.09 below elsewhere; unlike math.Log it costs next to nothing.
func log2(r uint64) float64 {
	e := bits.Len64(r) - 1
	return float64(e) + float64(r-1<<e)/float64(uint64(1)<<e)
}

// decorate appends word to dst, with one inserted rune for some ranks.
func decorate(dst, word []byte, rank, h uint64) []byte {
	sel := h & 1023
	h >>= 10
	var ins string
	pos := int(h % uint64(len(word)+1))
	h >>= 8
	switch {
	case rank <= plainRanks || sel >= 36:
		return append(dst, word...)
	case sel < 12:
		ins = string(rune('0' + h%10))
	case sel < 24:
		ins = punct[h%uint64(len(punct))]
		if ins != "'" && ins != "-" {
			pos = len(word) // sentence punctuation trails the word
		}
	default:
		ins = nonASCII[h%uint64(len(nonASCII))]
	}
	dst = append(dst, word[:pos]...)
	dst = append(dst, ins...)
	return append(dst, word[pos:]...)
}

// vocab caches the words of the most frequent ranks in fixed-size slots, so
// the generator copies them without computing them. slots[i] holds rank i+1.
type vocab struct {
	slots [][slotBytes]byte
}

func newVocab(n int) *vocab {
	v := &vocab{slots: make([][slotBytes]byte, n)}
	for i := range v.slots {
		s := &v.slots[i]
		s[maxWord] = byte(len(appendWord(s[:0], uint64(i+1))))
	}
	return v
}

// pow26 returns 26**l.
func pow26(l int) uint64 {
	p := uint64(1)
	for range l {
		p *= 26
	}
	return p
}

// permute26 maps x in [0, 26**l) to a pseudo-random distinct value in the same
// range by cycle-walking a bijection of the enclosing power of two.
func permute26(x uint64, l int) uint64 {
	n := pow26(l)
	k := uint(bits.Len64(n - 1))
	mask := uint64(1)<<k - 1
	for {
		x = (x*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019) & mask
		x ^= x >> (k/2 + 1)
		x = (x * 0xbf58476d1ce4e5b9) & mask
		x ^= x >> (k/3 + 1)
		if x < n {
			return x
		}
	}
}

// splitmix64 is a fast 64-bit mixer (Steele, Lea and Flood).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
