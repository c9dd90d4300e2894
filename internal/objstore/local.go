package objstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Local is a Store over a local directory, for tests and for trying the
// object-storage paths on one machine: bucket B's object K is the file
// ROOT/B/K, and a multipart upload is a directory ROOT/.uploads/ID whose
// parts are concatenated into place when it completes. An ETag is the
// file's size and modification time; a Put or a completion renames a
// finished file into place, so a reader never sees half an object.
type Local struct{ root string }

var _ Store = (*Local)(nil)

// NewLocal returns a Local store over root, which must exist.
func NewLocal(root string) (*Local, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("objstore: %s is not a directory", root)
	}
	return &Local{root: root}, nil
}

// path maps a URL to its file; the key must not be empty or name a
// "directory".
func (l *Local) path(u string) (string, error) {
	b, k, err := Split(u)
	if err != nil {
		return "", err
	}
	if k == "" || strings.HasSuffix(k, "/") || strings.HasPrefix(b, ".") {
		return "", fmt.Errorf("objstore: %s names no object", u)
	}
	return filepath.Join(l.root, b, filepath.FromSlash(k)), nil
}

func localETag(st fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano())
}

func localInfo(u string, st fs.FileInfo) Info {
	return Info{URL: u, Size: st.Size(), ModTime: st.ModTime(), ETag: localETag(st)}
}

func notExist(op, u string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: %s %s: %w", op, u, ErrNotExist)
	}
	return fmt.Errorf("objstore: %s %s: %w", op, u, err)
}

// Stat implements Store.
func (l *Local) Stat(_ context.Context, u string) (Info, error) {
	p, err := l.path(u)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err == nil && !st.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return Info{}, notExist("stat", u, err)
	}
	return localInfo(u, st), nil
}

// List implements Store.
func (l *Local) List(_ context.Context, prefix string, limit int) ([]Info, error) {
	b, k, err := Split(prefix)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	base := filepath.Join(l.root, b)
	// Walk from the deepest directory the prefix names.
	start := filepath.Join(base, filepath.FromSlash(k[:strings.LastIndexByte(k, '/')+1]))
	var infos []Info
	err = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".objstore-") {
			return nil // not a file, or one being written
		}
		rel, _ := filepath.Rel(base, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, k) {
			return nil
		}
		if len(infos) == limit {
			return fmt.Errorf("%w: list %s: more than %d objects", ErrTooMany, prefix, limit)
		}
		st, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		infos = append(infos, localInfo(Join(b, key), st))
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrTooMany) {
			return nil, err
		}
		return nil, fmt.Errorf("objstore: list %s: %w", prefix, err)
	}
	// S3 lists in key order; a walk sorts by path element, which differs
	// when a name sorts below "/" ("a-b" against "a/b").
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.URL, b.URL) })
	return infos, nil
}

// Read implements Store.
func (l *Local) Read(_ context.Context, u string, off, n int64, etag string) (io.ReadCloser, Info, error) {
	p, err := l.path(u)
	if err != nil {
		return nil, Info{}, err
	}
	if off < 0 || n <= 0 {
		return nil, Info{}, fmt.Errorf("objstore: read %s: bad range %d+%d", u, off, n)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, notExist("read", u, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, notExist("read", u, err)
	}
	info := localInfo(u, st)
	if etag != "" && etag != info.ETag {
		f.Close()
		return nil, Info{}, fmt.Errorf("objstore: read %s: %w", u, ErrChanged)
	}
	if off >= st.Size() {
		f.Close()
		return nil, Info{}, fmt.Errorf("objstore: read %s: offset %d is past its end (%d bytes)", u, off, st.Size())
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, info, nil
}

// writeFile writes data to p by a temporary file renamed into place.
func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".objstore-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Put implements Store.
func (l *Local) Put(_ context.Context, u string, data []byte) error {
	p, err := l.path(u)
	if err != nil {
		return err
	}
	if err := writeFile(p, data); err != nil {
		return fmt.Errorf("objstore: put %s: %w", u, err)
	}
	return nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, u string) error {
	p, err := l.path(u)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: delete %s: %w", u, err)
	}
	return nil
}

func (l *Local) uploadDir(id string) (string, error) {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("objstore: upload id %q: %w", id, ErrNotExist)
	}
	return filepath.Join(l.root, ".uploads", id), nil
}

// CreateUpload implements Store.
func (l *Local) CreateUpload(_ context.Context, u string) (string, error) {
	if _, err := l.path(u); err != nil {
		return "", err
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	dir, _ := l.uploadDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("objstore: begin upload to %s: %w", u, err)
	}
	meta := fmt.Sprintf("%d\n%s", time.Now().UnixNano(), u)
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte(meta), 0o644); err != nil {
		return "", fmt.Errorf("objstore: begin upload to %s: %w", u, err)
	}
	return id, nil
}

// upload returns the URL and start of upload id, which must be to u.
func (l *Local) upload(id, u string) (string, error) {
	dir, err := l.uploadDir(id)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, "url"))
	if err != nil {
		return "", fmt.Errorf("objstore: upload %s: %w", id, ErrNotExist)
	}
	_, got, _ := strings.Cut(string(b), "\n")
	if got != u {
		return "", fmt.Errorf("objstore: upload %s is to %s, not %s: %w", id, got, u, ErrNotExist)
	}
	return dir, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func partChecksum(data []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli)))
}

// UploadPart implements Store.
func (l *Local) UploadPart(_ context.Context, u, id string, n int32, data []byte) (Part, error) {
	dir, err := l.upload(id, u)
	if err != nil {
		return Part{}, err
	}
	if n < 1 || n > maxParts {
		return Part{}, fmt.Errorf("objstore: upload part %d to %s: part numbers are 1 to %d", n, u, maxParts)
	}
	if err := writeFile(filepath.Join(dir, fmt.Sprintf("part-%05d", n)), data); err != nil {
		return Part{}, fmt.Errorf("objstore: upload part %d to %s: %w", n, u, err)
	}
	sum := partChecksum(data)
	return Part{Number: n, ETag: `"` + sum + `"`, Size: int64(len(data)), Checksum: sum}, nil
}

// CompleteUpload implements Store.
func (l *Local) CompleteUpload(_ context.Context, u, id string, parts []Part) error {
	dir, err := l.upload(id, u)
	if err != nil {
		return err
	}
	p, _ := l.path(u)
	if len(parts) == 0 {
		return fmt.Errorf("objstore: complete upload to %s: no parts", u)
	}
	var data []byte
	for i, part := range parts {
		if i > 0 && part.Number <= parts[i-1].Number {
			return fmt.Errorf("objstore: complete upload to %s: parts out of order", u)
		}
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("part-%05d", part.Number)))
		if err != nil {
			return fmt.Errorf("objstore: complete upload to %s: part %d: %w", u, part.Number, err)
		}
		if `"`+partChecksum(b)+`"` != part.ETag {
			return fmt.Errorf("objstore: complete upload to %s: part %d's ETag is not %s", u, part.Number, part.ETag)
		}
		data = append(data, b...)
	}
	if err := writeFile(p, data); err != nil {
		return fmt.Errorf("objstore: complete upload to %s: %w", u, err)
	}
	return os.RemoveAll(dir)
}

// AbortUpload implements Store.
func (l *Local) AbortUpload(_ context.Context, u, id string) error {
	dir, err := l.upload(id, u)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("objstore: abort upload to %s: %w", u, err)
	}
	return nil
}

// ListUploads implements Store.
func (l *Local) ListUploads(_ context.Context, prefix string, limit int) ([]Upload, error) {
	if _, _, err := Split(prefix); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	ents, err := os.ReadDir(filepath.Join(l.root, ".uploads"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("objstore: list uploads under %s: %w", prefix, err)
	}
	var ups []Upload
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(l.root, ".uploads", e.Name(), "url"))
		if err != nil {
			continue // aborted meanwhile
		}
		ts, u, _ := strings.Cut(string(b), "\n")
		if !strings.HasPrefix(u, prefix) {
			continue
		}
		if len(ups) == limit {
			return nil, fmt.Errorf("%w: list uploads under %s: more than %d", ErrTooMany, prefix, limit)
		}
		var ns int64
		fmt.Sscan(ts, &ns)
		ups = append(ups, Upload{URL: u, ID: e.Name(), Initiated: time.Unix(0, ns)})
	}
	slices.SortFunc(ups, func(a, b Upload) int { return strings.Compare(a.URL+a.ID, b.URL+b.ID) })
	return ups, nil
}
