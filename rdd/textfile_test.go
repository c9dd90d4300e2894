package rdd

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// wantLines is the naive reading of a file as lines.
func wantLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func readSplits(t *testing.T, path string, cuts []int64, size int64) []string {
	t.Helper()
	var got []string
	bounds := append(append([]int64{0}, cuts...), size)
	for i := 0; i+1 < len(bounds); i++ {
		if bounds[i] == bounds[i+1] {
			continue
		}
		err := readLines(context.Background(), fileSplit{Path: path, Start: bounds[i], End: bounds[i+1]}, func(l string) bool {
			got = append(got, l)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

var lineFiles = []string{
	"",
	"\n",
	"\n\n\n",
	"a",
	"a\n",
	"hello world\nfoo bar\n",
	"no final newline\nlast",
	"crlf\r\nlines\r\n\r\nend\r\n",
	"\r\n\r",
	"x\n\ny\n\n\nz",
	"tabs\tand  runs   of blanks\n\t\n",
	"é ü 日本\n\xff\xfe binary\x00\n",
}

// TestReadLinesEveryCut cuts small files in two and in three at every byte
// offset and checks that every line is read exactly once.
func TestReadLinesEveryCut(t *testing.T) {
	dir := t.TempDir()
	for fi, content := range lineFiles {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		want := wantLines(content)
		n := int64(len(content))
		for i := int64(0); i <= n; i++ {
			if got := readSplits(t, path, []int64{i}, n); !slices.Equal(got, want) {
				t.Fatalf("file %d %q cut at %d: got %q, want %q", fi, content, i, got, want)
			}
			for j := i; j <= n; j++ {
				if got := readSplits(t, path, []int64{i, j}, n); !slices.Equal(got, want) {
					t.Fatalf("file %d %q cut at %d,%d: got %q, want %q", fi, content, i, j, got, want)
				}
			}
		}
	}
}

// TestReadLinesRandom reads random files, with lines longer than the read
// chunk, through random splits.
func TestReadLinesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for iter := range 20 {
		var b strings.Builder
		for range rng.IntN(50) {
			n := rng.IntN(40)
			if rng.IntN(40) == 0 {
				n = readChunkBytes + rng.IntN(readChunkBytes) // longer than a chunk
			}
			for range n {
				b.WriteByte("ab \t\r"[rng.IntN(5)])
			}
			b.WriteString([]string{"\n", "\r\n", "\n"}[rng.IntN(3)])
		}
		if rng.IntN(2) == 0 {
			b.WriteString("tail")
		}
		content := b.String()
		path := filepath.Join(dir, "r")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		splits, err := planSplits(TextOptions{MaxSplitBytes: int64(1 + rng.IntN(64<<10))}, path)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range splits {
			if err := readLines(context.Background(), s, func(l string) bool { got = append(got, l); return true }); err != nil {
				t.Fatal(err)
			}
		}
		if want := wantLines(content); !slices.Equal(got, want) {
			t.Fatalf("iteration %d: %d lines, want %d", iter, len(got), len(want))
		}
	}
}

func TestPlanSplits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("in/a.txt", 100<<10)
	write("in/b.txt", 0)
	write("in/sub/c.txt", 10)
	write("in/_SUCCESS", 10)
	write("in/.hidden", 10)

	splits, err := planSplits(TextOptions{}, filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	var total int64
	for _, s := range splits {
		if len(files) == 0 || files[len(files)-1] != s.Path {
			files = append(files, s.Path)
		}
		total += s.End - s.Start
	}
	wantFiles := []string{filepath.Join(dir, "in/a.txt"), filepath.Join(dir, "in/sub/c.txt")}
	if !slices.Equal(files, wantFiles) || total != 100<<10+10 {
		t.Fatalf("splits %v: files %v, total %d", splits, files, total)
	}
	if len(splits) < 2 {
		t.Fatalf("want at least 2 splits of a 100KiB input, got %d", len(splits))
	}

	glob, err := planSplits(TextOptions{}, filepath.Join(dir, "in", "*.txt"))
	if err != nil || len(glob) == 0 || glob[0].Path != wantFiles[0] {
		t.Fatalf("glob: %v, %v", glob, err)
	}

	for _, bad := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "nomatch*")} {
		_, err := planSplits(TextOptions{}, bad)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("planSplits(%s) = %v, want an error naming it", bad, err)
		}
	}
}

// TestPackSplits: many small files share partitions up to the split size;
// a large file's splits stand alone; nothing is lost or repeated.
func TestPackSplits(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 2000 {
		p := filepath.Join(dir, "small", fmt.Sprintf("f%05d", i))
		if i == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("line %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat("word word word\n", 20000)), 0o644)
	opt := TextOptions{MaxSplitBytes: 64 << 10}
	splits, err := planSplits(opt, filepath.Join(dir, "small"), big)
	if err != nil {
		t.Fatal(err)
	}
	size := splitBytes(opt, splits)
	parts := packSplits(splits, size)
	var flat []fileSplit
	for _, p := range parts {
		var n int64
		for _, s := range p {
			n += s.End - s.Start
		}
		if len(p) > 1 && n > size {
			t.Errorf("a packed partition of %d bytes over the split size %d", n, size)
		}
		flat = append(flat, p...)
	}
	if !slices.Equal(flat, splits) {
		t.Fatal("packing lost, repeated or reordered splits")
	}
	if len(parts) > 20 {
		t.Errorf("2000 small files and a 300 KB file made %d partitions, want few", len(parts))
	}
}

// TestInputChangedFailsTheTask: a file truncated (or rewritten) after the
// job was planned fails the task that reads it, naming the file.
func TestInputChangedFailsTheTask(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in.txt")
	os.WriteFile(p, []byte(strings.Repeat("a line\n", 1000)), 0o644)
	splits, err := planSplits(TextOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 3000); err != nil {
		t.Fatal(err)
	}
	err = readLines(context.Background(), splits[len(splits)-1], func(string) bool { return true })
	if !errors.Is(err, ErrInputChanged) || !strings.Contains(err.Error(), p) {
		t.Fatalf("reading a truncated input: %v, want ErrInputChanged naming %s", err, p)
	}
}

// Input errors that cannot change on retry are permanent: a missing file
// (at planning, when an executor rebuilds the lineage, or when the task
// opens it) and a line longer than the limit, which fails even when it is
// followed by more lines.
func TestTextFileErrorsArePermanent(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	if _, err := planSplits(TextOptions{}, missing); !errors.Is(err, ErrPermanent) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("planSplits of a missing file: %v; want a permanent fs.ErrNotExist", err)
	}
	if _, err := planSplits(TextOptions{}, filepath.Join(dir, "*.none")); !errors.Is(err, ErrPermanent) {
		t.Fatalf("planSplits of a pattern matching nothing: %v; want a permanent error", err)
	}
	err := readLines(context.Background(), fileSplit{Path: missing, End: 10}, func(string) bool { return true })
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("readLines of a missing file: %v; want a permanent fs.ErrNotExist", err)
	}

	long := filepath.Join(dir, "long.txt")
	f, err := os.Create(long)
	if err != nil {
		t.Fatal(err)
	}
	// "ok", then maxLineLength+1 zero bytes (sparse), then "last".
	if _, err := f.WriteString("ok\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("\nlast\n"), 3+maxLineLength+1); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	var got []string
	err = readLines(context.Background(), fileSplit{Path: long, End: st.Size()}, func(l string) bool {
		got = append(got, l[:min(len(l), 8)])
		return true
	})
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "longer than 64 MiB") || slices.Contains(got, "last") {
		t.Fatalf("a line of 64 MiB + 1 byte: lines %q, error %v; want a permanent error before the last line", got, err)
	}
}

// TestReducePartitionsFromInputSize: without Partitions, a shuffle over
// files gets one reduce partition per 64 MiB of input (at most one per map
// partition), not one per map split; over data of unknown size, one per
// map partition as before.
func TestReducePartitionsFromInputSize(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 300 {
		p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
		os.WriteFile(p, []byte("a b c\n"), 0o644)
		paths = append(paths, p)
	}
	words := Map(TextFileWith(TextOptions{MaxSplitBytes: 64}, paths...), func(l string) Pair[string, int] { return KV(l, 1) })
	if words.n.parts < 10 {
		t.Fatalf("%d map partitions, want many for this test", words.n.parts)
	}
	if n := ReduceByKey(words, func(a, b int) int { return a + b }).n.parts; n != 2 {
		t.Errorf("a shuffle of 1.8 KB of files has %d reduce partitions, want the minimum, 2", n)
	}
	if n := ReduceByKey(words, func(a, b int) int { return a + b }, Partitions(7)).n.parts; n != 7 {
		t.Errorf("Partitions(7) gave %d", n)
	}
	mem := Parallelize([]Pair[string, int]{KV("a", 1)}, Partitions(5))
	if n := ReduceByKey(mem, func(a, b int) int { return a + b }).n.parts; n != 5 {
		t.Errorf("a shuffle of in-memory data has %d reduce partitions, want its 5 map partitions", n)
	}
}

// TestKeepCR: TextOptions.KeepCR keeps a line's "\r" in plain and
// compressed files and in TextFileLines, which otherwise drop it.
func TestKeepCR(t *testing.T) {
	dir := t.TempDir()
	content := "a\r\nb\r\n\r\nc\r"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(content))
	zw.Close()
	files := map[string][]byte{"plain.txt": []byte(content), "z.gz": gz.Bytes()}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, keep := range []bool{false, true} {
			want := []string{"a", "b", "", "c"}
			if keep {
				want = []string{"a\r", "b\r", "\r", "c\r"}
			}
			s := fileSplit{Path: path, End: int64(len(data)), Size: int64(len(data)), KeepCR: keep}
			var got []string
			err := readLinesAt(context.Background(), s, func(_ int64, l string) bool {
				got = append(got, l)
				return true
			})
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s, KeepCR %v: got %q (%v), want %q", name, keep, got, err, want)
			}
		}
	}
}
