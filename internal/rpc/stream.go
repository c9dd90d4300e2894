package rpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Stream sends req to the stream handler registered under method on the
// Server at addr and returns the response body, which the caller must
// Close. A nil req is sent as the zero request. Errors before the body are
// those of Call. Reading the body
// returns io.EOF only when the handler finished cleanly; a stream the
// server aborted, a connection that dropped, or a gap of StreamIdleTimeout
// without a byte fails the read with an error wrapping ErrUnavailable.
// Cancelling ctx fails the read too. The body's length is not bounded.
func (c *Client) Stream(ctx context.Context, addr, method string, req any) (io.ReadCloser, error) {
	return c.StreamIdle(ctx, addr, method, req, c.cfg.StreamIdleTimeout)
}

// StreamIdle is Stream with an idle timeout of its own instead of
// StreamIdleTimeout (which a zero or negative idle means).
func (c *Client) StreamIdle(ctx context.Context, addr, method string, req any, idle time.Duration) (io.ReadCloser, error) {
	if idle <= 0 {
		idle = c.cfg.StreamIdleTimeout
	}
	body, err := msgpack.Marshal(req)
	if err != nil {
		return nil, &callError{method: method, addr: addr, msg: "cannot encode the request: " + err.Error(), cause: err}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	// The response is the stream's first delivery: a server that sends
	// nothing for idle is stalled, whatever the caller's deadline.
	msg := fmt.Sprintf("the stream delivered nothing for StreamIdleTimeout (%v)", idle)
	wait := idle
	if _, ok := ctx.Deadline(); !ok && c.cfg.CallTimeout < idle {
		wait, msg = c.cfg.CallTimeout, fmt.Sprintf("no response within CallTimeout (%v)", c.cfg.CallTimeout)
	}
	headers := time.AfterFunc(wait, func() { cancel(&timeoutError{msg}) })
	resp, err := c.post(sctx, addr, streamPrefix, method, bytes.NewReader(body), int64(len(body)))
	headers.Stop()
	if err != nil {
		cancel(nil)
		return nil, err
	}
	sb := &streamBody{c: c, ctx: sctx, cancel: cancel, method: method, addr: addr, body: resp.Body, timeout: idle, armed: time.Now()}
	sb.idle = time.AfterFunc(idle, func() {
		cancel(&timeoutError{fmt.Sprintf("the stream delivered nothing for StreamIdleTimeout (%v)", idle)})
	})
	return sb, nil
}

// streamBody is the reader Stream returns: it keeps the idle timer pushed
// out while bytes arrive and classifies read errors.
type streamBody struct {
	c            *Client
	ctx          context.Context
	cancel       context.CancelCauseFunc
	method, addr string
	body         io.ReadCloser
	idle         *time.Timer
	timeout      time.Duration
	armed        time.Time // when idle was last reset
	err          error     // sticky: the first error Read returned
	closeOnce    sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.body.Read(p)
	if n > 0 {
		// Resetting the timer costs a little, so a run of small reads
		// does it once per eighth of the timeout.
		if now := time.Now(); now.Sub(b.armed) > b.timeout/8 {
			b.idle.Reset(b.timeout)
			b.armed = now
		}
	}
	switch {
	case err == io.EOF:
		b.idle.Stop()
		b.err = io.EOF
	case err != nil:
		b.err = b.c.failure(b.ctx, b.method, b.addr, err)
	}
	return n, b.err
}

// Close releases the connection; before EOF it drops it.
func (b *streamBody) Close() error {
	b.closeOnce.Do(func() {
		b.idle.Stop()
		b.body.Close()
		b.cancel(nil)
	})
	return nil
}
