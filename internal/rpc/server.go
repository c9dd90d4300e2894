package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/vmihailenco/msgpack/v5"
)

// ServerConfig configures a Server. A zero or negative field takes its
// value from DefaultServerConfig; a nil dependency is the production one.
type ServerConfig struct {
	// Secret is the cluster secret that keys every request's signature.
	// An empty secret is a valid key that every client knows: calls work,
	// but nothing is authenticated. Use it only in tests.
	Secret []byte
	// MaxBody bounds a request body; a larger one is refused with 413.
	MaxBody int64
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request's body.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of a response: a peer that takes no
	// bytes for this long is cut off. A handler may run longer.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long Serve lets in-flight calls finish once
	// its context is done, before it cancels them and closes their
	// connections.
	ShutdownTimeout time.Duration
	// Now is the clock that request timestamps are checked against; nil
	// means time.Now. Deadlines always use the real clock.
	Now func() time.Time
	// Logger receives warnings (rejected signatures, panics); nil
	// discards them.
	Logger *slog.Logger
}

// DefaultServerConfig returns the production defaults. Secret is empty and
// must be set for a cluster.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		MaxBody:           64 << 20,         // 64 MiB: a task with its encoded arguments fits
		ReadHeaderTimeout: 10 * time.Second, // headers are a few hundred bytes
		ReadTimeout:       time.Minute,      // a full 64 MiB body at 1 MB/s
		WriteTimeout:      time.Minute,      // a reader that takes nothing for a minute is gone
		IdleTimeout:       2 * time.Minute,  // above the client's 30 s, so the client closes first
		ShutdownTimeout:   10 * time.Second, // in-flight calls and streams get this long to finish
	}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	if c.MaxBody <= 0 {
		c.MaxBody = d.MaxBody
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Secret = append([]byte(nil), c.Secret...)
	return c
}

// Server dispatches signed requests to the handlers registered with Handle
// and HandleStream. It is an http.Handler; Serve runs it on a listener.
// Register every handler before serving.
type Server struct {
	cfg  ServerConfig
	log  *slog.Logger
	auth *signer
	bufs sync.Pool // *bufio.Writer of streamBuffer bytes, for streams

	mu     sync.RWMutex
	routes map[string]route // by URL path: rpcPrefix or streamPrefix + method
}

// route is one registered handler, run once the request is authenticated.
type route func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte)

// NewServer returns a Server with no handlers.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, log: cfg.Logger, auth: newSigner(cfg.Secret), routes: make(map[string]route)}
}

// Handle registers h for POST /rpc/<method>: the request and response are
// msgpack bodies. An error h returns reaches the caller as a *RemoteError
// whose Code is that of a RemoteError in the error's chain (see Errorf),
// and a panic in h as one with CodeInternal. A nil response is sent as the
// zero Resp. Handle panics if method is malformed or already registered.
func Handle[Req, Resp any](s *Server, method string, h func(ctx context.Context, req *Req) (*Resp, error)) {
	reqCodec, respCodec := codec.For[Req](), codec.For[Resp]()
	s.register(rpcPrefix, method, func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte) {
		req, err := decodeRequest(reqCodec, body)
		if err != nil {
			s.fail(w, rc, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("malformed request body for %s: %v", method, err))
			return
		}
		var resp *Resp
		err = s.protect(method, func() (err error) {
			resp, err = h(ctx, &req)
			return err
		})
		if err != nil {
			s.handlerError(w, rc, method, err)
			return
		}
		if resp == nil {
			resp = new(Resp)
		}
		out, err := encode(respCodec, *resp)
		if err != nil {
			s.log.Error("rpc: cannot encode a response", "method", method, "err", err)
			s.fail(w, rc, http.StatusInternalServerError, CodeInternal, fmt.Sprintf("cannot encode the response of %s: %v", method, err))
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentMsgpack)
		h.Set("Content-Length", strconv.Itoa(len(out)))
		s.armWrite(rc)
		w.WriteHeader(http.StatusOK)
		w.Write(out) // a failure here is the caller's to see
	})
}

// HandleStream registers h for POST /stream/<method>: a msgpack request and
// a raw byte stream in response, for shuffle fetch. An error h returns
// before it writes its first byte reaches the caller as a *RemoteError, as
// with Handle; an error after it (or a failed write) aborts the response,
// so that the caller's read fails with ErrUnavailable instead of a short
// stream ending cleanly. The writer sends the first bytes at once and
// buffers the rest; it is an http.Flusher for a handler that pauses
// mid-stream (a pause longer than the caller's StreamIdleTimeout fails its
// read), and must not be used after h returns. HandleStream panics if
// method is malformed or already registered.
func HandleStream[Req any](s *Server, method string, h func(ctx context.Context, req *Req, w io.Writer) error) {
	reqCodec := codec.For[Req]()
	s.register(streamPrefix, method, func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte) {
		req, err := decodeRequest(reqCodec, body)
		if err != nil {
			s.fail(w, rc, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("malformed request body for %s: %v", method, err))
			return
		}
		sw := &streamWriter{s: s, w: w, rc: rc}
		err = s.protect(method, func() error { return h(ctx, &req, sw) })
		sw.finish(err == nil)
		if !sw.started {
			if err != nil {
				s.handlerError(w, rc, method, err)
				return
			}
			sw.start() // an empty stream
			return
		}
		if err == nil {
			err = sw.err
		}
		if err != nil {
			s.log.Debug("rpc: stream aborted", "method", method, "bytes", sw.n, "err", err)
			// Dropping the connection without the final chunk is the
			// only way HTTP/1.1 can tell the reader the stream is short.
			panic(http.ErrAbortHandler)
		}
	})
}

// decodeRequest decodes a request body. A msgpack nil, which Stream sends
// for a nil req, is the zero request.
func decodeRequest[Req any](c codec.Codec[Req], body []byte) (Req, error) {
	if len(body) == 1 && body[0] == 0xc0 {
		var zero Req
		return zero, nil
	}
	return c.Decode(body)
}

func (s *Server) register(prefix, method string, serve route) {
	if err := checkMethod(method); err != nil {
		panic("rpc: register: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.routes[prefix+method]; dup {
		panic("rpc: register: " + prefix + method + " is already registered")
	}
	s.routes[prefix+method] = serve
}

// ServeHTTP checks the request's signature and runs its handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A deadline left by an earlier response on this keep-alive connection
	// must not cut this one; each write below sets its own.
	rc.SetWriteDeadline(time.Time{})
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, rc, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	path := r.URL.Path
	a, err := parseAuth(r.Header.Get(authHeader))
	if err == nil {
		err = s.auth.check(a, path, s.cfg.Now())
	}
	if err != nil {
		s.unauthorized(w, rc, r, err)
		return
	}
	s.mu.RLock()
	serve := s.routes[path]
	s.mu.RUnlock()
	if serve == nil {
		s.fail(w, rc, http.StatusNotFound, CodeUnknownMethod, fmt.Sprintf("no handler for %s on this server (a different version of sluice?)", path))
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.tooLarge(w, rc, path, r.ContentLength)
		return
	}
	rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	body, err := readBody(r.Body, r.ContentLength, s.cfg.MaxBody)
	// No deadline while the handler runs: net/http's background read for
	// a closed connection would hit it and cancel the handler's context.
	rc.SetReadDeadline(time.Time{})
	if errors.Is(err, ErrTooLarge) {
		s.tooLarge(w, rc, path, -1)
		return
	}
	if err != nil {
		s.log.Debug("rpc: cannot read a request body", "path", path, "remote", r.RemoteAddr, "err", err)
		s.fail(w, rc, http.StatusBadRequest, CodeBadRequest, "cannot read the request body: "+err.Error())
		return
	}
	if err := a.checkBody(body); err != nil {
		s.unauthorized(w, rc, r, err)
		return
	}
	serve(r.Context(), w, rc, body)
}

func (s *Server) unauthorized(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, err error) {
	s.log.Warn("rpc: rejected a request", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	s.fail(w, rc, http.StatusUnauthorized, "unauthorized", err.Error())
}

func (s *Server) tooLarge(w http.ResponseWriter, rc *http.ResponseController, path string, n int64) {
	msg := "request body exceeds the server's MaxBody of " + units.FormatBytes(s.cfg.MaxBody)
	if n >= 0 {
		msg = fmt.Sprintf("request body of %d bytes exceeds the server's MaxBody of %s", n, units.FormatBytes(s.cfg.MaxBody))
	}
	s.log.Warn("rpc: refused a request body", "path", path, "err", msg)
	s.fail(w, rc, http.StatusRequestEntityTooLarge, "too_large", msg)
}

// handlerError sends the error a handler returned.
func (s *Server) handlerError(w http.ResponseWriter, rc *http.ResponseController, method string, err error) {
	var code string
	if re, ok := errors.AsType[*RemoteError](err); ok {
		code = re.Code
	}
	s.log.Debug("rpc: handler failed", "method", method, "code", code, "err", err)
	s.fail(w, rc, http.StatusInternalServerError, code, err.Error())
}

// fail writes an error response: status, errorHeader and an errorBody.
func (s *Server) fail(w http.ResponseWriter, rc *http.ResponseController, status int, code, msg string) {
	b, err := msgpack.Marshal(&errorBody{Code: code, Message: msg})
	if err != nil { // two strings always encode
		panic(err)
	}
	h := w.Header()
	h.Set(errorHeader, "1")
	h.Set("Content-Type", contentMsgpack)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	s.armWrite(rc)
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) armWrite(rc *http.ResponseController) {
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
}

// protect runs a handler, turning its panic into an error.
func (s *Server) protect(method string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("rpc: handler panicked", "method", method, "panic", p, "stack", string(debug.Stack()))
			err = &RemoteError{Code: CodeInternal, Message: fmt.Sprintf("handler for %s panicked: %v", method, p)}
		}
	}()
	return f()
}

// streamBuffer is the size of a stream's write buffer: large writes
// amortise HTTP chunk framing and the syscalls it splits writes into.
const streamBuffer = 256 << 10

// streamWriter is the io.Writer a stream handler writes to. The status
// line and the first bytes go out at once, so that the caller's Stream
// returns as soon as the handler has begun (and an error before that can
// still become an error response); later bytes are buffered.
type streamWriter struct {
	s       *Server
	w       http.ResponseWriter
	rc      *http.ResponseController
	bw      *bufio.Writer // from s.bufs after the first write, over (*streamOut)(sw)
	started bool
	armed   time.Time // when the write deadline was last pushed out
	n       int64     // bytes taken from the handler
	err     error     // the first write error
}

// streamOut is the streamWriter seen by its buffer: writes to the
// connection, under a write deadline.
type streamOut streamWriter

func (o *streamOut) Write(p []byte) (int, error) {
	sw := (*streamWriter)(o)
	// Pushing the deadline out costs a little, so a run of small writes
	// does it once per eighth of the timeout.
	timeout := sw.s.cfg.WriteTimeout
	if now := time.Now(); now.Sub(sw.armed) > timeout/8 {
		sw.rc.SetWriteDeadline(now.Add(timeout))
		sw.armed = now
	}
	return sw.w.Write(p)
}

func (sw *streamWriter) start() {
	sw.started = true
	sw.w.Header().Set("Content-Type", contentStream)
	sw.w.WriteHeader(http.StatusOK)
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if !sw.started {
		sw.start()
		n, err = (*streamOut)(sw).Write(p)
		if err == nil {
			err = sw.rc.Flush()
		}
	} else {
		if sw.bw == nil {
			sw.bw = sw.s.streamBuf((*streamOut)(sw))
		}
		n, err = sw.bw.Write(p)
	}
	sw.n += int64(n)
	if err != nil {
		sw.err = fmt.Errorf("rpc: stream write after %d bytes: %w", sw.n, err)
	}
	return n, sw.err
}

// Flush sends what the handler has written so far. It makes streamWriter
// an http.Flusher.
func (sw *streamWriter) Flush() {
	if sw.err != nil {
		return
	}
	if !sw.started {
		sw.start()
	}
	var err error
	if sw.bw != nil {
		err = sw.bw.Flush()
	}
	if err == nil {
		err = sw.rc.Flush()
	}
	if err != nil {
		sw.err = fmt.Errorf("rpc: stream flush after %d bytes: %w", sw.n, err)
	}
}

// finish ends the stream: it flushes the buffer if ok and returns it to
// the pool. The handler must not write after it returned.
func (sw *streamWriter) finish(ok bool) {
	if sw.bw == nil {
		return
	}
	if ok && sw.err == nil {
		if err := sw.bw.Flush(); err != nil {
			sw.err = fmt.Errorf("rpc: stream write after %d bytes: %w", sw.n, err)
		}
	}
	sw.bw.Reset(nil)
	sw.s.bufs.Put(sw.bw)
	sw.bw = nil
}

// streamBuf returns a pooled stream buffer writing to w.
func (s *Server) streamBuf(w io.Writer) *bufio.Writer {
	if bw, ok := s.bufs.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, streamBuffer)
}
