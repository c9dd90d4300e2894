package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
)

// The rename-free commit of an output in object storage (s3://), after
// Hadoop S3A's "magic" committer. S3 has no rename, and an object is
// visible only once its upload is complete, so:
//
//   - each task attempt writes its part file as a multipart upload straight
//     to its final key, dir/part-NNNNN (with its format's suffix, as
//     PathWithSuffix: part-00000.json.gz), and leaves it uncompleted;
//   - the attempt the driver authorises (the same CanCommit as the local
//     committer) returns its upload (id and parts) as its task result; a
//     denied attempt aborts its upload;
//   - the job commit completes exactly the uploads of the results the
//     driver accepted, one per partition, aborts every other upload under
//     dir (losers, attempts lost after they uploaded, and uploads left by
//     an earlier driver that crashed), checks that dir holds exactly the
//     parts, and writes _SUCCESS last: a JSON manifest of the parts.
//
// Until the job commit nothing is visible under dir; a failed job aborts
// its uploads and deletes any part it had completed, leaving dir empty as
// it found it.

// Committer names this committer in a _SUCCESS manifest.
const Committer = "sluice-magic"

// ManifestName is the "name" field of a _SUCCESS manifest.
const ManifestName = "sluice.commit.SuccessData/1"

// Manifest is the content of _SUCCESS in object storage, after S3A's
// SuccessData: who committed what, and the parts with their sizes.
type Manifest struct {
	Name      string          `json:"name"`
	Committer string          `json:"committer"`
	Timestamp int64           `json:"timestamp"` // Unix ms
	Date      string          `json:"date"`
	Hostname  string          `json:"hostname"`
	Filenames []string        `json:"filenames"` // the parts' keys, in partition order
	Parts     []ManifestEntry `json:"parts"`
	// Diagnostics counts what the job commit aborted.
	Diagnostics map[string]int `json:"diagnostics,omitempty"`
}

// ManifestEntry is one part in a Manifest.
type ManifestEntry struct {
	Name string `json:"name"` // part-NNNNN, with its suffix if any
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

// maxManifestBytes bounds a _SUCCESS a reader will decode: 100,000 parts
// at about 100 bytes each.
const maxManifestBytes = 16 << 20

// commitConcurrency is how many uploads the job commit completes at once.
const commitConcurrency = 16

// ObjectJob is one job's output in object storage, on the driver.
type ObjectJob struct {
	st      objstore.Store
	dir     string // ends in "/"
	aborted int    // uploads of a crashed earlier driver, aborted at setup
}

// SetupObjectJob refuses an output prefix that holds any object (a marker
// object named dir itself aside) and aborts uploads left under it by an
// earlier driver that crashed.
func SetupObjectJob(ctx context.Context, st objstore.Store, dir string) (*ObjectJob, error) {
	if _, _, err := objstore.Split(dir); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	dir = objstore.Dir(dir)
	infos, err := st.List(ctx, dir, 2)
	if err != nil && !errors.Is(err, objstore.ErrTooMany) {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if errors.Is(err, objstore.ErrTooMany) || len(infos) > 1 || len(infos) == 1 && infos[0].URL != dir {
		return nil, fmt.Errorf("commit: output %s already holds objects: write to a new prefix, or delete them", dir)
	}
	j := &ObjectJob{st: st, dir: dir}
	if j.aborted, err = abortUploads(ctx, st, dir, nil); err != nil {
		return nil, err
	}
	return j, nil
}

// abortUploads aborts every upload under dir but those in keep (by id)
// and returns how many it aborted.
func abortUploads(ctx context.Context, st objstore.Store, dir string, keep map[string]bool) (int, error) {
	ups, err := st.ListUploads(ctx, dir, 0)
	if err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	n := 0
	for _, u := range ups {
		if keep[u.ID] {
			continue
		}
		if err := st.AbortUpload(ctx, u.URL, u.ID); err != nil {
			return n, fmt.Errorf("commit: %w", err)
		}
		n++
	}
	return n, nil
}

// DecodePending decodes a task result of the object commit: the
// authorised attempt's upload of partition part. It must be an upload to
// dir's part file (PartName(part), with a suffix or not).
func DecodePending(dir string, part int, data []byte) (objstore.Pending, error) {
	var p objstore.Pending
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("commit: partition %d's upload record: %w", part, err)
	}
	if !isObjectPart(dir, p.URL, part) || p.UploadID == "" || len(p.Parts) == 0 {
		return p, fmt.Errorf("commit: partition %d's upload record is for %q (id %q, %d parts), want an upload to %s",
			part, p.URL, p.UploadID, len(p.Parts), objstore.Dir(dir)+PartName(part))
	}
	var size int64
	for i, pt := range p.Parts {
		if int(pt.Number) != i+1 || pt.Size < 0 || pt.ETag == "" {
			return p, fmt.Errorf("commit: partition %d's upload record: part %d of %d is numbered %d, %d bytes, ETag %q", part, i+1, len(p.Parts), pt.Number, pt.Size, pt.ETag)
		}
		size += pt.Size
	}
	if size != p.Size {
		return p, fmt.Errorf("commit: partition %d's upload record: parts of %d bytes in all, not %d", part, size, p.Size)
	}
	return p, nil
}

// isObjectPart reports whether url is partition part's part object
// under dir.
func isObjectPart(dir, url string, part int) bool {
	name, ok := strings.CutPrefix(url, objstore.Dir(dir))
	return ok && isPartName(name, part)
}

// Commit is the job commit: pending[p] is partition p's accepted upload.
// It completes them, aborts every other upload under the output, checks
// the output and writes _SUCCESS.
func (j *ObjectJob) Commit(ctx context.Context, pending []objstore.Pending) error {
	keep := map[string]bool{}
	for p, up := range pending {
		if !isObjectPart(j.dir, up.URL, p) {
			return fmt.Errorf("commit: job commit: partition %d has no upload to %s", p, j.dir+PartName(p))
		}
		keep[up.UploadID] = true
	}
	// Others first: an upload aborted now cannot be completed by mistake.
	aborted, err := abortUploads(ctx, j.st, j.dir, keep)
	if err != nil {
		return err
	}
	if err := completeAll(ctx, j.st, pending); err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	m := Manifest{Name: ManifestName, Committer: Committer, Diagnostics: map[string]int{
		"uploadsAbortedAtSetup": j.aborted, "uploadsAbortedAtCommit": aborted}}
	// What is there now must be exactly the parts.
	infos, err := j.st.List(ctx, j.dir, len(pending)+1)
	if err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	byURL := map[string]objstore.Info{}
	for _, i := range infos {
		if i.URL != j.dir {
			byURL[i.URL] = i
		}
	}
	if len(byURL) != len(pending) {
		return fmt.Errorf("commit: job commit: %s holds %d objects after completing %d parts", j.dir, len(byURL), len(pending))
	}
	for _, up := range pending {
		i, ok := byURL[up.URL]
		if !ok || i.Size != up.Size {
			return fmt.Errorf("commit: job commit: %s is %d bytes (present: %v) after completing an upload of %d", up.URL, i.Size, ok, up.Size)
		}
		_, key, _ := objstore.Split(up.URL)
		m.Filenames = append(m.Filenames, "/"+key)
		m.Parts = append(m.Parts, ManifestEntry{Name: strings.TrimPrefix(up.URL, j.dir), Size: i.Size, ETag: i.ETag})
	}
	now := time.Now()
	m.Timestamp, m.Date = now.UnixMilli(), now.UTC().Format(time.RFC3339)
	m.Hostname, _ = os.Hostname()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	if err := j.st.Put(ctx, j.dir+Success, b); err != nil {
		return fmt.Errorf("commit: job commit: %w", err)
	}
	return nil
}

// completeAll completes the uploads, a few at a time.
func completeAll(ctx context.Context, st objstore.Store, pending []objstore.Pending) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan objstore.Pending)
	for range min(commitConcurrency, len(pending)) {
		wg.Go(func() {
			for up := range work {
				if err := st.CompleteUpload(ctx, up.URL, up.UploadID, up.Parts); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, up := range pending {
		select {
		case work <- up:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// Abort undoes a failed job: every upload under the output is aborted and
// every object deleted (SetupObjectJob found it empty, so all are the
// job's).
func (j *ObjectJob) Abort(ctx context.Context) error {
	_, err := abortUploads(ctx, j.st, j.dir, nil)
	infos, lerr := j.st.List(ctx, j.dir, 0)
	for _, i := range infos {
		if i.URL != j.dir {
			if derr := j.st.Delete(ctx, i.URL); err == nil {
				err = derr
			}
		}
	}
	return errors.Join(err, lerr)
}

// ObjectAttempt is one task attempt's output of one partition, in object
// storage: an uncompleted upload to the part's final key.
type ObjectAttempt struct {
	w                    *objstore.Writer
	st                   objstore.Store
	stage, part, attempt int
}

// NewObjectAttempt begins the attempt's upload, to PartName(part)+suffix
// (suffix is empty, or begins with a dot: ".gz"). An output that already
// has its _SUCCESS is committed: an attempt still running after its job
// ended fails here instead of leaving an upload behind.
func NewObjectAttempt(ctx context.Context, st objstore.Store, dir, suffix string, stage, part, attempt int) (*ObjectAttempt, error) {
	if suffix != "" && !isPartName(PartName(part)+suffix, part) {
		return nil, fmt.Errorf("commit: bad part file suffix %q", suffix)
	}
	dir = objstore.Dir(dir)
	if _, err := st.Stat(ctx, dir+Success); err == nil {
		return nil, fmt.Errorf("commit: %s is committed already (its job has ended)", dir)
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("commit: %w", err)
	}
	w, err := objstore.NewWriter(ctx, st, dir+PartName(part)+suffix)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return &ObjectAttempt{w: w, st: st, stage: stage, part: part, attempt: attempt}, nil
}

// Writer is where the attempt writes its partition.
func (a *ObjectAttempt) Writer() *objstore.Writer { return a.w }

// Commit uploads the last part and asks auth whether this attempt may
// commit. Authorised, it returns the upload record for the driver's job
// commit (the task's result); denied (nil, nil) or failed, the upload is
// aborted.
func (a *ObjectAttempt) Commit(ctx context.Context, auth Authorizer) ([]byte, error) {
	p, err := a.w.Close()
	ok := false
	if err == nil {
		ok, err = auth.CanCommit(ctx, a.stage, a.part, a.attempt)
	}
	var b []byte
	if err == nil && ok {
		b, err = json.Marshal(p)
	}
	if err != nil || !ok {
		a.Abort()
		return nil, err
	}
	return b, nil
}

// Abort discards the attempt's upload. It uses its own deadline: it runs
// when the task's context may be cancelled already.
func (a *ObjectAttempt) Abort() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.w.Abort(ctx)
}

// CheckObjects reports whether dir in object storage is exactly one
// committed job's output of parts partitions (parts < 0: as many as its
// manifest lists): a _SUCCESS manifest that lists part-00000 to the last
// with their sizes, exactly those part objects, and no uncompleted upload
// under dir. It returns the manifest.
func CheckObjects(ctx context.Context, st objstore.Store, dir string, parts int) (Manifest, error) {
	dir = objstore.Dir(dir)
	var m Manifest
	var problems []string
	info, err := st.Stat(ctx, dir+Success)
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		problems = append(problems, "no "+Success)
	case err != nil:
		return m, fmt.Errorf("commit: %w", err)
	case info.Size > maxManifestBytes:
		problems = append(problems, fmt.Sprintf("%s is %d bytes", Success, info.Size))
	default:
		b, err := readObject(ctx, st, info)
		if err != nil {
			return m, fmt.Errorf("commit: %w", err)
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Name != ManifestName {
			problems = append(problems, fmt.Sprintf("%s is not a manifest (%v)", Success, err))
		}
	}
	if parts < 0 {
		parts = len(m.Parts)
	}
	infos, err := st.List(ctx, dir, 0)
	if err != nil {
		return m, fmt.Errorf("commit: %w", err)
	}
	// got holds the objects by partition name: part-00003.json.gz is
	// partition 3's, as in Check.
	type object struct {
		name string
		size int64
	}
	got := map[string]object{}
	var extra []string
	for _, i := range infos {
		if i.URL == dir || i.URL == dir+Success {
			continue
		}
		name := strings.TrimPrefix(i.URL, dir)
		key := name
		if len(name) > len(PartName(0)) && name[len(PartName(0))] == '.' {
			key = name[:len(PartName(0))]
		}
		if _, dup := got[key]; dup {
			extra = append(extra, name)
			continue
		}
		got[key] = object{name, i.Size}
	}
	var missing []string
	for p := range parts {
		n := PartName(p)
		o, ok := got[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		delete(got, n)
		if p < len(m.Parts) && (m.Parts[p].Name != o.name || m.Parts[p].Size != o.size) {
			problems = append(problems, fmt.Sprintf("%s is %d bytes, its manifest says %s of %d", o.name, o.size, m.Parts[p].Name, m.Parts[p].Size))
		}
	}
	for _, o := range got {
		extra = append(extra, o.name)
	}
	if len(m.Parts) != parts && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("the manifest lists %d parts, want %d", len(m.Parts), parts))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing "+strings.Join(cut(missing), ", "))
	}
	if len(extra) > 0 {
		problems = append(problems, "unexpected "+strings.Join(cut(sortStrings(extra)), ", "))
	}
	ups, err := st.ListUploads(ctx, dir, 0)
	if err != nil {
		return m, fmt.Errorf("commit: %w", err)
	}
	if len(ups) > 0 {
		problems = append(problems, fmt.Sprintf("%d uncompleted uploads left", len(ups)))
	}
	if len(problems) > 0 {
		return m, fmt.Errorf("%w: %s: %s", ErrIncomplete, dir, strings.Join(problems, "; "))
	}
	return m, nil
}

func readObject(ctx context.Context, st objstore.Store, info objstore.Info) ([]byte, error) {
	if info.Size == 0 {
		return nil, nil
	}
	r := objstore.OpenRange(ctx, st, info, 0, info.Size)
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, info.Size))
}

func sortStrings(s []string) []string { slices.Sort(s); return s }
