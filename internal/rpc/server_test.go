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
	s := NewServer(ServerConfig{Secret: []byte(testSecret)})
	Handle(s, "Echo", echo)
	HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
		_, err := w.Write(r.Data)
		return err
	})
	return s
}

// serveSigned runs one request through s.ServeHTTP, signed for signPath.
func serveSigned(s *Server, httpMethod, path, signPath string, body []byte, now time.Time) *httptest.ResponseRecorder {
	r := httptest.NewRequest(httpMethod, path, bytes.NewReader(body))
	r.Header.Set(authHeader, newSigner([]byte(testSecret)).header(signPath, now, body))
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
	now := time.Now()
	good, err := msgpack.Marshal(&echoReq{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		httpMethod, path string
		signPath         string
		body, signBody   []byte
		status           int
		code, msg        string
	}{
		{"GET", "GET", "/rpc/Echo", "/rpc/Echo", nil, nil, http.StatusMethodNotAllowed, "method_not_allowed", "use POST"},
		{"malformed body", "POST", "/rpc/Echo", "/rpc/Echo", []byte{0xc1}, nil, http.StatusBadRequest, CodeBadRequest, "malformed request body for Echo"},
		{"trailing bytes", "POST", "/rpc/Echo", "/rpc/Echo", append(append([]byte{}, good...), 0), nil, http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"wrong type", "POST", "/rpc/Echo", "/rpc/Echo", []byte{0x92, 1, 2}, nil, http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"huge claimed array", "POST", "/rpc/Echo", "/rpc/Echo", []byte{0x81, 0xa5, 'I', 't', 'e', 'm', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff}, nil, http.StatusBadRequest, CodeBadRequest, "malformed request body"},
		{"unknown method", "POST", "/rpc/Nope", "/rpc/Nope", good, nil, http.StatusNotFound, CodeUnknownMethod, "no handler for /rpc/Nope"},
		{"signed for another method", "POST", "/rpc/Echo", "/rpc/Other", good, nil, http.StatusUnauthorized, "unauthorized", "bad signature"},
		{"signed as a call, sent as a stream", "POST", "/stream/Fetch", "/rpc/Fetch", good, nil, http.StatusUnauthorized, "unauthorized", "bad signature"},
		{"body changed after signing", "POST", "/rpc/Echo", "/rpc/Echo", good, []byte{0x80}, http.StatusUnauthorized, "unauthorized", "does not match its signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signBody := tc.body
			if tc.signBody != nil {
				signBody = tc.signBody
			}
			r := httptest.NewRequest(tc.httpMethod, tc.path, bytes.NewReader(tc.body))
			r.Header.Set(authHeader, newSigner([]byte(testSecret)).header(tc.signPath, now, signBody))
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			eb := errorOf(t, w)
			if eb.Code != tc.code || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("got %+v, want code %q and a message containing %q", eb, tc.code, tc.msg)
			}
		})
	}
	for _, header := range []string{"", "v1", "v2 1 00", "v1 x " + strings.Repeat("0", 64), "v1 1 zz", "v1 1 " + strings.Repeat("g", 64)} {
		r := httptest.NewRequest("POST", "/rpc/Echo", bytes.NewReader(good))
		if header != "" {
			r.Header.Set(authHeader, header)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("header %q: status %d, want 401", header, w.Code)
		}
	}

	// A chunked body (no Content-Length) over the limit.
	small := NewServer(ServerConfig{Secret: []byte(testSecret), MaxBody: 100})
	Handle(small, "Echo", echo)
	body := bytes.Repeat([]byte{0xc0}, 101)

	// Without the secret, a body is refused before it is read, so even an
	// oversized one gets a 401.
	r0 := httptest.NewRequest("POST", "/rpc/Echo", &unreadable{})
	r0.Header.Set(authHeader, newSigner([]byte("other")).header("/rpc/Echo", now, body))
	w0 := httptest.NewRecorder()
	small.ServeHTTP(w0, r0)
	if w0.Code != http.StatusUnauthorized {
		t.Errorf("an unsigned body: status %d, want 401", w0.Code)
	}
	r := httptest.NewRequest("POST", "/rpc/Echo", io.MultiReader(bytes.NewReader(body)))
	r.Header.Set(authHeader, newSigner([]byte(testSecret)).header("/rpc/Echo", now, body))
	w := httptest.NewRecorder()
	small.ServeHTTP(w, r)
	if eb := errorOf(t, w); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(eb.Message, "MaxBody of 100B") {
		t.Errorf("status %d, %+v; want 413 naming the limit", w.Code, eb)
	}

	w = serveSigned(s, "POST", "/rpc/Echo", "/rpc/Echo", good, now)
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
