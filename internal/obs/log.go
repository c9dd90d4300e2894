package obs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/objstore"
)

// An event log is a directory per application under the log directory:
//
//	DIR/APP/status.json              what the application is doing, rewritten as it goes
//	DIR/APP/events-000001.jsonl.zst  segments of events, one JSON object a line
//	DIR/APP/events-000002.jsonl.zst  (the last one is still being written while RUNNING)
//	DIR/APP/checkpoint-000001.msgpack.zst  the state after every event of segments 1…N
//
// Segments roll at SegmentBytes of JSON; each roll writes a checkpoint,
// so a reader opens an application from its newest checkpoint and the
// segments after it, never the whole log. The writer flushes a segment
// at every heartbeat, so a running application is visible; a status
// that says RUNNING with a heartbeat older than three intervals is an
// application that crashed.

// DefaultSegmentBytes is the size of JSON after which a segment rolls.
const DefaultSegmentBytes = 64 << 20

// DefaultHeartbeat is how often a running application's status is
// rewritten and its segment flushed.
const DefaultHeartbeat = 5 * time.Second

// LogStatus is the content of status.json.
type LogStatus struct {
	V         int    `json:"v"`
	App       string `json:"app"`
	Name      string `json:"name,omitempty"`
	Status    Status `json:"status"`
	Start     int64  `json:"start"`
	End       int64  `json:"end,omitempty"`
	Heartbeat int64  `json:"heartbeat"`         // Unix ms of the last rewrite
	Interval  int64  `json:"intervalMs"`        // between heartbeats
	Seq       int64  `json:"seq"`               // last event written
	Segments  int    `json:"segments"`          // segments begun
	Dropped   int64  `json:"dropped"`           // events lost because the writer fell behind
	Crashed   bool   `json:"crashed,omitempty"` // inferred by a reader, never written
	Host      string `json:"host,omitempty"`
	PID       int    `json:"pid,omitempty"`
}

var validAppID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)

// CheckAppID reports whether id can name an application's directory.
func CheckAppID(id string) error {
	if !validAppID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("application id %q: want letters, digits, '.', '_' or '-', at most 128", id)
	}
	return nil
}

// LogWriter writes one application's event log. It is not safe for
// concurrent use: one goroutine owns it.
type LogWriter struct {
	dir      string
	store    *Store // the state, for checkpoints
	segBytes int64
	interval time.Duration
	status   LogStatus

	seg     *os.File
	zw      *zstd.Encoder
	bw      *bufio.Writer
	written int64 // JSON bytes in the current segment
	last    time.Time
	enc     bytes.Buffer
	remote  *logMirror // uploads the files of an s3:// log; nil for a local one
}

// LogOptions configure a LogWriter; zero values take the defaults.
type LogOptions struct {
	SegmentBytes int64
	Heartbeat    time.Duration
}

// CreateLog starts the event log of application app.ID under dir. It
// refuses an application directory that exists: a log is never
// overwritten.
func CreateLog(dir string, app App, o LogOptions) (*LogWriter, error) {
	if err := CheckAppID(app.ID); err != nil {
		return nil, err
	}
	var remote *logMirror
	if objstore.IsURL(dir) {
		var local string
		var err error
		if remote, local, err = newLogMirror(dir, app.ID); err != nil {
			return nil, err
		}
		dir = filepath.Dir(local)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	path := filepath.Join(dir, app.ID)
	if err := os.Mkdir(path, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("event log %s: already exists", path)
		}
		return nil, fmt.Errorf("event log: %w", err)
	}
	host, _ := os.Hostname()
	w := &LogWriter{
		dir:      path,
		store:    NewStore(0),
		segBytes: cmp0(o.SegmentBytes, DefaultSegmentBytes),
		interval: cmp0(o.Heartbeat, DefaultHeartbeat),
		status:   LogStatus{V: Version, App: app.ID, Name: app.Name, Status: Running, Host: host, PID: os.Getpid()},
		remote:   remote,
	}
	w.status.Interval = w.interval.Milliseconds()
	if err := w.open(); err != nil {
		if remote != nil {
			remote.close()
		}
		return nil, err
	}
	return w, nil
}

func cmp0[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func segName(n int) string  { return fmt.Sprintf("events-%06d.jsonl.zst", n) }
func ckptName(n int) string { return fmt.Sprintf("checkpoint-%06d.msgpack.zst", n) }

// open begins the next segment.
func (w *LogWriter) open() error {
	w.status.Segments++
	f, err := os.OpenFile(filepath.Join(w.dir, segName(w.status.Segments)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		return err
	}
	w.seg, w.zw, w.bw, w.written = f, zw, bufio.NewWriterSize(zw, 64<<10), 0
	return w.writeStatus()
}

// Write appends one event. Seq and V are set here.
func (w *LogWriter) Write(e Event) error {
	w.status.Seq++
	e.V, e.Seq = Version, w.status.Seq
	if e.Kind == AppStart {
		w.status.Start = e.Time
	}
	w.store.Apply(e)
	w.enc.Reset()
	if err := json.NewEncoder(&w.enc).Encode(e); err != nil {
		return err
	}
	if _, err := w.bw.Write(w.enc.Bytes()); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	w.written += int64(w.enc.Len())
	if w.written >= w.segBytes {
		return w.roll()
	}
	return nil
}

// Dropped records events the caller could not hand over in time.
func (w *LogWriter) Dropped(n int64) { w.status.Dropped += n }

// roll closes the segment, writes a checkpoint of everything so far and
// begins the next segment.
func (w *LogWriter) roll() error {
	if err := w.closeSegment(); err != nil {
		return err
	}
	if err := w.checkpoint(); err != nil {
		return err
	}
	return w.open()
}

// checkpoint writes the state after every event of the segments so far.
func (w *LogWriter) checkpoint() error {
	if err := writeCheckpoint(filepath.Join(w.dir, ckptName(w.status.Segments)), w.store.Checkpoint()); err != nil {
		return fmt.Errorf("event log checkpoint: %w", err)
	}
	if w.remote != nil {
		return w.remote.upload(w.dir, ckptName(w.status.Segments))
	}
	return nil
}

func (w *LogWriter) closeSegment() error {
	err := errors.Join(w.bw.Flush(), w.zw.Close(), w.seg.Sync(), w.seg.Close())
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if w.remote != nil {
		return w.remote.upload(w.dir, segName(w.status.Segments))
	}
	return nil
}

// Beat flushes what was written, so readers see it, and rewrites the
// status if a heartbeat interval has passed since the last (or force).
func (w *LogWriter) Beat(now time.Time, force bool) error {
	if !force && now.Sub(w.last) < w.interval {
		return nil
	}
	if err := errors.Join(w.bw.Flush(), w.zw.Flush()); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return w.writeStatus()
}

// Interval is how often Beat must be called while the application runs.
func (w *LogWriter) Interval() time.Duration { return w.interval }

func (w *LogWriter) writeStatus() error {
	w.last = time.Now()
	w.status.Heartbeat = w.last.UnixMilli()
	b, err := json.Marshal(w.status)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(w.dir, "status.json"), b); err != nil || w.remote == nil {
		return err
	}
	return w.remote.upload(w.dir, "status.json")
}

// Close ends the log with the application's outcome, and a checkpoint
// of its end, so a reader opens it without replaying a single event.
func (w *LogWriter) Close(status Status, end time.Time) error {
	err := w.closeSegment()
	if err == nil {
		err = w.checkpoint()
	}
	w.status.Status, w.status.End = status, end.UnixMilli()
	err = errors.Join(err, w.writeStatus())
	if w.remote != nil {
		w.remote.close()
	}
	return err
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Checkpoints are msgpack, not JSON: a reader decodes one whole, and
// msgpack decodes several times faster. They are the log's cache of
// state; the JSON lines are its record.
func writeCheckpoint(path string, c Checkpoint) error {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err := msgpack.NewEncoder(zw).Encode(&c); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// ReadStatus reads an application's status.json and infers a crash: a
// RUNNING application whose heartbeat is older than three intervals at
// now, or whose driver process on this host is gone, is reported as
// FAILED and Crashed.
func ReadStatus(dir string, now time.Time) (LogStatus, error) {
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil {
		return LogStatus{}, fmt.Errorf("event log %s: %w", dir, err)
	}
	var st LogStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return LogStatus{}, fmt.Errorf("event log %s: status.json: %w", dir, err)
	}
	if st.Status == Running && (now.UnixMilli()-st.Heartbeat > 3*max(st.Interval, 1) || gone(st.Host, st.PID)) {
		st.Status, st.Crashed = Failed, true
	}
	return st, nil
}

// Load builds an application's state from its newest checkpoint and the
// segments after it. A segment cut short (the one being written, or the
// last one of a crashed driver) counts up to its last whole line.
func Load(dir string, retain int) (*Store, LogStatus, error) {
	st, err := ReadStatus(dir, time.Now())
	if err != nil {
		return nil, st, err
	}
	segs, ckpts, err := listLog(dir)
	if err != nil {
		return nil, st, err
	}
	s := NewStore(retain)
	from := 0
	if n := len(ckpts); n > 0 {
		var c Checkpoint
		if err := readCheckpoint(filepath.Join(dir, ckptName(ckpts[n-1])), &c); err != nil {
			return nil, st, fmt.Errorf("event log %s: %s: %w", dir, ckptName(ckpts[n-1]), err)
		}
		s.Restore(c)
		from = ckpts[n-1]
	}
	for i, n := range segs {
		if n <= from {
			continue
		}
		if err := replay(filepath.Join(dir, segName(n)), s, i == len(segs)-1); err != nil {
			return nil, st, err
		}
	}
	if st.Crashed {
		snap := s.Snapshot()
		if snap.App.Status == Running || snap.App.Status == "" {
			s.Apply(Event{Seq: snap.Seq + 1, Time: st.Heartbeat, Kind: AppEnd, App: &App{Status: Failed, Crashed: true, Error: "crashed: the driver stopped writing its event log without ending it"}})
		}
	}
	return s, st, nil
}

func listLog(dir string) (segs, ckpts []int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("event log: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		var list *[]int
		var num string
		switch {
		case strings.HasPrefix(name, "events-") && strings.HasSuffix(name, ".jsonl.zst"):
			list, num = &segs, strings.TrimSuffix(strings.TrimPrefix(name, "events-"), ".jsonl.zst")
		case strings.HasPrefix(name, "checkpoint-") && strings.HasSuffix(name, ".msgpack.zst"):
			list, num = &ckpts, strings.TrimSuffix(strings.TrimPrefix(name, "checkpoint-"), ".msgpack.zst")
		default:
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			*list = append(*list, n)
		}
	}
	slices.Sort(segs)
	slices.Sort(ckpts)
	return segs, ckpts, nil
}

// replay applies a segment's events to s. The last segment may end cut
// off, where a writer stopped (an unfinished zstd frame or a partial last
// line): what comes before stands. Any other segment must be whole.
func replay(path string, s *Store, last bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return err
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 64<<10)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF && len(b) == 0 {
			return nil
		}
		if err != nil {
			if last {
				return nil
			}
			return fmt.Errorf("event log %s: cut off at line %d: %v", path, line, err)
		}
		e, err := Decode(b)
		if err != nil {
			return fmt.Errorf("event log %s: line %d: %w", path, line, err)
		}
		s.Apply(e)
	}
}

func readCheckpoint(path string, c *Checkpoint) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return err
	}
	defer zr.Close()
	return msgpack.NewDecoder(bufio.NewReaderSize(zr, 256<<10)).Decode(c)
}

// gone reports whether the process pid of host is known to have exited:
// only a process of this host can be asked.
func gone(host string, pid int) bool {
	if me, err := os.Hostname(); err != nil || host != me || pid <= 0 {
		return false
	}
	return unix.Kill(pid, 0) == unix.ESRCH
}
