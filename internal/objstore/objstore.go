package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// Scheme is the URL scheme of S3 locations.
const Scheme = "s3://"

// ErrNotExist is wrapped by errors for an object or upload that does not
// exist. It wraps fs.ErrNotExist, so callers that handle a missing file
// handle a missing object alike.
var ErrNotExist = fmt.Errorf("objstore: no such object (%w)", fs.ErrNotExist)

// ErrChanged is wrapped by the error of a read that found the object
// changed since it was listed.
var ErrChanged = errors.New("objstore: object changed")

// ErrTooMany is wrapped by the error of a listing over its limit.
var ErrTooMany = errors.New("objstore: listing over its limit")

// IsURL reports whether p names a location in object storage rather than
// a local path.
func IsURL(p string) bool { return strings.HasPrefix(p, Scheme) }

// Split parses s3://bucket/key into its bucket and key. The key may be
// empty (the whole bucket) and may end in "/".
func Split(u string) (bucket, key string, err error) {
	if !IsURL(u) {
		return "", "", fmt.Errorf("objstore: %q is not an %sbucket/key URL", u, Scheme)
	}
	rest := u[len(Scheme):]
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("objstore: %q has no bucket: want %sbucket/key", u, Scheme)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return "", "", fmt.Errorf("objstore: %q: a key must not contain %q segments", u, seg)
		}
	}
	return bucket, key, nil
}

// Join makes the URL of key in bucket.
func Join(bucket, key string) string { return Scheme + bucket + "/" + key }

// Dir returns u with a trailing "/": the prefix of the objects "in" u.
func Dir(u string) string {
	if strings.HasSuffix(u, "/") {
		return u
	}
	return u + "/"
}

// Info describes one object.
type Info struct {
	URL     string
	Size    int64
	ModTime time.Time
	ETag    string
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number   int32  `json:"n"`
	ETag     string `json:"etag"`
	Size     int64  `json:"size"`
	Checksum string `json:"crc32c,omitempty"` // base64 CRC32C, when the store computes one
}

// Upload is a multipart upload that was begun and not completed or
// aborted.
type Upload struct {
	URL       string
	ID        string
	Initiated time.Time
}

// Store is the object-storage operations Sluice uses. Locations are
// s3:// URLs. Implementations are safe for concurrent use.
type Store interface {
	// Stat returns an object's Info, or an error wrapping ErrNotExist.
	Stat(ctx context.Context, u string) (Info, error)
	// List returns the objects whose URL begins with prefix, sorted by
	// key, at most limit of them (limit <= 0: DefaultListLimit); more is
	// an error.
	List(ctx context.Context, prefix string, limit int) ([]Info, error)
	// Read returns n bytes of the object from offset off. When etag is
	// not empty and the object's ETag is another, the error wraps
	// ErrChanged. The Info is the object's, as of this read.
	Read(ctx context.Context, u string, off, n int64, etag string) (io.ReadCloser, Info, error)
	// Put writes a whole object.
	Put(ctx context.Context, u string, data []byte) error
	// Delete removes an object; a missing one is no error.
	Delete(ctx context.Context, u string) error

	// CreateUpload begins a multipart upload to u and returns its id.
	CreateUpload(ctx context.Context, u string) (string, error)
	// UploadPart uploads part number n (from 1) of upload id.
	UploadPart(ctx context.Context, u, id string, n int32, data []byte) (Part, error)
	// CompleteUpload makes the object u from the parts, in order.
	CompleteUpload(ctx context.Context, u, id string, parts []Part) error
	// AbortUpload discards an upload; a missing one is no error.
	AbortUpload(ctx context.Context, u, id string) error
	// ListUploads returns the uncompleted uploads whose URL begins with
	// prefix, at most limit (limit <= 0: DefaultListLimit); more is an
	// error.
	ListUploads(ctx context.Context, prefix string, limit int) ([]Upload, error)
}

// DefaultListLimit caps a listing: a million objects is far more than
// one job's input or output should hold, and a listing that large takes
// over 15 minutes of requests (1000 keys a page).
const DefaultListLimit = 1_000_000
