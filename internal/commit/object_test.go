package commit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/commit"
	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

func objStore(t *testing.T) (objstore.Store, string) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	return st, srv.Bucket(t, "out")
}

// objAttempt runs one attempt of partition part that writes text and asks
// to commit; it returns the attempt's result (nil when denied).
func objAttempt(t *testing.T, st objstore.Store, dir string, part, attempt int, text string, auth commit.Authorizer) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	a, err := commit.NewObjectAttempt(ctx, st, dir, "", 1, part, attempt)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(a.Writer(), text); err != nil {
		t.Fatal(err)
	}
	return a.Commit(ctx, auth)
}

func readAll(t *testing.T, st objstore.Store, u string) string {
	t.Helper()
	info, err := st.Stat(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size == 0 {
		return ""
	}
	b, err := io.ReadAll(objstore.OpenRange(context.Background(), st, info, 0, info.Size))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestObjectCommit: a crashed driver's uploads, losing attempts, an
// attempt lost after it uploaded and one refused leave nothing; exactly
// the accepted uploads become the parts, and _SUCCESS lists them.
func TestObjectCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, b := objStore(t)
	dir := b + "job/out"

	// A driver that crashed mid-job left uploads, invisible as objects.
	crashed := &coordinator{}
	for p := range 2 {
		if _, err := objAttempt(t, st, dir, p, 0, "stale\n", crashed); err != nil {
			t.Fatal(err)
		}
	}
	if ups, _ := st.ListUploads(ctx, b, 0); len(ups) != 2 {
		t.Fatalf("the crashed run left %d uploads, want 2", len(ups))
	}

	job, err := commit.SetupObjectJob(ctx, st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if ups, _ := st.ListUploads(ctx, b, 0); len(ups) != 0 {
		t.Fatalf("setup left %d uploads of the crashed run", len(ups))
	}
	auth := &coordinator{}
	var results [][]byte
	for p := range 3 {
		text := strings.Repeat(fmt.Sprintf("line of part %d\n", p), p*1000) // part 0 is empty
		r, err := objAttempt(t, st, dir, p, 0, text, auth)
		if err != nil || r == nil {
			t.Fatalf("partition %d: %v", p, err)
		}
		results = append(results, r)
		// A second attempt of the same partition is denied.
		if r, err := objAttempt(t, st, dir, p, 1, "loser\n", auth); err != nil || r != nil {
			t.Fatalf("partition %d's second attempt: %q %v", p, r, err)
		}
	}
	// An attempt that uploaded and was lost before it asked.
	lost, err := commit.NewObjectAttempt(ctx, st, dir, "", 1, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(lost.Writer(), "zombie\n")
	if _, err := lost.Writer().Close(); err != nil {
		t.Fatal(err)
	}
	// An attempt the driver could not answer aborts its upload.
	if r, err := objAttempt(t, st, dir, 1, 3, "x\n", &coordinator{err: errors.New("driver gone")}); err == nil || r != nil {
		t.Fatalf("an attempt whose commit failed: %q %v", r, err)
	}
	if infos, _ := st.List(ctx, b, 0); len(infos) != 0 {
		t.Fatalf("before the job commit, objects are visible: %+v", infos)
	}

	pending := make([]objstore.Pending, 3)
	for p, r := range results {
		if pending[p], err = commit.DecodePending(dir, p, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := commit.DecodePending(dir, 1, results[0]); err == nil {
		t.Fatal("a result for another partition decodes")
	}
	if err := job.Commit(ctx, pending); err != nil {
		t.Fatal(err)
	}
	m, err := commit.CheckObjects(ctx, st, dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Filenames) != 3 || m.Filenames[2] != "/job/out/part-00002" || m.Parts[2].Size != int64(len("line of part 2\n")*2000) ||
		m.Committer != commit.Committer || m.Diagnostics["uploadsAbortedAtSetup"] != 2 || m.Diagnostics["uploadsAbortedAtCommit"] != 1 {
		t.Fatalf("manifest: %+v", m)
	}
	for p := range 3 {
		if got, want := readAll(t, st, dir+"/"+commit.PartName(p)), strings.Repeat(fmt.Sprintf("line of part %d\n", p), p*1000); got != want {
			t.Fatalf("part %d: %d bytes, want %d", p, len(got), len(want))
		}
	}
	// An attempt still running after the job commit cannot begin.
	if _, err := objAttempt(t, st, dir, 0, 9, "late\n", auth); err == nil {
		t.Fatal("an attempt began after the job commit")
	}
	// The committed output is refused as a new output.
	if _, err := commit.SetupObjectJob(ctx, st, dir); err == nil || !strings.Contains(err.Error(), "already holds objects") {
		t.Fatalf("setup over a committed output: %v", err)
	}
}

// TestObjectAbort: a failed job leaves its prefix empty, even after its
// commit completed some parts; CheckObjects finds what is wrong.
func TestObjectAbort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, b := objStore(t)
	dir := b + "failed/"
	job, err := commit.SetupObjectJob(ctx, st, dir)
	if err != nil {
		t.Fatal(err)
	}
	auth := &coordinator{}
	r, err := objAttempt(t, st, dir, 0, 0, "a\n", auth)
	if err != nil {
		t.Fatal(err)
	}
	p0, err := commit.DecodePending(dir, 0, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteUpload(ctx, p0.URL, p0.UploadID, p0.Parts); err != nil {
		t.Fatal(err)
	}
	if _, err := objAttempt(t, st, dir, 1, 0, "b\n", auth); err != nil {
		t.Fatal(err)
	}
	if _, err := commit.CheckObjects(ctx, st, dir, 2); !errors.Is(err, commit.ErrIncomplete) ||
		!strings.Contains(err.Error(), "no _SUCCESS") || !strings.Contains(err.Error(), "missing part-00001") || !strings.Contains(err.Error(), "1 uncompleted uploads") {
		t.Fatalf("check of a half-done output: %v", err)
	}
	if err := job.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if infos, _ := st.List(ctx, b, 0); len(infos) != 0 {
		t.Fatalf("after abort: %+v", infos)
	}
	if ups, _ := st.ListUploads(ctx, b, 0); len(ups) != 0 {
		t.Fatalf("after abort: %d uploads", len(ups))
	}
	if _, err := commit.SetupObjectJob(ctx, st, "s3:///x"); err == nil {
		t.Fatal("setup of a URL with no bucket")
	}
}
