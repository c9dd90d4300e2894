package rdd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/compress"
	"github.com/sluicehq/sluice/rdd"
)

// writeFile writes data to dir/name, compressed as name's extension says.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := compress.ForPath(name).NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonLines returns n good JSON lines, with bad ones at the given line
// numbers (from 1).
func jsonLines(n int, bad ...int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		switch {
		case slices.Contains(bad, i) && i%2 == 0:
			fmt.Fprintf(&b, `{"name": "r%d", "n": "not a number"}`+"\n", i)
		case slices.Contains(bad, i):
			fmt.Fprintf(&b, `{"name": "r%d", "n": 1`+"\n", i) // cut short
		case i%7 == 0:
			b.WriteString("   \n") // blank lines are no records
		default:
			fmt.Fprintf(&b, `{"name": "r%d", "n": %d, "text": "a line, long enough to make several splits of this file"}`+"\n", i, i)
		}
	}
	return b.Bytes()
}

func wantRecordError(t *testing.T, err error, file string, line int64) {
	t.Helper()
	var re *rdd.RecordError
	if !errors.As(err, &re) || !errors.Is(err, rdd.ErrBadRecord) {
		t.Fatalf("got %v, want a *RecordError", err)
	}
	where := fmt.Sprintf("%s:%d", file, line)
	if re.File != file || re.Line != line || !strings.Contains(err.Error(), where) {
		t.Fatalf("error %q names %s:%d, want %s", err, re.File, re.Line, where)
	}
	if !errors.Is(err, rdd.ErrPermanent) {
		t.Errorf("a bad record is retried: %v", err)
	}
}

// TestMalformedJSONNamesFileAndLine: a bad line deep in a file that is
// cut into many splits is named by its line in the file, plain or
// compressed.
func TestMalformedJSONNamesFileAndLine(t *testing.T) {
	s := newSession(t)
	dir := t.TempDir()
	for _, name := range []string{"plain.json", "packed.json.gz", "packed.json.zst"} {
		for _, bad := range []int{1, 437, 438, 600} {
			p := writeFile(t, dir, fmt.Sprint(bad, name), jsonLines(600, bad))
			_, err := rdd.Collect(context.Background(), s, readJSON.Invoke(readArgs{Paths: []string{p}, MaxSplitBytes: 2048}))
			wantRecordError(t, err, p, int64(bad))
		}
	}
}

// TestMalformedCSVNamesFileAndLine: a bad row is named by the line it
// starts on, counting the lines of quoted fields that span lines.
func TestMalformedCSVNamesFileAndLine(t *testing.T) {
	s := newSession(t)
	dir := t.TempDir()
	head := "name,n,text,x,ok,small,u,extra\n" +
		"a,1,\"two\nlines\",0.5,true,1,2,e\n" + // lines 2-3
		"b,2,\"say \"\"hi\"\"\",1,false,1,2,e\n" // line 4
	for name, c := range map[string]struct {
		body string
		line int64
		what string
	}{
		"fields.csv":    {"c,3,x,1,true,1,2\n", 5, "7 fields, not 8"},
		"type.csv":      {"c,3,x,1,true,1,2,e\nd,four,x,1,true,1,2,e\n", 6, `column "n"`},
		"quote.csv":     {"c,3,x\"y,1,true,1,2,e\n", 5, "bare"},
		"range.csv":     {"c,3,x,1,true,1,-2,e\n", 5, `column "u"`},
		"fields.csv.gz": {"\n\nc,3,x,1,true,1,2\n", 7, "7 fields"},
	} {
		p := writeFile(t, dir, name, []byte(head+c.body+"z,9,z,9,true,9,9,z\n"))
		_, err := rdd.Collect(context.Background(), s, readCSV.Invoke(readArgs{Paths: []string{p}}))
		wantRecordError(t, err, p, c.line)
		if !strings.Contains(err.Error(), c.what) {
			t.Errorf("%s: %v does not say %q", name, err, c.what)
		}
	}
	// A header without a field's column is the user's mistake, named.
	p := writeFile(t, dir, "nocol.csv", []byte("name,n\na,1\n"))
	_, err := rdd.Collect(context.Background(), s, readCSV.Invoke(readArgs{Paths: []string{p}}))
	if err == nil || !strings.Contains(err.Error(), `no column "text" for field Rec.Text`) {
		t.Errorf("a missing column: %v", err)
	}
}

// writeParquetGroups writes recs as a Parquet file of row groups of
// groupRows rows, uncompressed, and returns its path and bytes.
func writeParquetGroups(t *testing.T, path string, recs []Rec, groupRows int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[Rec](&buf, parquet.MaxRowsPerRowGroup(groupRows), parquet.Compression(&parquet.Uncompressed))
	if _, err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMalformedParquetNamesRowGroup: a row group whose pages are corrupt
// fails the task naming the file and the row group; with
// --skip-bad-records its rows are skipped and counted.
func TestMalformedParquetNamesRowGroup(t *testing.T) {
	recs := make([]Rec, 30)
	for i := range recs {
		recs[i] = Rec{Name: fmt.Sprintf("name-%02d", i), Text: strings.Repeat("t", i), N: int64(i)}
	}
	path := filepath.Join(t.TempDir(), "groups.parquet")
	data := writeParquetGroups(t, path, recs, 10)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.RowGroups()) != 3 {
		t.Fatalf("%d row groups, want 3", len(f.RowGroups()))
	}
	// Corrupt the page header of row group 1's first column chunk.
	md := f.Metadata().RowGroups[1].Columns[0].MetaData
	off := md.DataPageOffset
	for i := off; i < off+8; i++ {
		data[i] = 0xff
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	s := newSession(t)
	_, err = rdd.Collect(context.Background(), s, readParquet.Invoke(readArgs{Paths: []string{path}}))
	var re *rdd.RecordError
	if !errors.As(err, &re) || re.RowGroup != 1 || !strings.Contains(err.Error(), path+" row group 1") {
		t.Fatalf("got %v, want a bad record at %s row group 1", err, path)
	}

	s = newSession(t, func(c *driver.Config) { c.SkipBadRecords = 10 })
	got, err := rdd.Collect(context.Background(), s, readParquet.Invoke(readArgs{Paths: []string{path}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Concat(recs[:10], recs[20:]); !slices.Equal(got, want) {
		t.Errorf("read %d records, want row groups 0 and 2 (%d)", len(got), len(want))
	}
	if m := s.Metrics(); m.BadRecords != 10 || !strings.Contains(m.FirstBadRecord, "row group 1") {
		t.Errorf("metrics: %d bad records, first %q; want 10, in row group 1", m.BadRecords, m.FirstBadRecord)
	}
	s = newSession(t, func(c *driver.Config) { c.SkipBadRecords = 9 })
	if _, err = rdd.Collect(context.Background(), s, readParquet.Invoke(readArgs{Paths: []string{path}})); err == nil || !strings.Contains(err.Error(), "--skip-bad-records 9") {
		t.Errorf("10 bad rows under --skip-bad-records 9: %v", err)
	}
}

// TestParquetProjection: a struct with fewer columns than the file reads
// just those; one with a column the file lacks is an error naming it.
func TestParquetProjection(t *testing.T) {
	recs := randRecs(newRand(3), 50)
	path := filepath.Join(t.TempDir(), "all.parquet")
	writeParquetGroups(t, path, recs, 20)
	s := newSession(t)
	got, err := rdd.Collect(context.Background(), s, readNameN.Invoke([]string{path}))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if got[i] != (NameN{Name: r.Name, N: r.N}) {
			t.Fatalf("record %d: %+v, want %q %d", i, got[i], r.Name, r.N)
		}
	}
	_, err = rdd.Collect(context.Background(), s, readMissing.Invoke([]string{path}))
	if err == nil || !strings.Contains(err.Error(), "has no column missing") {
		t.Fatalf("a column the file lacks: %v", err)
	}
}

// NameN is a projection of Rec.
type NameN struct {
	Name string `parquet:"name"`
	N    int64  `parquet:"n"`
}

// Missing has a column that Rec's files lack.
type Missing struct {
	Name    string `parquet:"name"`
	Missing int64  `parquet:"missing"`
}

var readNameN = rdd.Func(func(paths []string) *rdd.RDD[NameN] { return rdd.Parquet[NameN](paths...) })

var readMissing = rdd.Func(func(paths []string) *rdd.RDD[Missing] { return rdd.Parquet[Missing](paths...) })

// TestSkipBadRecords: with --skip-bad-records N, bad records are skipped
// and counted, each once, while the job's total is at most N; one past N
// fails the job, whether one task passes N (it fails at once) or only
// all tasks together do (the driver fails the job at its end).
func TestSkipBadRecords(t *testing.T) {
	dir := t.TempDir()
	// Two files, each its own partitions, with 2 bad lines each.
	a := writeFile(t, dir, "a.json", jsonLines(300, 17, 250))
	b := writeFile(t, dir, "b.json.gz", jsonLines(300, 40, 41))
	args := readArgs{Paths: []string{a, b}, MaxSplitBytes: 4096}
	ctx := context.Background()

	s := newSession(t, func(c *driver.Config) { c.SkipBadRecords = 4 })
	got, err := rdd.Collect(ctx, s, readJSON.Invoke(args))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*(300-300/7) - 4; len(got) != want {
		t.Errorf("read %d records, want %d", len(got), want)
	}
	m := s.Metrics()
	if m.BadRecords != 4 || !strings.Contains(m.FirstBadRecord, "bad record at ") {
		t.Errorf("%d bad records skipped (first %q), want 4", m.BadRecords, m.FirstBadRecord)
	}

	// 3 allowed: no task passes 3, the job does.
	s = newSession(t, func(c *driver.Config) { c.SkipBadRecords = 3 })
	_, err = rdd.Collect(ctx, s, readJSON.Invoke(args))
	if err == nil || !strings.Contains(err.Error(), "skipped 4 bad records, more than --skip-bad-records 3") {
		t.Errorf("4 bad records in two tasks under --skip-bad-records 3: %v", err)
	}
	if m := s.Metrics(); m.BadRecords != 4 {
		t.Errorf("the failed job counted %d bad records, want 4", m.BadRecords)
	}

	// 1 allowed: a task with 2 fails by itself.
	s = newSession(t, func(c *driver.Config) { c.SkipBadRecords = 1 })
	_, err = rdd.Collect(ctx, s, readJSON.Invoke(readArgs{Paths: []string{b}}))
	if err == nil || !strings.Contains(err.Error(), "2 bad records in one task, more than --skip-bad-records 1") {
		t.Errorf("2 bad records in one task under --skip-bad-records 1: %v", err)
	}
	wantRecordError(t, err, b, 41)
}

// TestCompressedFilesAreOneSplit: a compressed file is one split however
// large, a plain one is cut; both read the same lines.
func TestCompressedFilesAreOneSplit(t *testing.T) {
	var text bytes.Buffer
	rng := newRand(5)
	for i := range 3000 {
		fmt.Fprintf(&text, "%d %s\n", i, randString(rng, true, true))
	}
	dir := t.TempDir()
	var plain, packed []string
	for _, ext := range []string{".gz", ".zst", ".bz2", ".sz", ".snappy"} {
		name := "lines" + ext
		if ext == ".bz2" || ext == ".snappy" {
			// No bz2 writer; .snappy as Hadoop's SnappyCodec writes it.
			writeHadoopOrBz2(t, dir, name, text.Bytes())
		} else {
			writeFile(t, dir, name, text.Bytes())
		}
		packed = append(packed, filepath.Join(dir, name))
	}
	plain = append(plain, writeFile(t, dir, "lines.txt", text.Bytes()))
	want := wantLinesOf(text.String())
	s := newSession(t)
	for _, p := range append(packed, plain...) {
		st, _ := os.Stat(p)
		split := max(1024, st.Size()/4)
		r := readText.Invoke(readArgs{Paths: []string{p}, MaxSplitBytes: split})
		parts := r.NumPartitions()
		if compress.ForPath(p) != compress.None && parts != 1 {
			t.Errorf("%s (%d bytes, splits of %d): %d partitions, want 1", p, st.Size(), split, parts)
		}
		if compress.ForPath(p) == compress.None && parts < 4 {
			t.Errorf("%s (%d bytes, splits of %d): %d partitions, want 4 or more", p, st.Size(), split, parts)
		}
		got, err := rdd.Collect(context.Background(), s, r)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d lines read, want %d", p, len(got), len(want))
		}
	}
}

func wantLinesOf(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// writeHadoopOrBz2 writes name as bzip2(1) or Hadoop's snappy codec would.
func writeHadoopOrBz2(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	var out []byte
	if strings.HasSuffix(name, ".snappy") {
		for len(data) > 0 {
			n := min(len(data), 256<<10)
			out = compress.AppendHadoopSnappy(out, data[:n])
			data = data[n:]
		}
	} else {
		var err error
		if out, err = bzip2(data); err != nil {
			t.Skipf("no bzip2 to make a .bz2 file: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTextFileLinesAndWholeTextFiles: every line's offset is where it is
// in its file (in the decompressed bytes of a compressed one), across
// splits; WholeTextFiles gives each file whole, empty ones too.
func TestTextFileLinesAndWholeTextFiles(t *testing.T) {
	dir := t.TempDir()
	rng := newRand(9)
	contents := map[string]string{}
	for i, ext := range []string{".txt", ".gz", ".txt", ".zst"} {
		var b strings.Builder
		for range rng.IntN(400) {
			b.WriteString(randString(rng, true, true) + []string{"\n", "\r\n"}[rng.IntN(2)])
		}
		if i == 2 {
			b.WriteString("no final newline")
		}
		name := fmt.Sprintf("f%d%s", i, ext)
		contents[writeFile(t, dir, name, []byte(b.String()))] = b.String()
	}
	contents[writeFile(t, dir, "empty.txt", nil)] = ""
	s := newSession(t)
	lines := collectArgs(t, s, readLinesAt, readArgs{Paths: []string{dir}, MaxSplitBytes: 1024})
	var want []rdd.Line
	paths := slices.Sorted(mapKeys(contents))
	for _, p := range paths {
		c := contents[p]
		for off := 0; off < len(c); {
			end := strings.IndexByte(c[off:], '\n')
			next := off + end + 1
			if end < 0 {
				end, next = len(c)-off, len(c)
			}
			want = append(want, rdd.Line{File: p, Offset: int64(off), Text: strings.TrimSuffix(c[off:off+end], "\r")})
			off = next
		}
	}
	if !slices.Equal(lines, want) {
		t.Errorf("TextFileLines: %d lines, want %d", len(lines), len(want))
		for i := range min(len(lines), len(want)) {
			if lines[i] != want[i] {
				t.Fatalf("line %d: %+v, want %+v", i, lines[i], want[i])
			}
		}
	}
	whole := collectArgs(t, s, readWhole, readArgs{Paths: []string{dir}})
	var wantWhole []rdd.Pair[string, string]
	for _, p := range paths {
		wantWhole = append(wantWhole, rdd.KV(p, contents[p]))
	}
	if !slices.Equal(whole, wantWhole) {
		t.Errorf("WholeTextFiles: got %d files, want %d: %q", len(whole), len(wantWhole), whole)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
