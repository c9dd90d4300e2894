package rdd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/objstore"
)

// objectFiles expands one TextFile path that is an s3:// URL into the
// objects it names, as planSplits does for local paths: an object; a
// "directory" (a prefix ending in "/", or a name with no object of its
// own but objects under name/), every object under it but those with a
// path segment beginning with "." or "_"; or a glob pattern, whose "*"
// does not cross "/", matching objects or directories.
func objectFiles(ctx context.Context, p string) ([]objstore.Info, error) {
	st, err := objstore.Default()
	if err != nil {
		return nil, fmt.Errorf("rdd: TextFile %s: %w", p, err)
	}
	bucket, key, err := objstore.Split(p)
	if err != nil {
		return nil, Permanent(fmt.Errorf("rdd: TextFile: %w", err))
	}
	if i := strings.IndexAny(key, "*?["); i >= 0 {
		if _, err := path.Match(key, ""); err != nil {
			return nil, Permanent(fmt.Errorf("rdd: TextFile: bad pattern %q: %w", p, err))
		}
		fixed := key[:strings.LastIndexByte(key[:i], '/')+1]
		all, err := st.List(ctx, objstore.Join(bucket, fixed), 0)
		if err != nil {
			return nil, objectError(err)
		}
		var out []objstore.Info
		for _, o := range all {
			k := strings.TrimPrefix(o.URL, objstore.Join(bucket, ""))
			// The pattern matches the key or one of its directories; below
			// the match, hidden names are skipped.
			segs := strings.Split(k, "/")
			for n := 1; n <= len(segs); n++ {
				if ok, _ := path.Match(key, strings.Join(segs[:n], "/")); ok {
					if !hidden(segs[n:]) {
						out = append(out, o)
					}
					break
				}
			}
		}
		if len(out) == 0 {
			return nil, Permanent(fmt.Errorf("rdd: TextFile: no objects match %s", p))
		}
		return out, nil
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		info, err := st.Stat(ctx, p)
		if err == nil {
			return []objstore.Info{info}, nil
		}
		if !errors.Is(err, objstore.ErrNotExist) {
			return nil, objectError(err)
		}
	}
	dir := objstore.Dir(p)
	all, err := st.List(ctx, dir, 0)
	if err != nil {
		return nil, objectError(err)
	}
	var out []objstore.Info
	for _, o := range all {
		if !hidden(strings.Split(strings.TrimPrefix(o.URL, dir), "/")) {
			out = append(out, o)
		}
	}
	if len(all) == 0 {
		return nil, Permanent(fmt.Errorf("rdd: TextFile: %s: no such object, and no objects under %s: %w", p, dir, fs.ErrNotExist))
	}
	return out, nil
}

// hidden reports whether a path below a directory has a segment that
// Hadoop skips: "_SUCCESS", "_temporary", ".crc" files.
func hidden(segs []string) bool {
	for _, s := range segs {
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "_") {
			return true
		}
	}
	return false
}

// objectError is inputError: objstore.ErrNotExist wraps fs.ErrNotExist.
func objectError(err error) error { return inputError(err) }

// openSplitFile opens s's file (through filesFor) or object.
func openSplitFile(ctx context.Context, s fileSplit) (inputFile, error) {
	if !objstore.IsURL(s.Path) {
		return filesFor(s.Path).Open(s.Path)
	}
	st, err := objstore.Default()
	if err != nil {
		return nil, err
	}
	info, err := st.Stat(ctx, s.Path)
	if err != nil {
		return nil, err
	}
	return &objectSplit{ctx: ctx, st: st, info: info, end: s.End}, nil
}

// objectSplit reads an object by ranged GETs from the offset readLines
// seeks to, each carrying the ETag of the Stat that readLines checks
// against the plan, so a split never mixes two versions of an object.
// ReadAt (Parquet's footer and column chunks) is a ranged GET of its own,
// with the same ETag.
type objectSplit struct {
	ctx  context.Context
	st   objstore.Store
	info objstore.Info
	end  int64
	r    *objstore.RangeReader
	pos  int64
}

func (o *objectSplit) Stat() (fs.FileInfo, error) { return objectInfo{o.info}, nil }

func (o *objectSplit) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart || o.r != nil {
		return 0, errors.New("rdd: TextFile: an object is read from one offset only")
	}
	o.pos = off
	return off, nil
}

func (o *objectSplit) Read(b []byte) (int, error) {
	if o.r == nil {
		o.r = objstore.OpenRange(o.ctx, o.st, o.info, o.pos, o.end)
	}
	n, err := o.r.Read(b)
	if errors.Is(err, objstore.ErrChanged) {
		err = Permanent(fmt.Errorf("%w: %w", ErrInputChanged, err))
	}
	return n, err
}

// ReadAt reads len(b) bytes at off by one ranged GET; short only at the
// object's end, with io.EOF, as io.ReaderAt says.
func (o *objectSplit) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("rdd: %s: read at negative offset %d", o.info.URL, off)
	}
	if off >= o.info.Size {
		return 0, io.EOF
	}
	want := min(int64(len(b)), o.info.Size-off)
	r := objstore.OpenRange(o.ctx, o.st, o.info, off, off+want)
	defer r.Close()
	n, err := io.ReadFull(io.LimitReader(r, want), b[:want])
	if errors.Is(err, objstore.ErrChanged) {
		err = Permanent(fmt.Errorf("%w: %w", ErrInputChanged, err))
	} else if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("rdd: %s: %d bytes at %d: %w", o.info.URL, n, off, err)
	}
	if err == nil && want < int64(len(b)) {
		err = io.EOF
	}
	return n, err
}

func (o *objectSplit) Close() error {
	if o.r != nil {
		return o.r.Close()
	}
	return nil
}

// objectInfo is an object's Info as an fs.FileInfo.
type objectInfo struct{ i objstore.Info }

func (o objectInfo) Name() string       { return path.Base(o.i.URL) }
func (o objectInfo) Size() int64        { return o.i.Size }
func (o objectInfo) Mode() fs.FileMode  { return 0o444 }
func (o objectInfo) ModTime() time.Time { return objectModTime(o.i) }

// objectModTime is an object's modification time to the second: a
// listing may give milliseconds where a HEAD gives seconds (an HTTP date),
// and the plan and the task must agree on it.
func objectModTime(i objstore.Info) time.Time { return i.ModTime.Truncate(time.Second) }
func (o objectInfo) IsDir() bool              { return false }
func (o objectInfo) Sys() any                 { return nil }
