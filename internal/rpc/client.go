package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/trust"
	"github.com/sluicehq/sluice/internal/units"
)

// ClientConfig configures a Client. A zero or negative field takes its
// value from DefaultClientConfig; a nil dependency is the production one.
type ClientConfig struct {
	// TLS, when set, is the client side of mutual TLS (trust.Creds'
	// ClientTLS); nil speaks plain HTTP, only for --insecure.
	TLS *tls.Config
	// DialTimeout bounds opening a connection.
	DialTimeout time.Duration
	// CallTimeout bounds a call whose context has no deadline, from the
	// request to the last byte of the response; for a stream, to the
	// response's headers.
	CallTimeout time.Duration
	// StreamIdleTimeout fails a stream that delivers no byte for this
	// long, with or without a deadline on its context.
	StreamIdleTimeout time.Duration
	// MaxBody bounds the msgpack request and response bodies of a Call.
	// Streams are not bounded: their reader knows the length it expects.
	MaxBody int64
	// MaxIdleConnsPerHost bounds the idle connections kept per peer.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes an idle connection after this long.
	IdleConnTimeout time.Duration
	// Dial opens connections; nil means a net.Dialer. A replacement
	// (an in-memory network) must return an error wrapping
	// syscall.ECONNREFUSED when nothing listens, for ErrRefused to work.
	// DialTimeout applies to it through its context.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives debug records of failed calls; nil discards them.
	Logger *slog.Logger
}

// DefaultClientConfig returns the production defaults. TLS is nil and must
// be set for a cluster.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		DialTimeout:         3 * time.Second,  // a live peer answers a SYN in milliseconds
		CallTimeout:         time.Minute,      // RPCs are control messages; long work is asynchronous
		StreamIdleTimeout:   time.Minute,      // a shuffle server stalled this long is as good as gone
		MaxBody:             64 << 20,         // 64 MiB, as the server's
		MaxIdleConnsPerHost: 16,               // enough for a reducer's concurrent fetches from one worker
		IdleConnTimeout:     30 * time.Second, // below the server's 2 min, so the client closes first
	}
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig()
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.StreamIdleTimeout <= 0 {
		c.StreamIdleTimeout = d.StreamIdleTimeout
	}
	if c.MaxBody <= 0 {
		c.MaxBody = d.MaxBody
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = d.MaxIdleConnsPerHost
	}
	if c.IdleConnTimeout <= 0 {
		c.IdleConnTimeout = d.IdleConnTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client calls Servers. It keeps a bounded pool of idle connections per
// peer and is safe for concurrent use.
type Client struct {
	cfg      ClientConfig
	log      *slog.Logger
	scheme   string // "https://", or "http://" without TLS
	tr       *http.Transport
	errCodec codec.Codec[errorBody]
	codecs   sync.Map // reflect.Type -> codec.Codec[T], built once per type
}

// NewClient returns a Client; Close releases its idle connections.
func NewClient(cfg ClientConfig) *Client {
	cfg = cfg.withDefaults()
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	timeout := cfg.DialTimeout
	tr := &http.Transport{
		Proxy: nil, // peers are addressed directly, whatever the environment says
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return dial(ctx, network, addr)
		},
		MaxIdleConns:        64 * cfg.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:     cfg.IdleConnTimeout,
		DisableCompression:  true, // bodies are msgpack or compressed blocks
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     64 << 10,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: cfg.DialTimeout,
		// HTTP/1.1 only: an aborted stream must drop its connection, which
		// is how the reader learns it was cut short.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	return &Client{cfg: cfg, log: cfg.Logger, scheme: scheme, tr: tr, errCodec: codec.For[errorBody]()}
}

// Close closes the idle connections. Calls in flight are not interrupted,
// and a call after Close opens new connections.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
}

// Call sends req to the handler registered under method on the Server at
// addr (host:port) and returns its response. A nil req is sent as the zero
// Req. A failure names the method and address and wraps ErrRefused,
// ErrUnavailable, ErrUnauthorized or ErrTooLarge where one applies; an
// error the handler returned is a *RemoteError.
func Call[Req, Resp any](ctx context.Context, c *Client, addr, method string, req *Req) (*Resp, error) {
	if req == nil {
		req = new(Req)
	}
	body, err := encode(codecOf[Req](c), *req)
	if err != nil {
		return nil, &callError{method: method, addr: addr, msg: "cannot encode the request: " + err.Error()}
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.post(ctx, addr, rpcPrefix, method, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, err
	}
	return readResponse[Resp](ctx, c, method, addr, resp)
}

// readResponse reads and decodes the msgpack body of a 200 response.
func readResponse[Resp any](ctx context.Context, c *Client, method, addr string, resp *http.Response) (*Resp, error) {
	defer resp.Body.Close()
	if resp.ContentLength > c.cfg.MaxBody {
		return nil, c.responseTooLarge(method, addr, resp.ContentLength)
	}
	b, err := readBody(resp.Body, resp.ContentLength, c.cfg.MaxBody)
	if errors.Is(err, ErrTooLarge) {
		return nil, c.responseTooLarge(method, addr, -1)
	}
	if err != nil {
		return nil, c.failure(ctx, method, addr, err)
	}
	out, err := codecOf[Resp](c).Decode(b)
	if err != nil {
		return nil, &callError{method: method, addr: addr, msg: "malformed response body: " + err.Error(), cause: err}
	}
	return &out, nil
}

// codecOf returns c's codec for T, building it on first use.
func codecOf[T any](c *Client) codec.Codec[T] {
	t := reflect.TypeFor[T]()
	if v, ok := c.codecs.Load(t); ok {
		return v.(codec.Codec[T])
	}
	v, _ := c.codecs.LoadOrStore(t, codec.For[T]())
	return v.(codec.Codec[T])
}

// timeoutError is the cause of a context that a Client's own timeout ended;
// it is a context.DeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// callContext applies CallTimeout to a context without a deadline.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.cfg.CallTimeout, &timeoutError{fmt.Sprintf("no response within CallTimeout (%v)", c.cfg.CallTimeout)})
}

// post sends a request of size bytes and returns a 200 response; any other
// status becomes an error. The body of a msgpack call is bounded by
// MaxBody; an upload's is the server's to bound.
func (c *Client) post(ctx context.Context, addr, prefix, method string, body io.Reader, size int64) (*http.Response, error) {
	if err := checkMethod(method); err != nil {
		return nil, &callError{method: method, addr: addr, msg: err.Error()}
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &callError{method: method, addr: addr, msg: "bad address (want host:port): " + err.Error(), cause: err}
	}
	if prefix != uploadPrefix && size > c.cfg.MaxBody {
		return nil, &callError{method: method, addr: addr, kind: ErrTooLarge,
			msg: fmt.Sprintf("request body of %d bytes exceeds the client's MaxBody of %s", size, units.FormatBytes(c.cfg.MaxBody))}
	}
	path := prefix + method
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.scheme+addr+path, body)
	if err != nil {
		return nil, &callError{method: method, addr: addr, msg: "bad address: " + err.Error(), cause: err}
	}
	hreq.ContentLength = size
	hreq.Header.Set("Content-Type", contentMsgpack)
	resp, err := c.tr.RoundTrip(hreq)
	if err != nil {
		return nil, c.failure(ctx, method, addr, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.statusError(ctx, method, addr, resp)
}

// statusError turns a non-200 response into the caller's error.
func (c *Client) statusError(ctx context.Context, method, addr string, resp *http.Response) error {
	status := fmt.Sprintf("HTTP %s", resp.Status)
	if resp.Header.Get(errorHeader) == "" {
		// Not written by a Sluice server: a proxy, or something else
		// listening at the address.
		if resp.StatusCode >= 500 {
			return &callError{method: method, addr: addr, kind: ErrUnavailable, msg: "unavailable: " + status}
		}
		if resp.StatusCode == http.StatusBadRequest && c.cfg.TLS == nil {
			// net/http's answer to plain HTTP on a TLS port.
			return &callError{method: method, addr: addr, kind: ErrUnauthorized,
				msg: "unauthorized: the peer requires TLS with the cluster's credentials and this process has no cluster secret (give --secret-file)"}
		}
		return &callError{method: method, addr: addr, msg: status + " from a peer that is not a Sluice RPC server"}
	}
	b, err := readBody(resp.Body, resp.ContentLength, maxErrorBody)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		return c.failure(ctx, method, addr, err)
	}
	var eb errorBody
	if err == nil {
		eb, err = c.errCodec.Decode(b)
	}
	if err != nil {
		return &callError{method: method, addr: addr, msg: status + " with a malformed error body: " + err.Error(), cause: err}
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return &callError{method: method, addr: addr, kind: ErrUnauthorized, msg: "unauthorized: " + eb.Message}
	case http.StatusRequestEntityTooLarge:
		return &callError{method: method, addr: addr, kind: ErrTooLarge, msg: eb.Message}
	case http.StatusServiceUnavailable:
		return &callError{method: method, addr: addr, kind: ErrUnavailable, msg: "unavailable: " + eb.Message}
	}
	return &RemoteError{Method: method, Addr: addr, Code: eb.Code, Message: eb.Message}
}

func (c *Client) responseTooLarge(method, addr string, n int64) error {
	msg := "response body exceeds the client's MaxBody of " + units.FormatBytes(c.cfg.MaxBody)
	if n >= 0 {
		msg = fmt.Sprintf("response body of %d bytes exceeds the client's MaxBody of %s", n, units.FormatBytes(c.cfg.MaxBody))
	}
	return &callError{method: method, addr: addr, kind: ErrTooLarge, msg: msg}
}

// failure classifies a transport error: refused, cancelled by the caller,
// or unavailable (timeouts, resets, EOF).
func (c *Client) failure(ctx context.Context, method, addr string, err error) error {
	var e *callError
	var op *net.OpError
	var rec tls.RecordHeaderError
	var verr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		e = &callError{method: method, addr: addr, kind: ErrRefused, msg: "connection refused", cause: err}
	case errors.Is(err, trust.ErrPeerNotTrusted), errors.As(err, &verr):
		e = &callError{method: method, addr: addr, kind: ErrUnauthorized, msg: "unauthorized: " + err.Error() + " (the peer has a different cluster secret: check --secret-file)", cause: err}
	case errors.As(err, &op) && op.Op == "remote error":
		e = &callError{method: method, addr: addr, kind: ErrUnauthorized, msg: "unauthorized: the peer refused this process's certificate (" + err.Error() + "): it has a different cluster secret; check --secret-file", cause: err}
	case errors.As(err, &rec):
		e = &callError{method: method, addr: addr, kind: ErrUnauthorized, msg: "unauthorized: the peer does not speak TLS (an --insecure member, or not a Sluice member): give every member the same --secret-file", cause: err}
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		if errors.Is(cause, context.DeadlineExceeded) {
			e = &callError{method: method, addr: addr, kind: ErrUnavailable, msg: "unavailable: " + cause.Error(), cause: cause}
		} else {
			e = &callError{method: method, addr: addr, msg: cause.Error(), cause: cause}
		}
	case errors.Is(err, io.EOF):
		// Never let a cut-off response unwrap to io.EOF: a reader that
		// tests errors.Is(err, io.EOF) would take it for a clean end.
		e = &callError{method: method, addr: addr, kind: ErrUnavailable, msg: "unavailable: the connection closed mid-response", cause: io.ErrUnexpectedEOF}
	default:
		e = &callError{method: method, addr: addr, kind: ErrUnavailable, msg: "unavailable: " + err.Error(), cause: err}
	}
	c.log.Debug("rpc: call failed", "method", method, "addr", addr, "err", e)
	return e
}
