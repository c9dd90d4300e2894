package rpc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCallRoundTrip(t *testing.T) {
	addr := startServer(t, ServerConfig{}, func(s *Server) {
		Handle(s, "Echo", echo)
		Handle(s, "Nil", func(context.Context, *echoReq) (*echoResp, error) { return nil, nil })
	})
	c := newTestClient(t, ClientConfig{})
	ctx := t.Context()

	req := &echoReq{Name: "sluice", N: 41, Data: []byte{0, 1, 2, 255}, Items: []item{{"a", 1}, {"b", -2}}}
	resp, err := Call[echoReq, echoResp](ctx, c, addr, "Echo", req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Greeting != "hello, sluice" || resp.N != 42 || !bytes.Equal(resp.Data, req.Data) ||
		len(resp.Items) != 2 || resp.Items[1] != (item{"b", -2}) {
		t.Fatalf("Echo returned %+v", resp)
	}

	resp, err = Call[echoReq, echoResp](ctx, c, addr, "Echo", nil)
	if err != nil || resp.Greeting != "hello, " || resp.N != 1 {
		t.Fatalf("Echo(nil) = %+v, %v; want the zero request echoed", resp, err)
	}
	resp, err = Call[echoReq, echoResp](ctx, c, addr, "Nil", req)
	if err != nil || resp == nil || resp.Greeting != "" {
		t.Fatalf("a nil response arrived as %+v, %v; want a zero echoResp", resp, err)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	s := NewServer(ServerConfig{TLS: testCreds.ServerTLS()})
	Handle(s, "Echo", echo)
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, cl) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c := newTestClient(t, ClientConfig{})
	for i := range 20 {
		if _, err := Call[echoReq, echoResp](t.Context(), c, ln.Addr().String(), "Echo", &echoReq{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("20 sequential calls opened %d connections, want 1", n)
	}
}

func TestRemoteError(t *testing.T) {
	addr := startServer(t, ServerConfig{}, func(s *Server) {
		Handle(s, "Coded", func(_ context.Context, r *echoReq) (*echoResp, error) {
			return nil, fmt.Errorf("fetch: %w", Errorf("not_found", "shuffle %d: no map output", r.N))
		})
		Handle(s, "Plain", func(context.Context, *echoReq) (*echoResp, error) {
			return nil, errors.New("disk on fire")
		})
		Handle(s, "Panics", func(context.Context, *echoReq) (*echoResp, error) {
			panic("index out of range")
		})
	})
	c := newTestClient(t, ClientConfig{})
	for _, tc := range []struct {
		method, code, msg string
	}{
		{"Coded", "not_found", "fetch: shuffle 3: no map output"},
		{"Plain", "", "disk on fire"},
		{"Panics", CodeInternal, "handler for Panics panicked: index out of range"},
		{"Missing", CodeUnknownMethod, "no handler for /rpc/Missing"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			_, err := Call[echoReq, echoResp](t.Context(), c, addr, tc.method, &echoReq{N: 3})
			re, ok := errors.AsType[*RemoteError](err)
			if !ok {
				t.Fatalf("got %v (%T), want a *RemoteError", err, err)
			}
			if re.Code != tc.code || re.Method != tc.method || re.Addr != addr || !strings.HasPrefix(re.Message, tc.msg) {
				t.Errorf("got %#v, want code %q and a message starting %q", re, tc.code, tc.msg)
			}
			if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRefused) {
				t.Errorf("a handler's error %v must not look like a transport failure", err)
			}
			prefix := "rpc: call " + tc.method + " on " + addr + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("message %q does not start %q", err.Error(), prefix)
			}
		})
	}
	_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Coded", &echoReq{N: 3})
	want := "rpc: call Coded on " + addr + ": not_found: fetch: shuffle 3: no map output"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

// TestUnauthorized: only a peer with the cluster's credentials gets an
// answer, in either direction.
func TestUnauthorized(t *testing.T) {
	plain := func() *tls.Config { return nil }
	for _, tc := range []struct {
		name           string
		server, client func() *tls.Config
		ok             bool
	}{
		{"same secret", testCreds.ServerTLS, testCreds.ClientTLS, true},
		{"wrong secret", testCreds.ServerTLS, otherCreds.ClientTLS, false},
		{"client without credentials", testCreds.ServerTLS, plain, false},
		{"client with a self-signed certificate", testCreds.ServerTLS, selfSignedClient, false},
		{"server with a wrong secret", otherCreds.ServerTLS, testCreds.ClientTLS, false},
		{"server without TLS", plain, testCreds.ClientTLS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran atomic.Int32
			s := NewServer(ServerConfig{TLS: tc.server()})
			Handle(s, "Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) {
				ran.Add(1)
				return echo(ctx, r)
			})
			HandleStream(s, "Fetch", func(_ context.Context, _ *echoReq, w io.Writer) error {
				ran.Add(1)
				_, err := io.WriteString(w, "data")
				return err
			})
			addr := serveOn(t, s)
			c := NewClient(ClientConfig{TLS: tc.client()})
			defer c.Close()
			_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Echo", &echoReq{})
			_, serr := c.Stream(t.Context(), addr, "Fetch", &echoReq{})
			if tc.ok {
				if err != nil || serr != nil {
					t.Fatalf("call: %v; stream: %v", err, serr)
				}
				return
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("%d handlers ran for an unauthenticated peer", n)
			}
			for _, err := range []error{err, serr} {
				if !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("got %v, want ErrUnauthorized", err)
				}
				if !strings.Contains(err.Error(), addr) || errors.Is(err, ErrUnavailable) {
					t.Errorf("message %q should name %s and not say unavailable", err, addr)
				}
			}
		})
	}
}

// selfSignedClient is a client that made up its own certificate.
func selfSignedClient() *tls.Config {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sluice member"}, DNSNames: []string{"sluice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// serveOn serves s on a loopback port until the test ends.
func serveOn(t *testing.T, s *Server) string {
	t.Helper()
	addr, stop := serveStop(t, s)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// A long dial timeout and deadline: a refusal must not wait for either.
	c := newTestClient(t, ClientConfig{DialTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	_, err = Call[echoReq, echoResp](ctx, c, addr, "RunTask", &echoReq{})
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrRefused only", err)
	}
	if want := "rpc: call RunTask on " + addr + ": connection refused"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := c.Stream(ctx, addr, "Fetch", &echoReq{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Stream: got %v, want ErrRefused", err)
	}
}

func TestNoAnswer(t *testing.T) {
	hole := newBlackHole(t)
	t.Run("ctx deadline", func(t *testing.T) {
		c := newTestClient(t, ClientConfig{})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := Call[echoReq, echoResp](ctx, c, hole.addr(), "RunTask", &echoReq{})
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})
	t.Run("CallTimeout", func(t *testing.T) {
		c := newTestClient(t, ClientConfig{CallTimeout: 100 * time.Millisecond})
		_, err := Call[echoReq, echoResp](t.Context(), c, hole.addr(), "RunTask", &echoReq{})
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "CallTimeout") {
			t.Fatalf("got %v, want ErrUnavailable naming CallTimeout", err)
		}
		_, err = c.Stream(t.Context(), hole.addr(), "Fetch", &echoReq{})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "CallTimeout") {
			t.Fatalf("Stream: got %v, want ErrUnavailable naming CallTimeout", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		// Drain earlier accepts so that the next one is this call's.
		for len(hole.accepted) > 0 {
			<-hole.accepted
		}
		c := newTestClient(t, ClientConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := Call[echoReq, echoResp](ctx, c, hole.addr(), "RunTask", &echoReq{})
			errc <- err
		}()
		<-hole.accepted
		cancel()
		err := <-errc
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want context.Canceled and not ErrUnavailable", err)
		}
	})
}

// pattern returns n deterministic bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestStream(t *testing.T) {
	data := pattern(3<<20 + 123)
	handlerDone := make(chan struct{}, 1)
	addr := startServer(t, ServerConfig{}, func(s *Server) {
		HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
			// Odd-sized writes, as a reader of blocks would make.
			for rest := data[:r.N]; len(rest) > 0; {
				n := min(len(rest), 7001)
				if _, err := w.Write(rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			return nil
		})
		HandleStream(s, "Missing", func(_ context.Context, r *echoReq, w io.Writer) error {
			return Errorf("not_found", "no shuffle file %d", r.N)
		})
		HandleStream(s, "Abort", func(_ context.Context, r *echoReq, w io.Writer) error {
			if _, err := w.Write(data[:r.N]); err != nil {
				return err
			}
			return errors.New("disk read failed")
		})
		HandleStream(s, "PanicMidway", func(_ context.Context, r *echoReq, w io.Writer) error {
			w.Write(data[:r.N])
			panic("boom")
		})
		HandleStream(s, "Stall", func(ctx context.Context, r *echoReq, w io.Writer) error {
			defer func() { handlerDone <- struct{}{} }()
			if _, err := w.Write(data[:r.N]); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		})
	})
	// Only the idle case needs a short idle timeout; the others would fail
	// by it on a loaded machine.
	c := newTestClient(t, ClientConfig{})
	idle := newTestClient(t, ClientConfig{StreamIdleTimeout: time.Second})
	ctx := t.Context()

	t.Run("whole", func(t *testing.T) {
		for _, n := range []int{0, 1, 4096, len(data)} {
			body, err := c.Stream(ctx, addr, "Fetch", &echoReq{N: n})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(body)
			body.Close()
			if err != nil || !bytes.Equal(got, data[:n]) {
				t.Fatalf("n=%d: read %d bytes, %v; want the %d bytes written", n, len(got), err, n)
			}
		}
	})
	t.Run("nil request", func(t *testing.T) {
		body, err := c.Stream(ctx, addr, "Fetch", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil || len(got) != 0 {
			t.Fatalf("read %d bytes, %v; want the zero request's empty stream", len(got), err)
		}
	})
	t.Run("error before the first byte", func(t *testing.T) {
		_, err := c.Stream(ctx, addr, "Missing", &echoReq{N: 9})
		re, ok := errors.AsType[*RemoteError](err)
		if !ok || re.Code != "not_found" || re.Message != "no shuffle file 9" {
			t.Fatalf("got %v, want a not_found RemoteError", err)
		}
	})
	for _, method := range []string{"Abort", "PanicMidway"} {
		t.Run(method, func(t *testing.T) {
			for _, n := range []int{10, 1 << 20} {
				body, err := c.Stream(ctx, addr, method, &echoReq{N: n})
				if err == nil {
					var got []byte
					got, err = io.ReadAll(body)
					body.Close()
					if !bytes.Equal(got, data[:len(got)]) {
						t.Fatalf("n=%d: the bytes before the abort differ from those written", n)
					}
				} else {
					t.Fatalf("n=%d: the first bytes went out, so Stream should succeed; got %v", n, err)
				}
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, io.EOF) {
					t.Fatalf("n=%d: got %v, want an error wrapping ErrUnavailable", n, err)
				}
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		body, err := idle.Stream(ctx, addr, "Stall", &echoReq{N: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "StreamIdleTimeout") {
			t.Fatalf("got %v, want ErrUnavailable naming StreamIdleTimeout", err)
		}
		if len(got) != 1<<20 {
			t.Errorf("read %d bytes before the stall, want %d", len(got), 1<<20)
		}
		<-handlerDone // the server saw the connection go and cancelled its handler
	})
	t.Run("idle before the first byte", func(t *testing.T) {
		// A server that sends nothing, not even its response, is as
		// stalled as one that stops mid-stream, whatever the caller's
		// deadline.
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start := time.Now()
		body, err := c.StreamIdle(dctx, addr, "Stall", &echoReq{N: 0}, time.Second)
		if err == nil {
			_, err = io.ReadAll(body)
			body.Close()
		}
		// (Mostly ErrUnavailable; when the response and the timeout race,
		// the body's read may fail as cancelled instead.)
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("got %v after %v, want an error after the 1s idle timeout", err, time.Since(start))
		}
		<-handlerDone
	})
	t.Run("caller cancels", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		body, err := c.Stream(sctx, addr, "Stall", &echoReq{N: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		if _, err := io.ReadFull(body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = body.Read(make([]byte, 1))
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want context.Canceled and not ErrUnavailable", err)
		}
		<-handlerDone
	})
}

func TestTooLarge(t *testing.T) {
	big := func(n int) *echoReq { return &echoReq{Data: pattern(n)} }
	var calls sync.WaitGroup
	addr := startServer(t, ServerConfig{MaxBody: 1 << 10}, func(s *Server) {
		Handle(s, "Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) {
			calls.Add(1)
			defer calls.Done()
			return echo(ctx, r)
		})
		Handle(s, "Big", func(context.Context, *echoReq) (*echoResp, error) {
			return &echoResp{Data: pattern(4 << 10)}, nil
		})
	})
	c := newTestClient(t, ClientConfig{})
	for _, n := range []int{4 << 10, 8 << 20} {
		_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Echo", big(n))
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/rpc/Echo limit of 1KiB") {
			t.Fatalf("%d-byte request: got %v, want ErrTooLarge naming the server's 1KiB limit", n, err)
		}
	}
	if _, err := Call[echoReq, echoResp](t.Context(), c, addr, "Echo", big(100)); err != nil {
		t.Fatalf("a small call after refused ones: %v", err)
	}

	small := newTestClient(t, ClientConfig{MaxBody: 1 << 10})
	_, err := Call[echoReq, echoResp](t.Context(), small, addr, "Echo", big(2<<10))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "client's MaxBody of 1KiB") {
		t.Fatalf("got %v, want ErrTooLarge naming the client's limit", err)
	}
	_, err = Call[echoReq, echoResp](t.Context(), small, addr, "Big", nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "response body") {
		t.Fatalf("got %v, want ErrTooLarge for the response", err)
	}
}

func TestClientMapsForeignResponses(t *testing.T) {
	// A plain HTTP server standing where a Sluice server should be.
	mux := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rpc/BadGateway":
			http.Error(w, "upstream gone", http.StatusBadGateway)
		case "/rpc/Cut":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/rpc/Garbage":
			w.Write([]byte{0xc1, 0xff})
		case "/rpc/BadError":
			w.Header().Set(errorHeader, "1")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte{0x92, 0x01})
		default:
			http.NotFound(w, r)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(mux), ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	defer func() { hs.Close(); <-done }()
	addr := ln.Addr().String()
	c := NewClient(ClientConfig{}) // plain HTTP, as an --insecure member speaks
	defer c.Close()
	call := func(method string) error {
		_, err := Call[echoReq, echoResp](t.Context(), c, addr, method, &echoReq{})
		return err
	}
	for _, m := range []string{"BadGateway", "Cut"} {
		if err := call(m); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", m, err)
		}
	}
	for _, m := range []string{"NotThere", "Garbage", "BadError"} {
		err := call(m)
		if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "rpc: call "+m+" on "+addr) {
			t.Errorf("%s: got %v, want a plain error naming the call", m, err)
		}
	}
	if err := call("NotThere"); !strings.Contains(err.Error(), "not a Sluice RPC server") {
		t.Errorf("got %v, want it to say the peer is not a Sluice server", err)
	}
}
