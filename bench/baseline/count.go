package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice/bench/internal/cgpin"
)

// config says how to count.
type config struct {
	workers int // goroutines, each with its own map
	perWork int // byte ranges per worker, for balance when one is slow
	bufSize int // read buffer per worker; tokens may be longer

	// lockThreads pins each worker goroutine to its OS thread, with a
	// stack that does not move, so that callgrind sees all of a worker's
	// work (bench/callgrind.sh; see bench/internal/cgpin).
	lockThreads bool
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
// newlines, so that no word crosses a span.
func split(paths []string, parts int) ([]span, error) {
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", p)
		}
		sizes[i] = fi.Size()
		total += fi.Size()
	}
	target := max(1, (total+int64(parts)-1)/int64(parts))
	var spans []span
	for i, p := range paths {
		if sizes[i] == 0 {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		for off := int64(0); off < sizes[i]; {
			end := sizes[i]
			if off+target < end {
				if end, err = lineStart(f, off+target, sizes[i]); err != nil {
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
		for i, c := range buf[:n] {
			if c == '\n' {
				return at + int64(i) + 1, nil
			}
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

// counter counts the words one worker sees. Its map holds an index into
// counts rather than the count: a lookup m[string(b)] does not allocate, but
// m[string(b)]++ allocates the key string on every call, hit or miss (Go
// 1.26; see BenchmarkCountIdiom).
type counter struct {
	index  map[string]int
	counts []int
}

func newCounter() *counter {
	return &counter{index: make(map[string]int)}
}

func (c *counter) add(word []byte) {
	if i, ok := c.index[string(word)]; ok {
		c.counts[i]++
		return
	}
	c.index[string(word)] = len(c.counts)
	c.counts = append(c.counts, 1)
}

// countFiles counts the words of the files as strings.Fields splits each.
func countFiles(paths []string, cfg config) (map[string]int, error) {
	spans, err := split(paths, cfg.workers*cfg.perWork)
	if err != nil {
		return nil, err
	}
	next := make(chan span, len(spans))
	for _, s := range spans {
		next <- s
	}
	close(next)

	counters := make([]*counter, cfg.workers)
	errs := make([]error, cfg.workers)
	var wg sync.WaitGroup
	for w := range counters {
		c := newCounter()
		counters[w] = c
		wg.Go(func() {
			if cfg.lockThreads {
				cgpin.Pin()
			}
			buf := make([]byte, cfg.bufSize)
			for s := range next {
				var err error
				if buf, err = countSpan(s, buf, c); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return merge(counters), nil
}

// merge adds up the counters into one map, reusing the largest one's.
func merge(cs []*counter) map[string]int {
	big := 0
	for i, c := range cs {
		if len(c.index) > len(cs[big].index) {
			big = i
		}
	}
	m := cs[big].index
	for w, i := range m {
		m[w] = cs[big].counts[i]
	}
	for j, c := range cs {
		if j == big {
			continue
		}
		for w, i := range c.index {
			m[w] += c.counts[i]
		}
	}
	return m
}

// countSpan reads one span through buf, growing it for words longer than
// it, and returns the buffer.
func countSpan(s span, buf []byte, c *counter) ([]byte, error) {
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
		n += carry
		rest := tokenize(buf[:n], eof, c)
		if eof {
			return buf, nil
		}
		carry = copy(buf, buf[rest:n])
	}
}

// space (read-only) classifies bytes: 0 for a byte of a word, 1 for ASCII white space,
// 2 for the first byte of a UTF-8 sequence (or an invalid byte), which the
// slow path decodes.
var space = func() (t [256]uint8) {
	for _, c := range []byte("\t\n\v\f\r ") {
		t[c] = 1
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = 2
	}
	return t
}()

// tokenize counts the words of b that are whitespace-delimited by
// unicode.IsSpace, with invalid UTF-8 decoded as U+FFFD (not a space), as in
// strings.Fields. Unless eof, a word that reaches the end of b may continue in
// the next read: tokenize leaves it and returns where it starts. A rune cut
// off by the end of b decodes as U+FFFD, not a space, so it is part of such
// a word and is decoded again whole.
func tokenize(b []byte, eof bool, c *counter) int {
	i, n := 0, len(b)
	for {
		// Skip white space.
		for i < n {
			k := space[b[i]]
			if k == 0 {
				break
			}
			if k == 1 {
				i++
				continue
			}
			r, w := utf8.DecodeRune(b[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += w
		}
		if i == n {
			return n
		}
		// Scan a word.
		start := i
		for i < n {
			k := space[b[i]]
			if k == 0 {
				i++
				continue
			}
			if k == 1 {
				break
			}
			r, w := utf8.DecodeRune(b[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += w
		}
		if i == n && !eof {
			return start
		}
		c.add(b[start:i])
	}
}
