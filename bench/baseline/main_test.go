package main

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// pieces are what random inputs are made of: words, every kind of white
// space strings.Fields knows, non-space runes next to spaces, and invalid
// UTF-8 of every shape, including bytes that are white space only when
// properly encoded (0x85, 0xa0).
var pieces = func() []string {
	p := []string{
		"a", "b", "word", "Zz9", "x-y", "'", ".", "\x00", "\x7f",
		" ", "  ", "\t", "\n", "\n", "\n", "\r\n", "\v", "\f", "\r",
		"é", "ß", "中", "語", "😀", "\u200b", "\ufeff", "\u00ad", "\u0084", "\u0086",
		"\x80", "\xbf", "\x85", "\xa0", "\xc2", "\xe4\xb8", "\xf0\x9f\x98", "\xff", "\xfe",
		"\xc0\x80", "\xc1\xbf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
	}
	for r := rune(0x80); r <= 0x3000; r++ {
		if unicode.IsSpace(r) {
			p = append(p, string(r)) // U+0085, U+00A0, U+1680, U+2000-U+200A, ...
		}
	}
	return p
}()

func randomText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		if rng.IntN(4) == 0 {
			b.WriteString(strings.Repeat("w", rng.IntN(40))) // long words cross reads
		}
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// fieldsCount is the reference: strings.Fields over each file.
func fieldsCount(texts []string) map[string]int {
	m := make(map[string]int)
	for _, t := range texts {
		for _, w := range strings.Fields(t) {
			m[w]++
		}
	}
	return m
}

func writeFiles(t *testing.T, texts []string) []string {
	t.Helper()
	dir := t.TempDir()
	paths := make([]string, len(texts))
	for i, s := range texts {
		paths[i] = filepath.Join(dir, fmt.Sprintf("in-%d", i))
		if err := os.WriteFile(paths[i], []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

func TestCountMatchesStringsFields(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	configs := []config{
		defaultConfig(),
		{workers: 1, perWork: 1, bufSize: 1},
		{workers: 1, perWork: 7, bufSize: 3},
		{workers: 2, perWork: 2, bufSize: 4},
		{workers: 3, perWork: 5, bufSize: 16},
		{workers: 4, perWork: 3, bufSize: 61},
	}
	for iter := range 200 {
		texts := make([]string, 1+rng.IntN(3))
		for i := range texts {
			texts[i] = randomText(rng, rng.IntN(2000))
		}
		want := fieldsCount(texts)
		paths := writeFiles(t, texts)
		for _, cfg := range configs {
			got, err := countFiles(paths, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("iteration %d, %+v: counts differ from strings.Fields:\n%s", iter, cfg, diff(got, want))
			}
		}
	}
}

func TestCountEdgeCases(t *testing.T) {
	for _, texts := range [][]string{
		{""},
		{"", "a"},
		{" \n\t\u3000\u0085"},
		{"no newline at all, several words"},
		{"trailing\xe4\xb8"},
		{"\xc2\x85a\xc2\x85\xc2"},
		{strings.Repeat("x", 5000) + "\n" + strings.Repeat("é", 3000)},
		{"a\nb\n", "b\nc", "c"},
	} {
		paths := writeFiles(t, texts)
		want := fieldsCount(texts)
		for _, cfg := range []config{defaultConfig(), {workers: 3, perWork: 4, bufSize: 2}} {
			got, err := countFiles(paths, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("%q, %+v:\n%s", texts, cfg, diff(got, want))
			}
		}
	}
}

func TestCountErrors(t *testing.T) {
	if _, err := countFiles([]string{filepath.Join(t.TempDir(), "missing")}, defaultConfig()); err == nil {
		t.Error("missing file: no error")
	}
	if _, err := countFiles([]string{t.TempDir()}, defaultConfig()); err == nil {
		t.Error("directory: no error")
	}
}

func TestSplitAlignsAtNewlines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		texts := []string{randomText(rng, rng.IntN(3000)), randomText(rng, rng.IntN(300))}
		paths := writeFiles(t, texts)
		parts := 1 + rng.IntN(10)
		spans, err := split(paths, parts)
		if err != nil {
			t.Fatal(err)
		}
		next := map[string]int64{}
		for _, s := range spans {
			text := texts[slices.Index(paths, s.path)]
			if s.off != next[s.path] || s.end <= s.off {
				t.Fatalf("span %+v does not follow %d", s, next[s.path])
			}
			if s.end != int64(len(text)) && text[s.end-1] != '\n' {
				t.Fatalf("span %+v ends inside a line", s)
			}
			next[s.path] = s.end
		}
		for i, p := range paths {
			if next[p] != int64(len(texts[i])) {
				t.Fatalf("spans of %s cover %d of %d bytes", p, next[p], len(texts[i]))
			}
		}
	}
}

func TestTopN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		m := map[string]int{}
		for range rng.IntN(200) {
			m[strconv.Itoa(rng.IntN(300))] = 1 + rng.IntN(10) // many ties
		}
		var all []wordCount
		for w, c := range m {
			all = append(all, wordCount{w, c})
		}
		slices.SortFunc(all, func(a, b wordCount) int {
			return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.word, b.word))
		})
		want := all[:min(20, len(all))]
		if got := topN(m, 20); !slices.Equal(got, want) {
			t.Fatalf("topN = %v, want %v", got, want)
		}
	}
}

func TestWritePart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	want := map[string]int{"a": 3, "é": 1, "\xff": 2}
	if err := writePart(dir, want); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "part-00000"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for line := range strings.Lines(string(data)) {
		w, c, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		n, err := strconv.Atoi(c)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[w] = n
	}
	if !maps.Equal(got, want) {
		t.Errorf("part-00000 holds %v, want %v", got, want)
	}
}

func diff(got, want map[string]int) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	n := 0
	for k := range maps.Keys(got) {
		if got[k] != want[k] && n < 10 {
			fmt.Fprintf(w, "%q: got %d, want %d\n", k, got[k], want[k])
			n++
		}
	}
	for k := range maps.Keys(want) {
		if _, ok := got[k]; !ok && n < 10 {
			fmt.Fprintf(w, "%q: missing, want %d\n", k, want[k])
			n++
		}
	}
	w.Flush()
	return b.String()
}

// BenchmarkCountIdiom shows why counter keeps indices: m[string(b)]++
// allocates the key on every call, hit or miss.
func BenchmarkCountIdiom(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	words := make([][]byte, 1<<16)
	for i := range words {
		words[i] = fmt.Appendf(nil, "w%d", rng.IntN(10000))
	}
	b.Run("index", func(b *testing.B) {
		c := newCounter()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.add(words[i&(len(words)-1)])
		}
	})
	b.Run("increment", func(b *testing.B) {
		m := map[string]int{}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m[string(words[i&(len(words)-1)])]++
		}
	})
}
