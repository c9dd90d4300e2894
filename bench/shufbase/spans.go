package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// config says how to run.
type config struct {
	workers int // goroutines, and partitions of the tables
	perWork int // byte ranges per worker, for balance when one is slow
	bufSize int // read buffer per worker; lines may be longer
}

func defaultConfig() config {
	return config{
		workers: 2,       // the benchmark machines have two cores
		perWork: 2,       // a worker that finishes early takes another range
		bufSize: 1 << 20, // large enough that a read costs little per byte
	}
}

// span is a byte range of a file that starts at a line start and ends after
// a newline or at the end of the file.
type span struct {
	path     string
	off, end int64
}

// split cuts the files into about parts spans of equal size, aligned at
// newlines, so that no line crosses a span.
func split(paths []string, parts int) ([]span, error) {
	var spans []span
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", p)
		}
		size := fi.Size()
		if size == 0 {
			continue
		}
		target := max(1, (size+int64(parts)-1)/int64(parts))
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		for off := int64(0); off < size; {
			end := size
			if off+target < end {
				if end, err = lineStart(f, off+target, size); err != nil {
					f.Close()
					return nil, fmt.Errorf("%s: %w", p, err)
				}
			}
			spans = append(spans, span{p, off, end})
			off = end
		}
		f.Close()
	}
	return spans, nil
}

// lineStart returns the first line start at or after pos > 0: just after the
// first '\n' at or after pos-1, or size if there is none.
func lineStart(f *os.File, pos, size int64) (int64, error) {
	var buf [64 << 10]byte
	for at := pos - 1; at < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-at)], at)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return at + int64(i) + 1, nil
		}
		at += int64(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			return 0, io.ErrUnexpectedEOF // the file shrank
		}
	}
	return size, nil
}

// eachLine calls fn with every line of s, without its "\n" and a "\r"
// before it, read through buf (grown for lines longer than it), and
// returns the buffer. A line is only valid during the call.
func eachLine(s span, buf []byte, fn func(line []byte) error) ([]byte, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	r := io.NewSectionReader(f, s.off, s.end-s.off)
	carry := 0
	for {
		if carry == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		n, err := io.ReadFull(r, buf[carry:])
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return buf, fmt.Errorf("%s: %w", s.path, err)
		}
		b := buf[:carry+n]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			if err := fn(trimCR(b[:i])); err != nil {
				return buf, fmt.Errorf("%s: %w", s.path, err)
			}
			b = b[i+1:]
		}
		if eof {
			if len(b) > 0 {
				if err := fn(trimCR(b)); err != nil {
					return buf, fmt.Errorf("%s: %w", s.path, err)
				}
			}
			return buf, nil
		}
		carry = copy(buf, b)
	}
}

func trimCR(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		return l[:n-1]
	}
	return l
}

// forLines runs cfg.workers goroutines over the spans of paths; worker w
// calls fn(w, line) for each line of the spans it takes.
func forLines(paths []string, cfg config, fn func(w int, line []byte) error) error {
	spans, err := split(paths, cfg.workers*cfg.perWork)
	if err != nil {
		return err
	}
	next := make(chan span, len(spans))
	for _, s := range spans {
		next <- s
	}
	close(next)
	errs := make([]error, cfg.workers)
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() {
			buf := make([]byte, cfg.bufSize)
			for s := range next {
				var err error
				if buf, err = eachLine(s, buf, func(l []byte) error { return fn(w, l) }); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// forParts runs fn(p) for each partition p in [0, n) on its own goroutine.
func forParts(n int, fn func(p int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for p := range n {
		wg.Go(func() { errs[p] = fn(p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cut splits a line at its first tab; a line without one is all key.
func cut(l []byte) (key, value []byte) {
	if i := bytes.IndexByte(l, '\t'); i >= 0 {
		return l[:i], l[i+1:]
	}
	return l, nil
}
