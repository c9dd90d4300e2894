package obs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

// download copies the log of app-1 under the s3:// dir into a new
// directory and returns the application's directory there.
func download(t *testing.T, st objstore.Store, dir string) string {
	t.Helper()
	local := t.TempDir()
	if _, err := CopyLogs(context.Background(), st, dir, local); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(local, "app-1")
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
	running := download(t, st, dir)
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
	done := download(t, st, dir)
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
	// Only log files of valid applications are copied.
	for _, k := range []string{"/app-1/notes.txt", "/notes.txt", "/..x/status.json", "/app-2/sub/status.json"} {
		if err := st.Put(context.Background(), dir+k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	local := t.TempDir()
	n, err := CopyLogs(context.Background(), st, dir, local)
	var got []string
	filepath.WalkDir(local, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(local, p)
			got = append(got, rel)
		}
		return nil
	})
	if err != nil || n != len(got) || !slices.Contains(got, "app-1/status.json") {
		t.Fatalf("copied %d files (%v): %q", n, err, got)
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "app-1/") || !logFile.MatchString(filepath.Base(g)) {
			t.Fatalf("copied %q", g)
		}
	}
}
