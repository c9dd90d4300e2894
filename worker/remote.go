package worker

import (
	"fmt"
	"io"

	"github.com/sluicehq/sluice/internal/block"
)

// streamBlocks reads the blocks of a fetched partition. It counts the bytes
// and checks them against the size the map task reported, so a stream cut
// short is an error, never a silently smaller partition.
type streamBlocks struct {
	rc   io.ReadCloser
	cr   countingReader
	br   *block.Reader
	size int64
	what string
}

func newStreamBlocks(rc io.ReadCloser, size int64, what string) *streamBlocks {
	s := &streamBlocks{rc: rc, size: size, what: what}
	s.cr.r = rc
	s.br = block.NewReader(&s.cr)
	return s
}

func (s *streamBlocks) Next() ([]byte, error) {
	b, err := s.br.Next()
	if err == io.EOF && s.size >= 0 && s.cr.n != s.size {
		return nil, fmt.Errorf("worker: %s: got %d bytes, want %d", s.what, s.cr.n, s.size)
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("worker: %s: %w", s.what, err)
	}
	return b, err
}

func (s *streamBlocks) Close() error { return s.rc.Close() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
