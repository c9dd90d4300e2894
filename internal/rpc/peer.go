package rpc

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// peerHost returns the host of a remote address: limits and logs count a
// peer by host, not by connection.
func peerHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// peerCounter counts what each peer has open (requests, connections)
// against a limit.
type peerCounter struct {
	limit int
	mu    sync.Mutex
	n     map[string]int
}

func newPeerCounter(limit int) *peerCounter {
	return &peerCounter{limit: limit, n: make(map[string]int)}
}

func (c *peerCounter) enter(peer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[peer] >= c.limit {
		return false
	}
	c.n[peer]++
	return true
}

func (c *peerCounter) exit(peer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[peer]--; c.n[peer] <= 0 {
		delete(c.n, peer)
	}
}

// limitListener closes connections beyond MaxPeerConns from one host as
// they are accepted, before any byte is read from them.
type limitListener struct {
	net.Listener
	conns *peerCounter
	max   int64        // connections from all peers
	open  atomic.Int64 // connections open now
	log   func(peer string)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := peerHost(c.RemoteAddr().String())
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			c.Close()
			l.log("all peers")
			continue
		}
		if !l.conns.enter(peer) {
			l.open.Add(-1)
			c.Close()
			l.log(peer)
			continue
		}
		return &countedConn{Conn: c, release: func() { l.conns.exit(peer); l.open.Add(-1) }}, nil
	}
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// deadlineReader reads a request body with a read deadline that moves
// with progress: a peer that sends nothing for timeout is cut off, a large
// body that keeps coming is not.
type deadlineReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	armed   time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	// Pushing the deadline out costs a little, so a run of small reads
	// does it once per eighth of the timeout.
	if now := time.Now(); now.Sub(d.armed) > d.timeout/8 {
		d.rc.SetReadDeadline(now.Add(d.timeout))
		d.armed = now
	}
	return d.r.Read(p)
}

// limitedBody fails with ErrTooLarge once a body passes its limit, instead
// of ending it quietly as io.LimitReader would.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, ErrTooLarge
	}
	return n, err
}
