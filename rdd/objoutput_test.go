package rdd_test

import (
	"context"
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
