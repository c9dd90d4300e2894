package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func newGenerator(t testing.TB, seed uint64, size int64, vocabN int) *generator {
	t.Helper()
	z, err := newZipfTable(1.1, vocabN)
	if err != nil {
		t.Fatal(err)
	}
	return &generator{seed: seed, size: size, vocab: newVocab(z.k), zipf: z}
}

func generate(t *testing.T, g *generator, workers int) ([]byte, stats) {
	t.Helper()
	var b bytes.Buffer
	st, err := g.writeTo(context.Background(), &b, workers)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), st
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"1000", 1000}, {"64KiB", 64 << 10}, {"256MiB", 256 << 20},
		{"1GiB", 1 << 30}, {"2TiB", 2 << 40}, {"10B", 10}, {"3 mib", 3 << 20},
	} {
		if got, err := parseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5GiB", "1GB", "MiB", "12x", "99999999999TiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestDeterministic(t *testing.T) {
	size := int64(2*chunkBytes + 12345) // a partial last chunk
	a, sta := generate(t, newGenerator(t, 7, size, 1000000), 1)
	b, stb := generate(t, newGenerator(t, 7, size, 1000000), 4)
	if !bytes.Equal(a, b) || sta != stb {
		t.Fatalf("1 and 4 workers differ: %d and %d bytes, %+v and %+v", len(a), len(b), sta, stb)
	}
	c, _ := generate(t, newGenerator(t, 8, size, 1000000), 2)
	if bytes.Equal(a[:1000], c[:1000]) {
		t.Error("seeds 7 and 8 give the same text")
	}
	if int64(len(a)) > size || size-int64(len(a)) > 3*maxLineBytes {
		t.Errorf("asked for %d bytes, got %d", size, len(a))
	}
}

func TestLayout(t *testing.T) {
	const vocabN = 50000
	words := map[string]bool{}
	for r := uint64(1); r <= vocabN; r++ {
		words[string(appendWord(nil, r))] = true
	}
	text, st := generate(t, newGenerator(t, 1, 3<<20, vocabN), 2)
	if !bytes.HasSuffix(text, []byte("\n")) {
		t.Fatal("text does not end in a newline")
	}
	var lines, crlf, odd, nw int64
	for line := range strings.Lines(string(text)) {
		lines++
		line = strings.TrimSuffix(line, "\n")
		if l, ok := strings.CutSuffix(line, "\r"); ok {
			line = l
			crlf++
		}
		if strings.Count(line, "\t")+strings.Count(line, "  ") > 1 || strings.Contains(line, "   ") {
			t.Fatalf("line %d has more than one odd separator: %q", lines, line)
		}
		if strings.Contains(line, "\t") || strings.Contains(line, "  ") {
			odd++
		}
		f := strings.Fields(line)
		if len(f) < minLineWords || len(f) > minLineWords+1<<lineWordBits-1 {
			t.Fatalf("line %d has %d words: %q", lines, len(f), line)
		}
		if strings.TrimSpace(line) != line {
			t.Fatalf("line %d has leading or trailing space: %q", lines, line)
		}
		for _, w := range f {
			if !words[w] {
				t.Fatalf("line %d: %q is not in the vocabulary", lines, w)
			}
		}
		nw += int64(len(f))
	}
	if nw != st.words || int64(len(text)) != st.bytes {
		t.Errorf("stats say %d words, %d bytes; text has %d, %d", st.words, st.bytes, nw, len(text))
	}
	if p := float64(crlf) / float64(lines); p < 0.005 || p > 0.015 {
		t.Errorf("%.4f of lines end in CRLF, want about %v%%", p, crlfPercent)
	}
	if p := float64(odd) / float64(lines); p < 1.5/oddSepLines || p > 2.5/oddSepLines {
		t.Errorf("%.4f of lines have a tab or two spaces, want about %v", p, 2.0/oddSepLines)
	}
}

func TestWordsDistinct(t *testing.T) {
	const n = 1000000
	seen := make(map[string]uint64, n)
	v := newVocab(headRanks)
	var buf []byte
	for r := uint64(1); r <= n; r++ {
		buf = appendWord(buf[:0], r)
		w := string(buf)
		if q, dup := seen[w]; dup {
			t.Fatalf("ranks %d and %d are both %q", q, r, w)
		}
		seen[w] = r
		if len(w) > maxWord || !utf8.ValidString(w) || strings.IndexFunc(w, unicode.IsSpace) >= 0 {
			t.Fatalf("rank %d: bad word %q", r, w)
		}
		if r <= headRanks && string(v.slots[r-1][:v.slots[r-1][maxWord]]) != w {
			t.Fatalf("rank %d: cached word differs from %q", r, w)
		}
	}
}

// TestWordsPerGiB holds the length model to the measurement target of about
// 188 M words per GiB for the default flags.
func TestWordsPerGiB(t *testing.T) {
	const n, s = 1000000, 1.1
	var sum, length float64
	var buf []byte
	for r := n; r >= 1; r-- {
		w := math.Pow(float64(r), -s)
		sum += w
		length += w * float64(len(appendWord(buf[:0], uint64(r))))
	}
	// Separators per word: one, plus the odd second space and the CR of a
	// line, over the mean line length.
	meanLine := float64(minLineWords) + float64(1<<lineWordBits-1)/2
	perWord := length/sum + 1 + (0.5/oddSepLines+crlfPercent/100.0)/meanLine
	got := (1 << 30) / perWord / 1e6
	t.Logf("%.3f bytes per word, %.1f M words/GiB", perWord, got)
	if got < 187 || got > 189 {
		t.Errorf("%.1f M words/GiB, want 188 ± 1: retune lenBase and lenSlope", got)
	}
}

func TestAliasExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		w := make([]float64, 1+rng.IntN(500))
		var sum float64
		for i := range w {
			w[i] = math.Pow(rng.Float64(), 4) // very uneven
			sum += w[i]
		}
		for i, p := range newAlias(w).probs() {
			if math.Abs(p-w[i]/sum) > 1e-9 {
				t.Fatalf("outcome %d of %d: probability %g, want %g", i, len(w), p, w[i]/sum)
			}
		}
	}
}

func TestZipfTableBuckets(t *testing.T) {
	const s, n = 1.1, headRanks + 5*tailBlock + 7 // a partial last block
	z, err := newZipfTable(s, n)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for r := n; r >= 1; r-- {
		sum += math.Pow(float64(r), -s)
	}
	p := z.buckets.probs()
	if len(p) != headRanks+6 {
		t.Fatalf("%d buckets, want %d", len(p), headRanks+6)
	}
	for j, got := range p {
		var want float64
		lo, hi := j, j+1
		if j >= headRanks {
			lo = headRanks + (j-headRanks)*tailBlock
			hi = min(n, lo+tailBlock)
		}
		for i := lo; i < hi; i++ {
			want += math.Pow(float64(i+1), -s) / sum
		}
		if math.Abs(got-want) > 1e-9 {
			t.Fatalf("bucket %d: probability %g, want %g", j, got, want)
		}
	}
}

// TestZipfInBlock checks the rejection step by a chi-squared test, with an
// exponent so large that the ranks of a block differ by 10% in probability.
func TestZipfInBlock(t *testing.T) {
	for _, s := range []float64{1.1, 50} {
		z := &zipfTable{s: s, n: 40000, k: headRanks}
		src := rand.NewPCG(3, 4)
		const draws = 1 << 21
		r0 := headRanks + tailBlock
		var obs [tailBlock]float64
		for range draws {
			obs[z.inBlock(r0, src)-r0]++
		}
		var w [tailBlock]float64
		var sum float64
		for d := range w {
			w[d] = math.Pow(float64(r0+d+1), -s)
			sum += w[d]
		}
		var chi2 float64
		for d := range w {
			e := w[d] / sum * draws
			chi2 += (obs[d] - e) * (obs[d] - e) / e
		}
		if chi2 > 130 { // 63 degrees of freedom: p < 1e-6
			t.Errorf("s=%v: chi-squared %.1f over %d ranks", s, chi2, tailBlock)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "corpus.txt")
	g := newGenerator(t, 1, 100000, 1000)
	if _, err := writeFile(context.Background(), g, out, false, 2); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(out)
	g.seed = 2
	if _, err := writeFile(context.Background(), g, out, false, 2); err == nil {
		t.Error("overwrote an existing file without force")
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, first) {
		t.Error("a refused write changed the file")
	}
	if _, err := writeFile(context.Background(), g, out, true, 2); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); bytes.Equal(again, first) {
		t.Error("force did not overwrite the file")
	}
	for _, special := range []string{"/dev/null", dir} {
		if err := checkOut(special, true); err == nil {
			t.Errorf("%s: would be replaced with --force", special)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(out, link); err != nil {
		t.Fatal(err)
	}
	if _, err := writeFile(context.Background(), g, link, true, 2); err == nil {
		t.Error("replaced a symbolic link")
	}
	os.Remove(link)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := writeFile(ctx, g, filepath.Join(dir, "cancelled"), false, 2); err == nil {
		t.Error("a cancelled write succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only corpus.txt: %v", len(ents), ents)
	}
}

func BenchmarkFill(b *testing.B) {
	g := newGenerator(b, 1, 1<<40, 1000000)
	buf := make([]byte, chunkBytes+maxLineBytes+slotBytes)
	seen := make([]uint64, (g.zipf.n+63)/64)
	b.SetBytes(chunkBytes)
	for k := int64(0); b.Loop(); k++ {
		g.fill(k, buf, seen)
	}
}
