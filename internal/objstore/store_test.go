package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

// stores runs test against each implementation: S3 (a real server) and
// Local, which must behave alike.
func stores(t *testing.T, test func(t *testing.T, st objstore.Store, bucket string)) {
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		srv.Setenv(t)
		st, err := objstore.Default()
		if err != nil {
			t.Fatal(err)
		}
		test(t, st, srv.Bucket(t, "bucket"))
	})
	t.Run("local", func(t *testing.T) {
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, "bucket"), 0o755); err != nil {
			t.Fatal(err)
		}
		st, err := objstore.NewLocal(root)
		if err != nil {
			t.Fatal(err)
		}
		test(t, st, "s3://bucket/")
	})
}

func TestObjects(t *testing.T) { stores(t, testObjects) }

func testObjects(t *testing.T, st objstore.Store, b string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 300_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte('a' + r.IntN(26))
	}
	if err := st.Put(ctx, b+"dir/x", data); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, b+"dir/sub/y", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, b+"dirx", nil); err != nil {
		t.Fatal(err)
	}
	infos, err := st.List(ctx, b+"dir/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].URL != b+"dir/sub/y" || infos[1].URL != b+"dir/x" || infos[1].Size != int64(len(data)) {
		t.Fatalf("list: %+v", infos)
	}
	if _, err := st.List(ctx, b+"dir/", 1); err == nil {
		t.Fatal("a listing over its limit is no error")
	}
	info, err := st.Stat(ctx, b+"dir/x")
	if err != nil || info.Size != int64(len(data)) || info.ETag == "" {
		t.Fatalf("stat: %+v %v", info, err)
	}
	if _, err := st.Stat(ctx, b+"nope"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("stat of a missing object: %v", err)
	}
	for _, bad := range []string{b + "../bucket/dir/x", b + "dir/./x", "s3:///dir/x", "s3:/bucket/dir/x", "/bucket/dir/x"} {
		if _, err := st.Stat(ctx, bad); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("stat %q: %v, want a bad-URL error", bad, err)
		}
	}
	// Ranged reads, with GETs smaller than the object.
	for _, rg := range [][2]int64{{0, 10}, {1000, 200_000}, {299_990, 300_000}} {
		rr := objstore.OpenRange(ctx, st, info, rg[0], rg[1])
		got, err := io.ReadAll(rr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[rg[0]:]) {
			t.Fatalf("range from %d: %d bytes, want %d", rg[0], len(got), len(data)-int(rg[0]))
		}
	}
	// A changed object fails the reader that listed it.
	rr := objstore.OpenRange(ctx, st, info, 0, 10)
	buf := make([]byte, 10)
	if _, err := io.ReadFull(rr, buf); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, b+"dir/x", append(data[:len(data):len(data)], 'z')); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(objstore.OpenRange(ctx, st, info, 0, 10)); !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("reading a changed object: %v", err)
	}
	if err := st.Delete(ctx, b+"dir/x"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, b+"dir/x"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

func TestUploads(t *testing.T) { stores(t, testUploads) }

func testUploads(t *testing.T, st objstore.Store, b string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("0123456789abcdef\n"), objstore.PartBytes/17+1000) // two parts
	w, err := objstore.NewWriter(ctx, st, b+"out/part-00000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	p, err := w.Close()
	if err != nil || len(p.Parts) != 2 || p.Size != int64(len(data)) {
		t.Fatalf("close: %+v %v", p, err)
	}
	empty, err := objstore.NewWriter(ctx, st, b+"out/part-00001")
	if err != nil {
		t.Fatal(err)
	}
	pe, err := empty.Close()
	if err != nil {
		t.Fatal(err)
	}
	loser, err := objstore.NewWriter(ctx, st, b+"out/part-00000")
	if err != nil {
		t.Fatal(err)
	}
	loser.Write([]byte("another attempt"))
	if _, err := loser.Close(); err != nil {
		t.Fatal(err)
	}
	// Uncompleted, nothing is visible.
	if infos, err := st.List(ctx, b+"out/", 0); err != nil || len(infos) != 0 {
		t.Fatalf("before completion: %+v %v", infos, err)
	}
	ups, err := st.ListUploads(ctx, b+"out/", 0)
	if err != nil || len(ups) != 3 {
		t.Fatalf("uploads: %+v %v", ups, err)
	}
	if err := st.CompleteUpload(ctx, p.URL, p.UploadID, p.Parts); err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteUpload(ctx, pe.URL, pe.UploadID, pe.Parts); err != nil {
		t.Fatal(err)
	}
	ups, err = st.ListUploads(ctx, b+"out/", 0)
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads after completing two: %+v %v", ups, err)
	}
	if err := st.AbortUpload(ctx, ups[0].URL, ups[0].ID); err != nil {
		t.Fatal(err)
	}
	if ups, err := st.ListUploads(ctx, b+"out/", 0); err != nil || len(ups) != 0 {
		t.Fatalf("uploads after abort: %+v %v", ups, err)
	}
	infos, err := st.List(ctx, b+"out/", 0)
	if err != nil || len(infos) != 2 || infos[0].Size != int64(len(data)) || infos[1].Size != 0 {
		t.Fatalf("after completion: %+v %v", infos, err)
	}
	got, err := io.ReadAll(objstore.OpenRange(ctx, st, infos[0], 0, infos[0].Size))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
}
