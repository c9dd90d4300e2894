package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Sizes of the ranged GETs a RangeReader makes.
const (
	// TailBytes is read past the end of a split in its first GET: a line
	// that starts in the split and ends after it is usually shorter, so
	// one GET serves most splits.
	TailBytes = 64 << 10
	// MoreBytes is the size of each further GET.
	MoreBytes = 8 << 20
)

// RangeReader reads an object sequentially from an offset by ranged GETs:
// the first covers [off, want) plus TailBytes, each further one MoreBytes,
// so a reader that stops soon after want fetches little beyond it. Every
// GET carries the ETag of the first (If-Match), so the bytes read all come
// from one version of the object.
type RangeReader struct {
	ctx  context.Context
	st   Store
	info Info // as the caller listed it
	pos  int64
	next int64 // size of the next GET
	body io.ReadCloser
	etag string
}

// OpenRange returns a reader of info's object from off that expects to
// read about up to want. The object must still have info's size and, when
// info has one, its ETag; otherwise reads fail with an error wrapping
// ErrChanged.
func OpenRange(ctx context.Context, st Store, info Info, off, want int64) *RangeReader {
	return &RangeReader{ctx: ctx, st: st, info: info, pos: off, next: max(want-off, 1) + TailBytes, etag: info.ETag}
}

// Read implements io.Reader.
func (r *RangeReader) Read(p []byte) (int, error) {
	for {
		if r.pos >= r.info.Size {
			return 0, io.EOF
		}
		if r.body == nil {
			n := min(r.next, r.info.Size-r.pos)
			r.next = MoreBytes
			body, got, err := r.st.Read(r.ctx, r.info.URL, r.pos, n, r.etag)
			if err != nil {
				return 0, err
			}
			if got.Size != r.info.Size {
				body.Close()
				return 0, fmt.Errorf("%w: %s was %d bytes when listed and is %d bytes now", ErrChanged, r.info.URL, r.info.Size, got.Size)
			}
			r.etag = got.ETag
			r.body = body
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if errors.Is(err, io.EOF) {
			r.body.Close()
			r.body = nil
			err = nil
			if n == 0 {
				continue
			}
		}
		if err != nil {
			return n, fmt.Errorf("objstore: reading %s at %d: %w", r.info.URL, r.pos, err)
		}
		return n, nil
	}
}

// Close releases the current GET.
func (r *RangeReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}
