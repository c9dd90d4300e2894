package obs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

// download copies every object under prefix into dir.
func download(t *testing.T, st objstore.Store, prefix, dir string) {
	t.Helper()
	ctx := context.Background()
	infos, err := st.List(ctx, prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		var b []byte
		if i.Size > 0 {
			if b, err = io.ReadAll(objstore.OpenRange(ctx, st, i, 0, i.Size)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(i.URL, prefix)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogInObjectStorage: an s3:// event log shows a running
// application's status and closed segments, and once closed loads to the
// same state as its events, from its files in the bucket alone.
func TestLogInObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.Setenv(t)
	st, err := objstore.Default()
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.Bucket(t, "logs") + "sluice/events"
	evs := app(200)
	w := writeLog(t, dir, evs, LogOptions{SegmentBytes: 8 << 10})
	if err := w.Beat(time.Now(), true); err != nil {
		t.Fatal(err)
	}
	running := t.TempDir()
	download(t, st, dir+"/app-1/", running)
	if st, err := ReadStatus(running, time.Now()); err != nil || st.Status != Running {
		t.Fatalf("while running: %+v %v", st, err)
	}
	segs, ckpts, _ := listLog(running)
	if len(segs) < 2 || len(ckpts) != len(segs) {
		t.Fatalf("while running: %d segments and %d checkpoints uploaded", len(segs), len(ckpts))
	}
	staging := filepath.Dir(w.dir)
	if err := w.Close(Succeeded, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatalf("the staging directory %s is left: %v", staging, err)
	}
	done := t.TempDir()
	download(t, st, dir+"/app-1/", done)
	s, ls, err := Load(done, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := NewStore(0)
	for _, e := range evs {
		want.Apply(e)
	}
	if ls.Status != Succeeded || !reflect.DeepEqual(s.Checkpoint(), want.Checkpoint()) {
		t.Fatalf("status %s; loaded state differs from the events'", ls.Status)
	}
	if _, err := CreateLog(dir, App{ID: "app-1"}, LogOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second log for one app: %v", err)
	}
}
