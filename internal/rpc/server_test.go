package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func echoServer() *Server {
	s := NewServer(ServerConfig{})
	Handle(s, "Echo", echo)
	HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
		_, err := w.Write(r.Data)
		return err
	})
	return s
}

// serve runs one request through s.ServeHTTP.
func serve(s *Server, httpMethod, path string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(httpMethod, path, bytes.NewReader(body))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if w.Header().Get(errorHeader) == "" {
		t.Fatalf("status %d without the %s header", w.Code, errorHeader)
	}
	var eb errorBody
	if err := msgpack.Unmarshal(w.Body.Bytes(), &eb); err != nil {
		t.Fatalf("status %d with an undecodable error body: %v", w.Code, err)
	}
	return eb
}

func TestServeHTTPRejects(t *testing.T) {
	s := echoServer()
	good, err := msgpack.Marshal(&echoReq{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		httpMethod, path string
		body             []byte
		status           int
		code, msg        string
	}{
		{"GET", "GET", "/rpc/Echo", nil, http.StatusMethodNotAllowed, "method_not_allowed", "use POST"},
		{"malformed body", "POST", "/rpc/Echo", []byte{0xc1}, http.StatusBadRequest, CodeBadRequest, "malformed request body for Echo"},
		{"trailing bytes", "POST", "/rpc/Echo", append(append([]byte{}, good...), 0), http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"wrong type", "POST", "/rpc/Echo", []byte{0x92, 1, 2}, http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"huge claimed array", "POST", "/rpc/Echo", []byte{0x81, 0xa5, 'I', 't', 'e', 'm', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff}, http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"unknown method", "POST", "/rpc/Nope", good, http.StatusNotFound, CodeUnknownMethod, "no handler for /rpc/Nope"},
		{"a call sent as a stream", "POST", "/stream/Echo", good, http.StatusNotFound, CodeUnknownMethod, "no handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(s, tc.httpMethod, tc.path, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			eb := errorOf(t, w)
			if eb.Code != tc.code || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("got %+v, want code %q and a message containing %q", eb, tc.code, tc.msg)
			}
		})
	}

	// A server with TLS refuses a request that did not come over it, even
	// if its handler is reached some other way, without reading the body.
	tlsServer := NewServer(ServerConfig{TLS: testCreds.ServerTLS()})
	ran := false
	Handle(tlsServer, "Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) { ran = true; return echo(ctx, r) })
	r0 := httptest.NewRequest("POST", "/rpc/Echo", &unreadable{})
	w0 := httptest.NewRecorder()
	tlsServer.ServeHTTP(w0, r0)
	if w0.Code != http.StatusUnauthorized || ran {
		t.Errorf("a request without TLS: status %d, handler ran %v; want 401 and no run", w0.Code, ran)
	}

	// A chunked body (no Content-Length) over the limit.
	small := NewServer(ServerConfig{MaxBody: 100})
	Handle(small, "Echo", echo)
	body := bytes.Repeat([]byte{0xc0}, 101)
	r := httptest.NewRequest("POST", "/rpc/Echo", io.MultiReader(bytes.NewReader(body)))
	w := httptest.NewRecorder()
	small.ServeHTTP(w, r)
	if eb := errorOf(t, w); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(eb.Message, "limit of 100B") {
		t.Errorf("status %d, %+v; want 413 naming the limit", w.Code, eb)
	}
	// A route with a limit of its own.
	Handle(small, "Big", echo, Limit(1000))
	w = serve(small, "POST", "/rpc/Big", append([]byte{0xc4, 200}, make([]byte, 200)...))
	if w.Code == http.StatusRequestEntityTooLarge {
		t.Errorf("a 202-byte body on a route limited to 1000: 413")
	}

	w = serve(s, "POST", "/rpc/Echo", good)
	var resp echoResp
	if w.Code != http.StatusOK || msgpack.Unmarshal(w.Body.Bytes(), &resp) != nil || resp.Greeting != "hello, x" {
		t.Errorf("a good request: status %d, body %q", w.Code, w.Body.Bytes())
	}
}

func TestRegisterPanics(t *testing.T) {
	s := NewServer(ServerConfig{})
	Handle(s, "Echo", echo)
	HandleStream(s, "Echo", func(context.Context, *echoReq, io.Writer) error { return nil }) // another namespace
	for name, f := range map[string]func(){
		"duplicate": func() { Handle(s, "Echo", echo) },
		"empty":     func() { Handle(s, "", echo) },
		"slash":     func() { Handle(s, "a/b", echo) },
		"space":     func() { HandleStream(s, "a b", func(context.Context, *echoReq, io.Writer) error { return nil }) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registering did not panic", name)
				}
			}()
			f()
		}()
	}
	c := newTestClient(t, ClientConfig{})
	if _, err := Call[echoReq, echoResp](t.Context(), c, "127.0.0.1:1", "a/b", nil); err == nil || !strings.Contains(err.Error(), "method name") {
		t.Errorf("calling a malformed method name: %v", err)
	}
	if _, err := Call[echoReq, echoResp](t.Context(), c, "no-port", "Echo", nil); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("calling a malformed address: %v", err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	addr, stop := startServerStop(t, ServerConfig{}, func(s *Server) {
		Handle(s, "Slow", func(ctx context.Context, r *echoReq) (*echoResp, error) {
			close(entered)
			<-release
			return echo(ctx, r)
		})
	})
	c := newTestClient(t, ClientConfig{})
	callErr := make(chan error, 1)
	go func() {
		_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Slow", &echoReq{})
		callErr <- err
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a call was in flight", err)
	default:
	}
	close(release)
	if err := <-callErr; err != nil {
		t.Fatalf("the in-flight call failed during a graceful shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Slow", &echoReq{})
	if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a call after Serve returned: %v, want ErrRefused or ErrUnavailable", err)
	}
}

func TestServeCancelsHandlersAfterShutdownTimeout(t *testing.T) {
	entered, exited := make(chan struct{}), make(chan struct{})
	addr, stop := startServerStop(t, ServerConfig{ShutdownTimeout: 50 * time.Millisecond}, func(s *Server) {
		HandleStream(s, "Forever", func(ctx context.Context, r *echoReq, w io.Writer) error {
			defer close(exited)
			w.Write([]byte("started"))
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		})
	})
	c := newTestClient(t, ClientConfig{})
	body, err := c.Stream(t.Context(), addr, "Forever", &echoReq{})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	<-entered
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case <-exited:
	default:
		t.Fatal("Serve returned before the handler it started")
	}
	if _, err := io.ReadAll(body); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reading a stream the shutdown cut: %v, want ErrUnavailable", err)
	}
}

func TestServeReturnsListenerError(t *testing.T) {
	s := NewServer(ServerConfig{})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context(), ln) }()
	ln.Close()
	if err := <-done; err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Serve on a closed listener returned %v, want an error naming its address", err)
	}
	if _, err := Listen("256.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "256.0.0.1:0") {
		t.Errorf("Listen error %v does not name the address", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	addr := startServer(t, ServerConfig{}, func(s *Server) {
		Handle(s, "Echo", echo)
		HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
			_, err := w.Write(pattern(r.N))
			return err
		})
	})
	c := newTestClient(t, ClientConfig{MaxIdleConnsPerHost: 4})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("g%d-%d", g, i)
				resp, err := Call[echoReq, echoResp](t.Context(), c, addr, "Echo", &echoReq{Name: name, N: i})
				if err != nil {
					t.Error(err)
					return
				}
				if resp.Greeting != "hello, "+name || resp.N != i+1 {
					t.Errorf("%s: got %+v", name, resp)
					return
				}
			}
		})
	}
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 {
				n := (g+1)*100_000 + i
				body, err := c.Stream(t.Context(), addr, "Fetch", &echoReq{N: n})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(body)
				body.Close()
				if err != nil || !bytes.Equal(got, pattern(n)) {
					t.Errorf("stream of %d bytes: read %d, %v", n, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// unreadable is a request body that fails the test if it is read.
type unreadable struct{}

func (*unreadable) Read([]byte) (int, error) {
	panic("the server read the body of a request it had not authenticated")
}
