package objstore

import (
	"context"
	"fmt"
)

// PartBytes is the size of each uploaded part but the last. S3's minimum
// is 5 MiB; 8 MiB keeps a writer's memory small and allows outputs up to
// 80 GB within S3's 10,000 parts.
const PartBytes = 8 << 20

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10000

// Pending is an uploaded object that is not visible yet: a multipart
// upload whose parts are all uploaded, to be completed (or aborted) by a
// committer.
type Pending struct {
	URL      string `json:"url"`
	UploadID string `json:"uploadId"`
	Parts    []Part `json:"parts"`
	Size     int64  `json:"size"`
}

// Writer writes an object as a multipart upload, one PartBytes buffer at a
// time, and leaves it uncompleted: Close returns a Pending for the
// committer. Abort discards it.
type Writer struct {
	ctx   context.Context
	st    Store
	p     Pending
	buf   []byte
	err   error
	limit int
}

// NewWriter begins a multipart upload to u.
func NewWriter(ctx context.Context, st Store, u string) (*Writer, error) {
	id, err := st.CreateUpload(ctx, u)
	if err != nil {
		return nil, err
	}
	return &Writer{ctx: ctx, st: st, p: Pending{URL: u, UploadID: id}, limit: maxParts}, nil
}

// Write implements io.Writer.
func (w *Writer) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(b)
	for len(b) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, PartBytes)
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], b)
		w.buf, b = w.buf[:len(w.buf)+k], b[k:]
		if len(w.buf) == cap(w.buf) {
			if w.err = w.flush(); w.err != nil {
				return n - len(b), w.err
			}
		}
	}
	return n, nil
}

func (w *Writer) flush() error {
	if len(w.p.Parts) == w.limit {
		return fmt.Errorf("objstore: %s: more than %d parts of %d MiB", w.p.URL, w.limit, PartBytes>>20)
	}
	part, err := w.st.UploadPart(w.ctx, w.p.URL, w.p.UploadID, int32(len(w.p.Parts)+1), w.buf)
	if err != nil {
		return err
	}
	w.p.Parts = append(w.p.Parts, part)
	w.p.Size += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Close uploads the last part (an empty object has one empty part) and
// returns the upload, still uncompleted.
func (w *Writer) Close() (Pending, error) {
	if w.err == nil && (len(w.buf) > 0 || len(w.p.Parts) == 0) {
		w.err = w.flush()
	}
	w.buf = nil
	return w.p, w.err
}

// Abort discards the upload.
func (w *Writer) Abort(ctx context.Context) error {
	w.buf = nil
	return w.st.AbortUpload(ctx, w.p.URL, w.p.UploadID)
}
