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
// Every connection between members is mutual TLS 1.3 (ServerConfig.TLS and
// ClientConfig.TLS, from trust.Creds): both sides present a certificate
// that chains to the cluster's CA, derived from the cluster secret or
// supplied by the operator. A peer without one fails the handshake, before
// the server reads a byte of any request; responses are authenticated too,
// and TLS's fresh session keys make a recorded request worthless to replay.
// (Earlier versions signed each request with an HMAC, which could be
// replayed for minutes and, with an empty secret, forged; TLS replaces it
// on every path, so no nonce cache is needed.) A nil TLS serves plain HTTP
// to anyone, for --insecure clusters only.
//
// Every body and wait is bounded: a route's body by Limit (ServerConfig's
// MaxBody, 1 MiB, otherwise), an upload's payload (HandleUpload, Upload)
// streamed to its handler, never held whole; reads by deadlines that move
// with progress; connections and concurrent requests per peer address by
// MaxPeerConns and MaxPeerRequests. A refused peer is logged once per
// minute, not once per attempt.
//
// Failures are sorted for the caller, and every error names the method and
// address ("rpc: call RunTask on 127.0.0.1:4012: connection refused"):
//
//   - ErrRefused: nothing listens there; it comes back at once, so the caller
//     can mark the worker suspect without waiting.
//   - ErrUnavailable: a timeout, a reset, an EOF in the middle of a response
//     or stream, a 5xx that no handler wrote: the peer may be gone.
//   - ErrUnauthorized, ErrTooLarge: a peer with a different cluster secret
//     (or none); a body over a limit.
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
//	creds, err := trust.New(secrets, nil)
//	srv := rpc.NewServer(rpc.ServerConfig{TLS: creds.ServerTLS()})
//	rpc.Handle(srv, "Add", func(ctx context.Context, r *AddReq) (*AddResp, error) {
//		return &AddResp{Sum: r.A + r.B}, nil
//	})
//	ln, err := rpc.Listen("127.0.0.1:0")
//	...
//	go srv.Serve(ctx, ln) // returns once ctx is done and calls have drained
//
//	c := rpc.NewClient(rpc.ClientConfig{TLS: creds.ClientTLS()})
//	defer c.Close()
//	resp, err := rpc.Call[AddReq, AddResp](ctx, c, ln.Addr().String(), "Add", &AddReq{A: 1, B: 2})
//	if errors.Is(err, rpc.ErrRefused) {
//		// mark the worker suspect
//	}
package rpc
