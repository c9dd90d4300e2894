package rdd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

// s3Bucket starts an S3 server for the test and returns a bucket's URL and
// a store on it.
func s3Bucket(t *testing.T) (objstore.Store, string) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	return st, srv.Bucket(t, "input")
}

func readAllSplits(t *testing.T, splits []fileSplit) []string {
	t.Helper()
	var got []string
	for _, s := range splits {
		err := readLines(context.Background(), s, func(l string) bool { got = append(got, l); return true })
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// TestObjectSplitsRandom: random objects, lines longer than a read chunk
// among them, cut into random splits read by ranged GETs, give every line
// once.
func TestObjectSplitsRandom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, b := s3Bucket(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 8 {
		var sb strings.Builder
		for range rng.IntN(200) {
			n := rng.IntN(40)
			if rng.IntN(60) == 0 {
				n = readChunkBytes + rng.IntN(objstore.TailBytes*2) // past a split's first GET
			}
			for range n {
				sb.WriteByte("ab \t\r"[rng.IntN(5)])
			}
			sb.WriteString([]string{"\n", "\r\n", "\n"}[rng.IntN(3)])
		}
		if rng.IntN(2) == 0 {
			sb.WriteString("tail")
		}
		content := sb.String()
		u := fmt.Sprintf("%sr/%d.txt", b, iter)
		if err := st.Put(ctx, u, []byte(content)); err != nil {
			t.Fatal(err)
		}
		splits, err := planSplits(TextOptions{MaxSplitBytes: int64(4<<10 + rng.IntN(60<<10))}, u)
		if err != nil {
			t.Fatal(err)
		}
		if len(content) > 32<<10 && len(splits) < 2 {
			t.Fatalf("iteration %d: %d bytes in %d split", iter, len(content), len(splits))
		}
		if got, want := readAllSplits(t, splits), wantLines(content); !slices.Equal(got, want) {
			t.Fatalf("iteration %d: %d lines, want %d", iter, len(got), len(want))
		}
	}
}

// TestObjectPaths: directories, prefixes and globs name the objects a
// user expects, hidden names skipped, small objects packed together.
func TestObjectPaths(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, b := s3Bucket(t)
	for _, k := range []string{"d/a.txt", "d/sub/b.txt", "d/_SUCCESS", "d/.hidden", "d/_tmp/x.txt", "d/sub/.c",
		"dx/no.txt", "e/2026-01/p.txt", "e/2026-02/q.txt", "e/2025-12/r.txt"} {
		if err := st.Put(ctx, b+k, []byte(k+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		paths []string
		want  []string
	}{
		{[]string{b + "d/"}, []string{"d/a.txt", "d/sub/b.txt"}},
		{[]string{b + "d"}, []string{"d/a.txt", "d/sub/b.txt"}},
		{[]string{b + "d/a.txt"}, []string{"d/a.txt"}},
		{[]string{b + "d/_SUCCESS"}, []string{"d/_SUCCESS"}}, // named, not hidden
		// As filepath.Glob: a pattern matches hidden names too, and a
		// matched directory is read but for its hidden names.
		{[]string{b + "d/*"}, []string{"d/.hidden", "d/_SUCCESS", "d/_tmp/x.txt", "d/a.txt", "d/sub/b.txt"}},
		{[]string{b + "d/[as]*"}, []string{"d/a.txt", "d/sub/b.txt"}},
		{[]string{b + "e/2026-*/*.txt"}, []string{"e/2026-01/p.txt", "e/2026-02/q.txt"}},
		{[]string{b + "e/2026-*"}, []string{"e/2026-01/p.txt", "e/2026-02/q.txt"}},
		{[]string{b + "d/a.txt", b + "d/"}, []string{"d/a.txt", "d/sub/b.txt"}},
	} {
		splits, err := planSplits(TextOptions{}, c.paths...)
		if err != nil {
			t.Fatalf("%q: %v", c.paths, err)
		}
		got := readAllSplits(t, splits)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: lines %q, want %q", c.paths, got, c.want)
		}
		if packed := packSplits(splits, splitBytes(TextOptions{}, splits)); len(got) > 0 && len(packed) != 1 {
			t.Errorf("%q: %d small objects in %d partitions, want 1", c.paths, len(splits), len(packed))
		}
	}
	for _, p := range []string{b + "nothing", b + "nothing/", b + "e/1999-*"} {
		if _, err := planSplits(TextOptions{}, p); !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: %v, want a permanent error", p, err)
		} else if !strings.Contains(err.Error(), strings.TrimPrefix(p, b)) {
			t.Errorf("%s: error %q does not name it", p, err)
		}
	}
	if _, err := planSplits(TextOptions{}, b+"nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing object: %v, want fs.ErrNotExist", err)
	}
	if _, err := planSplits(TextOptions{}, "s3:///x"); err == nil {
		t.Error("a URL with no bucket: no error")
	}

	// An object that changes after planning fails the task for good.
	splits, err := planSplits(TextOptions{}, b+"d/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, b+"d/a.txt", []byte("rewritten, longer\n")); err != nil {
		t.Fatal(err)
	}
	err = readLines(ctx, splits[0], func(string) bool { return true })
	if !errors.Is(err, ErrInputChanged) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("reading a changed object: %v, want a permanent ErrInputChanged", err)
	}
}
