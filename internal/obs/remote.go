package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
)

// An event log in object storage (an s3:// log directory) is written
// locally, to a staging directory, and each file is uploaded whole when
// the writer finishes it: status.json at every heartbeat, a segment when
// it rolls or the log closes, a checkpoint when it is written. S3 has no
// append and no rename, and a PUT replaces an object atomically, so a
// reader sees whole files only: a running application's status and its
// closed segments, its last segment once it ends. Every upload is bounded
// by the store's deadlines and retries; a failed one fails the write, as
// a full disk does.
type logMirror struct {
	st      objstore.Store
	prefix  string // s3://bucket/dir/APP/
	staging string // the local directory the writer writes, removed at close
}

// newLogMirror prepares the log of application id under the s3:// dir:
// it refuses an application prefix that holds objects, as CreateLog
// refuses an existing directory, and returns the local directory to write.
func newLogMirror(dir, id string) (*logMirror, string, error) {
	st, err := objstore.Default()
	if err != nil {
		return nil, "", fmt.Errorf("event log %s: %w", dir, err)
	}
	prefix := objstore.Dir(dir) + id + "/"
	if _, _, err := objstore.Split(prefix); err != nil {
		return nil, "", fmt.Errorf("event log: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	infos, err := st.List(ctx, prefix, 1)
	if err != nil || len(infos) > 0 {
		if err == nil || errors.Is(err, objstore.ErrTooMany) {
			return nil, "", fmt.Errorf("event log %s: already exists", prefix)
		}
		return nil, "", fmt.Errorf("event log: %w", err)
	}
	staging, err := os.MkdirTemp("", "sluice-eventlog-")
	if err != nil {
		return nil, "", fmt.Errorf("event log: %w", err)
	}
	return &logMirror{st: st, prefix: prefix, staging: staging}, filepath.Join(staging, id), nil
}

// upload copies the file name of the local application directory.
func (m *logMirror) upload(local, name string) error {
	b, err := os.ReadFile(filepath.Join(local, name))
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if err := m.st.Put(context.Background(), m.prefix+name, b); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// close removes the staging directory.
func (m *logMirror) close() { os.RemoveAll(m.staging) }

// logFile matches the names of an application's log files.
var logFile = regexp.MustCompile(`^(status\.json|events-[0-9]{6}\.jsonl\.zst|checkpoint-[0-9]{6}\.msgpack\.zst)$`)

// MaxCopyBytes bounds what CopyLogs downloads.
const MaxCopyBytes = 64 << 30

// CopyLogs copies the event logs under an s3:// log directory into the
// local directory dir (which must exist), for Load and `sluice history`:
// only APP/FILE objects with a valid application id and a log file's name,
// at most MaxCopyBytes in all. It returns how many files it copied.
func CopyLogs(ctx context.Context, st objstore.Store, prefix, dir string) (int, error) {
	prefix = objstore.Dir(prefix)
	infos, err := st.List(ctx, prefix, 0)
	if err != nil {
		return 0, fmt.Errorf("event logs: %w", err)
	}
	var total int64
	n := 0
	for _, i := range infos {
		app, name, ok := strings.Cut(strings.TrimPrefix(i.URL, prefix), "/")
		if !ok || CheckAppID(app) != nil || !logFile.MatchString(name) {
			continue
		}
		if total += i.Size; total > MaxCopyBytes {
			return n, fmt.Errorf("event logs under %s: more than %d bytes", prefix, int64(MaxCopyBytes))
		}
		if err := os.MkdirAll(filepath.Join(dir, app), 0o700); err != nil {
			return n, fmt.Errorf("event logs: %w", err)
		}
		f, err := os.Create(filepath.Join(dir, app, name))
		if err != nil {
			return n, fmt.Errorf("event logs: %w", err)
		}
		if i.Size > 0 {
			r := objstore.OpenRange(ctx, st, i, 0, i.Size)
			_, err = io.Copy(f, io.LimitReader(r, i.Size))
			r.Close()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, fmt.Errorf("event logs: %s: %w", i.URL, err)
		}
		n++
	}
	return n, nil
}
