package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/logonce"
	"github.com/sluicehq/sluice/internal/units"
	"github.com/vmihailenco/msgpack/v5"
)

// ServerConfig configures a Server. A zero or negative field takes its
// value from DefaultServerConfig; a nil dependency is the production one.
type ServerConfig struct {
	// TLS, when set, is the server side of mutual TLS (trust.Creds'
	// ServerTLS): a peer without a certificate from the cluster's CA is
	// refused in the handshake, before it can send a byte of a request.
	// Nil serves plain HTTP to anyone: only for --insecure.
	TLS *tls.Config
	// MaxBody bounds a request body on routes registered without their own
	// limit (see Limit); a larger one is refused with 413.
	MaxBody int64
	// MaxPeerConns bounds the open connections from one peer address,
	// authenticated or not; more are closed as they arrive.
	MaxPeerConns int
	// MaxConns bounds the open connections from all peers together, so
	// that many addresses cannot take every file descriptor.
	MaxConns int
	// MaxPeerRequests bounds the requests from one peer address that run at
	// once; more are refused with 503 (ErrUnavailable).
	MaxPeerRequests int
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
	// Logger receives warnings (refused peers, at most once per peer
	// address a minute; panics); nil discards them.
	Logger *slog.Logger
}

// DefaultServerConfig returns the production defaults. TLS is nil and
// must be set for a cluster.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		MaxBody:           1 << 20,          // 1 MiB: control messages; routes that carry more say so with Limit
		MaxPeerConns:      512,              // a reducer host opens one per concurrent fetch; far above a healthy peer's
		MaxConns:          4096,             // well under a default descriptor limit, far above a cluster's need
		MaxPeerRequests:   256,              // slots × concurrent fetches of one host, with room to spare
		ReadHeaderTimeout: 5 * time.Second,  // headers are a few hundred bytes; also bounds the TLS handshake, which a silent peer holds
		ReadTimeout:       time.Minute,      // the longest wait for the next bytes of a body
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
	if c.MaxPeerConns <= 0 {
		c.MaxPeerConns = d.MaxPeerConns
	}
	if c.MaxConns <= 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxPeerRequests <= 0 {
		c.MaxPeerRequests = d.MaxPeerRequests
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server dispatches requests to the handlers registered with Handle,
// HandleStream and HandleUpload. It is an http.Handler; Serve runs it on a
// listener, behind mutual TLS when TLS is set. Register every handler
// before serving.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	bufs    sync.Pool // *bufio.Writer of streamBuffer bytes, for streams
	refused *logonce.Limiter
	peers   *peerCounter // requests running, by peer address

	mu     sync.RWMutex
	routes map[string]*route       // by URL path: rpcPrefix, streamPrefix or uploadPrefix + method
	gets   map[string]http.Handler // HandleGet's, by URL path
}

// HandleGet serves GET requests for path with h, once authenticated like
// every route: for what plain HTTP tools read, such as /metrics. A path
// ending in "/" serves every path under it.
func (s *Server) HandleGet(path string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gets == nil {
		s.gets = map[string]http.Handler{}
	}
	s.gets[path] = h
}

// route is one registered handler, run once the request is authenticated:
// with the whole body (limit bytes at most), or, for an upload, with the
// request's header and a reader of the rest.
type route struct {
	limit  int64
	serve  func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte)
	upload func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body io.Reader)
}

// RouteOption changes how one route is served.
type RouteOption func(*route)

// Limit bounds the body of a route's requests to n bytes, instead of
// ServerConfig.MaxBody.
func Limit(n int64) RouteOption { return func(r *route) { r.limit = n } }

// NewServer returns a Server with no handlers.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, log: cfg.Logger, routes: make(map[string]*route),
		refused: logonce.New(time.Minute), peers: newPeerCounter(cfg.MaxPeerRequests)}
}

// Handle registers h for POST /rpc/<method>: the request and response are
// msgpack bodies. An error h returns reaches the caller as a *RemoteError
// whose Code is that of a RemoteError in the error's chain (see Errorf),
// and a panic in h as one with CodeInternal. A nil response is sent as the
// zero Resp. Handle panics if method is malformed or already registered.
func Handle[Req, Resp any](s *Server, method string, h func(ctx context.Context, req *Req) (*Resp, error), opts ...RouteOption) {
	reqCodec, respCodec := codec.For[Req](), codec.For[Resp]()
	s.register(rpcPrefix, method, opts, func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte) {
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
		respond(s, w, rc, method, respCodec, resp)
	})
}

// respond sends a handler's msgpack response; a nil one as the zero Resp.
func respond[Resp any](s *Server, w http.ResponseWriter, rc *http.ResponseController, method string, c codec.Codec[Resp], resp *Resp) {
	if resp == nil {
		resp = new(Resp)
	}
	out, err := encode(c, *resp)
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
func HandleStream[Req any](s *Server, method string, h func(ctx context.Context, req *Req, w io.Writer) error, opts ...RouteOption) {
	reqCodec := codec.For[Req]()
	s.register(streamPrefix, method, opts, func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body []byte) {
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

func (s *Server) register(prefix, method string, opts []RouteOption, serve func(context.Context, http.ResponseWriter, *http.ResponseController, []byte)) {
	s.add(prefix, method, opts, &route{serve: serve})
}

func (s *Server) add(prefix, method string, opts []RouteOption, r *route) {
	if err := checkMethod(method); err != nil {
		panic("rpc: register: " + err.Error())
	}
	r.limit = s.cfg.MaxBody
	for _, o := range opts {
		o(r)
	}
	if r.limit <= 0 {
		panic("rpc: register: " + prefix + method + ": Limit must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.routes[prefix+method]; dup {
		panic("rpc: register: " + prefix + method + " is already registered")
	}
	s.routes[prefix+method] = r
}

// ServeHTTP runs a request's handler. Behind TLS (Serve with
// ServerConfig.TLS) the peer was authenticated in the handshake; a request
// that did not come over TLS is then refused here too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A deadline left by an earlier response on this keep-alive connection
	// must not cut this one; each write below sets its own.
	rc.SetWriteDeadline(time.Time{})
	if s.cfg.TLS != nil && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
		s.refuse(r.RemoteAddr, errors.New("a request without TLS client authentication"))
		s.fail(w, rc, http.StatusUnauthorized, "unauthorized", "this server requires mutual TLS with the cluster's certificates")
		return
	}
	if r.Method == http.MethodGet {
		s.mu.RLock()
		h := s.gets[r.URL.Path]
		if h == nil {
			for p, ph := range s.gets {
				if strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) {
					h = ph
				}
			}
		}
		s.mu.RUnlock()
		if h != nil {
			peer := peerHost(r.RemoteAddr)
			if !s.peers.enter(peer) {
				s.fail(w, rc, http.StatusServiceUnavailable, "busy", fmt.Sprintf("more than %d concurrent requests from %s", s.cfg.MaxPeerRequests, peer))
				return
			}
			defer s.peers.exit(peer)
			h.ServeHTTP(w, r)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, rc, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	path := r.URL.Path
	s.mu.RLock()
	rt := s.routes[path]
	s.mu.RUnlock()
	if rt == nil {
		s.fail(w, rc, http.StatusNotFound, CodeUnknownMethod, fmt.Sprintf("no handler for %s on this server (a different version of sluice?)", truncate(path, 200)))
		return
	}
	peer := peerHost(r.RemoteAddr)
	if !s.peers.enter(peer) {
		s.log.Warn("rpc: too many concurrent requests from one peer", "remote", peer, "limit", s.cfg.MaxPeerRequests)
		s.fail(w, rc, http.StatusServiceUnavailable, "busy", fmt.Sprintf("more than %d concurrent requests from %s", s.cfg.MaxPeerRequests, peer))
		return
	}
	defer s.peers.exit(peer)
	if r.ContentLength > rt.limit {
		s.tooLarge(w, rc, path, r.ContentLength, rt.limit)
		return
	}
	body := &deadlineReader{r: r.Body, rc: rc, timeout: s.cfg.ReadTimeout}
	if rt.upload != nil {
		rt.upload(r.Context(), w, rc, &limitedBody{r: body, left: rt.limit})
		rc.SetReadDeadline(time.Time{})
		return
	}
	b, err := readBody(body, r.ContentLength, rt.limit)
	// No deadline while the handler runs: net/http's background read for
	// a closed connection would hit it and cancel the handler's context.
	rc.SetReadDeadline(time.Time{})
	if errors.Is(err, ErrTooLarge) {
		s.tooLarge(w, rc, path, -1, rt.limit)
		return
	}
	if err != nil {
		s.log.Debug("rpc: cannot read a request body", "path", path, "remote", r.RemoteAddr, "err", err)
		s.fail(w, rc, http.StatusBadRequest, CodeBadRequest, "cannot read the request body: "+err.Error())
		return
	}
	rt.serve(r.Context(), w, rc, b)
}

// refuse logs a peer that failed authentication, at most once per peer
// address per minute.
func (s *Server) refuse(remote string, err error) {
	if host := peerHost(remote); s.refused.Allow(host) {
		s.log.Warn("rpc: refused a peer without the cluster's credentials (further refusals of it are not logged for a minute)", "remote", host, "err", err)
	}
}

func (s *Server) tooLarge(w http.ResponseWriter, rc *http.ResponseController, path string, n, limit int64) {
	msg := fmt.Sprintf("request body exceeds the %s limit of %s", path, units.FormatBytes(limit))
	if n >= 0 {
		msg = fmt.Sprintf("request body of %d bytes exceeds the %s limit of %s", n, path, units.FormatBytes(limit))
	}
	s.log.Warn("rpc: refused a request body", "path", path, "err", msg)
	s.fail(w, rc, http.StatusRequestEntityTooLarge, "too_large", msg)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
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
