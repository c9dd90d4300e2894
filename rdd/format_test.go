package rdd_test

import (
	"context"

	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/driver"
	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/rdd"
)

// Rec is a record of every kind of field the formats carry.
type Rec struct {
	Name  string  `json:"name" csv:"name" parquet:"name"`
	Text  string  `json:"text" csv:"text" parquet:"text"`
	N     int64   `json:"n" csv:"n" parquet:"n"`
	Small int32   `json:"small" csv:"small" parquet:"small"`
	U     uint32  `json:"u" csv:"u" parquet:"u"`
	X     float64 `json:"x" csv:"x" parquet:"x"`
	OK    bool    `json:"ok" csv:"ok" parquet:"ok"`
}

// recsF spreads records over 3 partitions, for the SaveAs actions.
var recsF = rdd.Func(func(recs []Rec) *rdd.RDD[Rec] { return rdd.Parallelize(recs, rdd.Partitions(3)) })

var rowsF = rdd.Func(func(rows [][]string) *rdd.RDD[[]string] { return rdd.Parallelize(rows, rdd.Partitions(3)) })

var linesF = rdd.Func(func(lines []string) *rdd.RDD[string] { return rdd.Parallelize(lines, rdd.Partitions(3)) })

// readArgs name a reader and its input.
type readArgs struct {
	Paths         []string
	MaxSplitBytes int64
	NoHeader      bool
}

var readJSON = rdd.Func(func(a readArgs) *rdd.RDD[Rec] {
	return rdd.JSONLinesWith[Rec](rdd.TextOptions{MaxSplitBytes: a.MaxSplitBytes}, a.Paths...)
})

var readCSV = rdd.Func(func(a readArgs) *rdd.RDD[Rec] {
	return rdd.CSVWith[Rec](rdd.CSVOptions{MaxSplitBytes: a.MaxSplitBytes, NoHeader: a.NoHeader}, a.Paths...)
})

var readCSVRows = rdd.Func(func(a readArgs) *rdd.RDD[[]string] {
	return rdd.CSVWith[[]string](rdd.CSVOptions{MaxSplitBytes: a.MaxSplitBytes, NoHeader: a.NoHeader}, a.Paths...)
})

var readParquet = rdd.Func(func(a readArgs) *rdd.RDD[Rec] {
	return rdd.ParquetWith[Rec](rdd.TextOptions{MaxSplitBytes: a.MaxSplitBytes}, a.Paths...)
})

var readText = rdd.Func(func(a readArgs) *rdd.RDD[string] {
	return rdd.TextFileWith(rdd.TextOptions{MaxSplitBytes: a.MaxSplitBytes}, a.Paths...)
})

var readLinesAt = rdd.Func(func(a readArgs) *rdd.RDD[rdd.Line] {
	return rdd.TextFileLinesWith(rdd.TextOptions{MaxSplitBytes: a.MaxSplitBytes}, a.Paths...)
})

var readWhole = rdd.Func(func(a readArgs) *rdd.RDD[rdd.Pair[string, string]] {
	return rdd.WholeTextFiles(a.Paths...)
})

// nasty are the strings that break naive formats.
var nasty = []string{"", " ", "a,b", `"`, `""`, `a"b`, "x\ny", "\n", "tab\there", "\r", "trailing\r",
	" lead", "é日本🎉", "\u2028", `\.`, "null", "{}", "\\ufffd", "\ufffd", "#", "'", ",", ",,"}

// randString returns a seeded random string of nasty parts and random
// runes; noNewline leaves out "\n" and "\r" (text lines); noCRLF leaves
// out "\r\n", which CSV cannot keep.
func randString(rng *rand.Rand, noNewline, noCRLF bool) string {
	var b strings.Builder
	for range rng.IntN(4) {
		if rng.IntN(2) == 0 {
			b.WriteString(nasty[rng.IntN(len(nasty))])
		} else {
			for range rng.IntN(6) {
				runes := []rune("aZ09 ,\"\n\t;|éß日🎉\u00a0\r")
				b.WriteRune(runes[rng.IntN(len(runes))])
			}
		}
	}
	s := b.String()
	if noNewline {
		s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
	}
	for noCRLF && strings.Contains(s, "\r\n") {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	return s
}

func randRecs(rng *rand.Rand, n int) []Rec {
	recs := make([]Rec, n)
	for i := range recs {
		recs[i] = Rec{
			Name: randString(rng, false, true), Text: randString(rng, false, true),
			N: rng.Int64() - rng.Int64(), Small: int32(rng.Uint32()), U: rng.Uint32(),
			X:  []float64{0, math.Copysign(0, -1), 1e-300, math.MaxFloat64, rng.NormFloat64() * 1e6, 0.1}[rng.IntN(6)],
			OK: rng.IntN(2) == 0,
		}
	}
	return recs
}

func collectArgs[T any](t *testing.T, s rdd.Runner, f *rdd.FuncOf[readArgs, T], a readArgs) []T {
	t.Helper()
	got, err := rdd.Collect(context.Background(), s, f.Invoke(a))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// partFiles returns the names of dir's part files, checking that dir is
// one committed job's output of 3 partitions.
func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	if err := commit.Check(dir, 3); err != nil {
		t.Fatal(err)
	}
	paths, _ := commit.Parts(dir)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

// TestFormatRoundTrips writes seeded random records (unicode, empty
// strings, commas, quotes and newlines) in every format with every codec,
// and reads them back: the same records in the same order, part files
// named for format and codec.
func TestFormatRoundTrips(t *testing.T) {
	s := newSession(t)
	testRoundTrips(t, s, 1, 200)
}

func testRoundTrips(t *testing.T, s *driver.Session, seed uint64, n int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	recs := randRecs(rng, n)
	rows := make([][]string, n)
	lines := make([]string, n)
	for i := range rows {
		rows[i] = make([]string, 3)
		for j := range rows[i] {
			rows[i][j] = randString(rng, false, true)
		}
		lines[i] = randString(rng, true, true)
	}
	rows[0] = []string{"", "", ""}
	for _, codec := range []string{"none", "gzip", "zstd", "snappy"} {
		ext := map[string]string{"none": "", "gzip": ".gz", "zstd": ".zst", "snappy": ".sz"}[codec]
		t.Run(codec, func(t *testing.T) {
			base := t.TempDir()
			check := func(format, dir, suffix string, got, want any) {
				t.Helper()
				names := partFiles(t, dir)
				for i, name := range names {
					if w := fmt.Sprintf("part-%05d%s", i, suffix); name != w {
						t.Errorf("%s: part file %s, want %s", format, name, w)
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s: read back differs", format, codec)
					gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
					for i := range min(gv.Len(), wv.Len()) {
						if !reflect.DeepEqual(gv.Index(i).Interface(), wv.Index(i).Interface()) {
							t.Fatalf("first difference at %d of %d/%d: got %#v, want %#v", i, gv.Len(), wv.Len(), gv.Index(i), wv.Index(i))
						}
					}
					t.Fatalf("got %d records, want %d", gv.Len(), wv.Len())
				}
			}
			opt := rdd.WithCodec(codec)

			dir := filepath.Join(base, "text")
			if err := rdd.SaveAsTextFile(ctx, s, linesF.Invoke(lines), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("text", dir, ext, collectArgs(t, s, readText, readArgs{Paths: []string{dir}}), lines)

			dir = filepath.Join(base, "json")
			if err := rdd.SaveAsJSONLines(ctx, s, recsF.Invoke(recs), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("json", dir, ".json"+ext, collectArgs(t, s, readJSON, readArgs{Paths: []string{dir}, MaxSplitBytes: 1500}), recs)

			dir = filepath.Join(base, "csv")
			if err := rdd.SaveAsCSV(ctx, s, recsF.Invoke(recs), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("csv", dir, ".csv"+ext, collectArgs(t, s, readCSV, readArgs{Paths: []string{dir}}), recs)

			dir = filepath.Join(base, "rows")
			if err := rdd.SaveAsCSV(ctx, s, rowsF.Invoke(rows), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("csv rows", dir, ".csv"+ext, collectArgs(t, s, readCSVRows, readArgs{Paths: []string{dir}, NoHeader: true}), rows)

			pcodec := map[string]string{"none": "none", "gzip": "gzip", "zstd": "zstd", "snappy": "snappy"}[codec]
			pext := map[string]string{"none": "", "gzip": ".gz", "zstd": ".zstd", "snappy": ".snappy"}[codec]
			dir = filepath.Join(base, "parquet")
			if err := rdd.SaveAsParquet(ctx, s, recsF.Invoke(recs), dir, rdd.WithCodec(pcodec)); err != nil {
				t.Fatal(err)
			}
			check("parquet", dir, pext+".parquet", collectArgs(t, s, readParquet, readArgs{Paths: []string{dir}}), recs)
		})
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

// bzip2 compresses data with bzip2(1): Go has no bzip2 encoder.
func bzip2(data []byte) ([]byte, error) {
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	return cmd.Output()
}

// TestFormatsOnLocalCluster runs round trips and bad-record skipping with
// --local-cluster 2: the session's --output-codec and --skip-bad-records
// must reach executor processes with each task, and the skipped records'
// counts come back with the tasks' results.
func TestFormatsOnLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, func(c *driver.Config) {
		c.LocalCluster, c.OutputCodec, c.SkipBadRecords = 2, "zstd", 5
	})
	ctx := context.Background()
	recs := randRecs(newRand(21), 100)
	dir := filepath.Join(t.TempDir(), "json")
	if err := rdd.SaveAsJSONLines(ctx, s, recsF.Invoke(recs), dir); err != nil {
		t.Fatal(err)
	}
	if names := partFiles(t, dir); names[0] != "part-00000.json.zst" {
		t.Errorf("--output-codec zstd wrote %q", names)
	}
	if got := collectArgs(t, s, readJSON, readArgs{Paths: []string{dir}}); !reflect.DeepEqual(got, recs) {
		t.Error("JSON lines read back differ")
	}
	dir = filepath.Join(t.TempDir(), "parquet")
	if err := rdd.SaveAsParquet(ctx, s, recsF.Invoke(recs), dir); err != nil {
		t.Fatal(err)
	}
	if got := collectArgs(t, s, readParquet, readArgs{Paths: []string{dir}}); !reflect.DeepEqual(got, recs) {
		t.Error("Parquet read back differs")
	}

	in := t.TempDir()
	a := writeFile(t, in, "a.json", jsonLines(200, 3, 150))
	b := writeFile(t, in, "b.json.gz", jsonLines(200, 76))
	got, err := rdd.Collect(ctx, s, readJSON.Invoke(readArgs{Paths: []string{a, b}, MaxSplitBytes: 4096}))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*(200-200/7) - 3; len(got) != want {
		t.Errorf("read %d records, want %d", len(got), want)
	}
	if m := s.Metrics(); m.BadRecords != 3 {
		t.Errorf("%d bad records counted, want 3", m.BadRecords)
	}
}
