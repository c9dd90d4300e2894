// Package rpc is the request/response and streaming RPC between cluster
// members: the driver sends tasks to executors and workers, and reducers
// fetch map outputs (a byte range of a shuffle file) from the worker that
// holds them.
//
// It is HTTP/1.1 (net/http) with msgpack bodies. Handle registers a typed
// handler for POST /rpc/<method>; HandleStream one for POST /stream/<method>
// whose response is a raw byte stream. Call and Client.Stream are the two
// sides' callers. A Server is an http.Handler; Serve runs it on a listener
// until its context is done and then shuts down gracefully.
//
// Every request is signed: the Sluice-Auth header holds a Unix timestamp,
// the SHA-256 of the body and an HMAC-SHA256, keyed by the cluster secret,
// over the method's path, the timestamp and that digest. The server checks
// the signature in constant time before it reads the body, then checks the
// body against the digest, and refuses (401) a bad signature or a timestamp
// more than five minutes off its clock; the secret itself is never sent. This authenticates
// requests, not responses, and encrypts nothing: a signed request can be
// replayed within the five minutes by someone who can see it. An empty
// secret is accepted on both sides and authenticates nothing.
//
// Failures are sorted for the caller, and every error names the method and
// address ("rpc: call RunTask on 127.0.0.1:4012: connection refused"):
//
//   - ErrRefused: nothing listens there; it comes back at once, so the caller
//     can mark the worker suspect without waiting.
//   - ErrUnavailable: a timeout, a reset, an EOF in the middle of a response
//     or stream, a 5xx that no handler wrote: the peer may be gone.
//   - ErrUnauthorized, ErrTooLarge: a different secret or a skewed clock; a
//     body over a MaxBody limit.
//   - *RemoteError: the handler returned an error. Its Code (see Errorf) lets
//     the caller tell, say, a missing shuffle file from a crash.
//
// Every network operation has a timeout: dialing, a call whose context has
// no deadline (CallTimeout), headers and bodies on the server, each write of
// a response, and a stream that stops delivering bytes. Msgpack bodies are
// bounded by MaxBody on both sides; streams are not, because their reader
// knows the length it expects. A stream the server has to abort after its
// first byte ends in an error, never in a silent short read.
//
// A short use:
//
//	type AddReq struct{ A, B int }
//	type AddResp struct{ Sum int }
//
//	srv := rpc.NewServer(rpc.ServerConfig{Secret: secret})
//	rpc.Handle(srv, "Add", func(ctx context.Context, r *AddReq) (*AddResp, error) {
//		return &AddResp{Sum: r.A + r.B}, nil
//	})
//	ln, err := rpc.Listen("127.0.0.1:0")
//	...
//	go srv.Serve(ctx, ln) // returns once ctx is done and calls have drained
//
//	c := rpc.NewClient(rpc.ClientConfig{Secret: secret})
//	defer c.Close()
//	resp, err := rpc.Call[AddReq, AddResp](ctx, c, ln.Addr().String(), "Add", &AddReq{A: 1, B: 2})
//	if errors.Is(err, rpc.ErrRefused) {
//		// mark the worker suspect
//	}
package rpc
