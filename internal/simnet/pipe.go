package simnet

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// streamBuffer is how many bytes one direction of a stream holds before the
// writer blocks: enough for a memberlist push/pull of a few hundred nodes, and
// bounded so that a stalled reader cannot make a writer grow memory forever.
const streamBuffer = 256 << 10

// half is one direction of a stream: the bytes written by one end and not yet
// read by the other.
type half struct {
	mu         sync.Mutex
	buf        []byte
	eof        bool          // the writer closed: the reader sees io.EOF once buf is drained
	readerGone bool          // the reader closed: further writes fail
	err        error         // the stream was broken by a fault: both ends fail at once
	changed    chan struct{} // closed and replaced on every change, so any number of waiters wake
}

func newHalf() *half { return &half{changed: make(chan struct{})} }

// signalLocked wakes every goroutine waiting on h.
func (h *half) signalLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *half) breakWith(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
		h.signalLocked()
	}
	h.mu.Unlock()
}

// deadline is a settable deadline whose channel is closed once it passes, in
// the manner of net.Pipe's, so a blocked Read or Write can select on it.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() *deadline { return &deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its callback has closed cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// conn is one end of an in-memory stream. Unlike net.Pipe it is buffered, so
// a writer does not wait for the reader unless the buffer is full, and it can
// be broken by the network with an error that both ends see at once.
type conn struct {
	local, remote net.Addr
	rd, wr        *half
	readDL        *deadline
	writeDL       *deadline
	closeOnce     sync.Once
	done          chan struct{} // closed by Close
	onClose       func()
}

var _ net.Conn = (*conn)(nil)

// newConnPair returns the two ends of a stream between addresses a and b.
func newConnPair(a, b net.Addr) (*conn, *conn) {
	ab, ba := newHalf(), newHalf()
	ca := &conn{local: a, remote: b, rd: ba, wr: ab, readDL: newDeadline(), writeDL: newDeadline(), done: make(chan struct{})}
	cb := &conn{local: b, remote: a, rd: ab, wr: ba, readDL: newDeadline(), writeDL: newDeadline(), done: make(chan struct{})}
	return ca, cb
}

// breakWith fails both directions of the stream with err.
func (c *conn) breakWith(err error) {
	c.rd.breakWith(err)
	c.wr.breakWith(err)
}

func (c *conn) Read(p []byte) (int, error) {
	h := c.rd
	for {
		if isClosed(c.done) {
			return 0, net.ErrClosed
		}
		dl := c.readDL.wait()
		if isClosed(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		if h.err != nil {
			err := h.err
			h.mu.Unlock()
			return 0, err
		}
		if len(h.buf) > 0 {
			n := copy(p, h.buf)
			h.buf = h.buf[n:]
			if len(h.buf) == 0 {
				h.buf = nil // let the backing array go
			}
			h.signalLocked()
			h.mu.Unlock()
			return n, nil
		}
		if h.eof {
			h.mu.Unlock()
			return 0, io.EOF
		}
		if len(p) == 0 {
			h.mu.Unlock()
			return 0, nil
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-dl:
		case <-c.done:
		}
	}
}

func (c *conn) Write(p []byte) (int, error) {
	h := c.wr
	written := 0
	for {
		if isClosed(c.done) {
			return written, net.ErrClosed
		}
		dl := c.writeDL.wait()
		if isClosed(dl) {
			return written, os.ErrDeadlineExceeded
		}
		h.mu.Lock()
		switch {
		case h.err != nil:
			err := h.err
			h.mu.Unlock()
			return written, err
		case h.readerGone:
			h.mu.Unlock()
			return written, io.ErrClosedPipe
		}
		if room := streamBuffer - len(h.buf); room > 0 {
			n := min(room, len(p)-written)
			h.buf = append(h.buf, p[written:written+n]...)
			written += n
			h.signalLocked()
		}
		if written == len(p) {
			h.mu.Unlock()
			return written, nil
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-dl:
		case <-c.done:
		}
	}
}

// Close ends this side: the peer reads what was written, then io.EOF, and its
// writes fail.
func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.done)
		c.wr.mu.Lock()
		c.wr.eof = true
		c.wr.signalLocked()
		c.wr.mu.Unlock()
		c.rd.mu.Lock()
		c.rd.readerGone = true
		c.rd.buf = nil
		c.rd.signalLocked()
		c.rd.mu.Unlock()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.writeDL.set(t)
	return nil
}
