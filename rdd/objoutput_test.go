package rdd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
	"github.com/sluicehq/sluice/rdd"
)

var readBackF = rdd.Func(func(dir string) *rdd.RDD[string] { return rdd.TextFile(dir) })

// TestSaveToObjectStorage: SaveAsTextFile to s3:// commits without
// renames, reads back through TextFile, refuses a used prefix, and a job
// whose attempts fail, once or for good, leaves no upload behind.
func TestSaveToObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.Setenv(t)
	b := srv.Bucket(t, "results")
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newSession(t)
	dir := b + "wc/out"
	a := Args{Data: []kv{rdd.KV("a", 1), rdd.KV("b", 2), rdd.KV("a", 3)}, In: 2, Out: 3}
	if err := rdd.SaveAsTextFile(ctx, s, saveF.Invoke(a), dir); err != nil {
		t.Fatal(err)
	}
	m, err := commit.CheckObjects(ctx, st, dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := rdd.Collect(ctx, s, readBackF.Invoke(dir+"/"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	if want := []string{"a\t4", "b\t2"}; !slices.Equal(lines, want) {
		t.Fatalf("read back %q, want %q (manifest %+v)", lines, want, m)
	}

	err = rdd.SaveAsTextFile(ctx, s, saveF.Invoke(a), dir)
	if err == nil || !strings.Contains(err.Error(), "already holds objects") {
		t.Fatalf("a second save into %s: %v", dir, err)
	}
	if _, err := commit.CheckObjects(ctx, st, dir, 3); err != nil {
		t.Fatalf("the refused save changed the output: %v", err)
	}

	failing.Store(0)
	if err := rdd.SaveAsTextFile(ctx, s, panicF.Invoke("twice"), b+"retried"); err != nil {
		t.Fatal(err)
	}
	if _, err := commit.CheckObjects(ctx, st, b+"retried", 2); err != nil {
		t.Fatalf("after attempts that failed and were retried: %v", err)
	}

	failing.Store(0)
	if err := rdd.SaveAsTextFile(ctx, s, panicF.Invoke("always"), b+"bad/"); err == nil {
		t.Fatal("a failing job saved")
	}
	infos, err := st.List(ctx, b+"bad/", 0)
	ups, uerr := st.ListUploads(ctx, b, 0)
	if err != nil || uerr != nil || len(infos) != 0 || len(ups) != 0 {
		t.Fatalf("after a failed save: objects %+v, uploads %+v (%v, %v)", infos, ups, err, uerr)
	}
}

// TestFormatsOnObjectStorage: every SaveAs format with every codec
// writes to s3:// through the object commit, part objects named for
// format and codec and compressed by it, and every reader reads them back
// from s3:// as they were (Parquet through ranged reads, ReadAt).
func TestFormatsOnObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.Setenv(t)
	b := srv.Bucket(t, "formats")
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newSession(t)
	rng := newRand(5)
	recs := randRecs(rng, 150)
	lines := make([]string, 150)
	for i := range lines {
		lines[i] = randString(rng, true, true)
	}
	magic := map[string][]byte{"gzip": {0x1f, 0x8b}, "zstd": {0x28, 0xb5, 0x2f, 0xfd}, "snappy": []byte("\xff\x06\x00\x00sNaPpY")}
	for _, codec := range []string{"none", "gzip", "zstd", "snappy"} {
		ext := map[string]string{"none": "", "gzip": ".gz", "zstd": ".zst", "snappy": ".sz"}[codec]
		t.Run(codec, func(t *testing.T) {
			check := func(format, dir, suffix string, got, want any) {
				t.Helper()
				m, err := commit.CheckObjects(ctx, st, dir, 3)
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				for i, p := range m.Parts {
					if w := fmt.Sprintf("part-%05d%s", i, suffix); p.Name != w {
						t.Errorf("%s: part %s, want %s", format, p.Name, w)
					}
					if want := magic[codec]; want != nil && format != "parquet" && p.Size > 0 {
						head, err := readPrefix(ctx, st, objstore.Dir(dir)+p.Name, len(want))
						if err != nil || !bytes.Equal(head, want) {
							t.Errorf("%s: %s begins %q (%v), not %s's %q", format, p.Name, head, err, codec, want)
						}
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, %s: read back from %s differs", format, codec, dir)
				}
			}
			base := b + codec + "/"
			opt := rdd.WithCodec(codec)

			dir := base + "text"
			if err := rdd.SaveAsTextFile(ctx, s, linesF.Invoke(lines), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("text", dir, ext, collectArgs(t, s, readText, readArgs{Paths: []string{dir}}), lines)

			dir = base + "json"
			if err := rdd.SaveAsJSONLines(ctx, s, recsF.Invoke(recs), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("json", dir, ".json"+ext, collectArgs(t, s, readJSON, readArgs{Paths: []string{dir}, MaxSplitBytes: 1500}), recs)

			dir = base + "csv"
			if err := rdd.SaveAsCSV(ctx, s, recsF.Invoke(recs), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("csv", dir, ".csv"+ext, collectArgs(t, s, readCSV, readArgs{Paths: []string{dir}}), recs)

			pext := map[string]string{"none": "", "gzip": ".gz", "zstd": ".zstd", "snappy": ".snappy"}[codec]
			dir = base + "parquet"
			if err := rdd.SaveAsParquet(ctx, s, recsF.Invoke(recs), dir, opt); err != nil {
				t.Fatal(err)
			}
			check("parquet", dir, pext+".parquet", collectArgs(t, s, readParquet, readArgs{Paths: []string{dir}}), recs)
		})
	}
}

// readPrefix reads the first n bytes of the object at url.
func readPrefix(ctx context.Context, st objstore.Store, url string, n int) ([]byte, error) {
	info, err := st.Stat(ctx, url)
	if err != nil {
		return nil, err
	}
	r := objstore.OpenRange(ctx, st, info, 0, int64(n))
	defer r.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(r, buf)
	return buf[:k], err
}
