package rpc

import (
	"context"

	"github.com/sluicehq/sluice/internal/trust"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "test cluster secret"

// testCreds are the credentials of the test cluster; otherCreds those of
// another cluster.
var testCreds, otherCreds = mustCreds(testSecret), mustCreds("another cluster's secret")

func mustCreds(secret string) *trust.Creds {
	c, err := trust.New([][]byte{[]byte(secret)}, nil)
	if err != nil {
		panic(err)
	}
	return c
}

type item struct {
	Key   string
	Value int64
}

type echoReq struct {
	Name  string
	N     int
	Data  []byte
	Items []item
}

type echoResp struct {
	Greeting string
	N        int
	Data     []byte
	Items    []item
}

func echo(_ context.Context, r *echoReq) (*echoResp, error) {
	return &echoResp{Greeting: "hello, " + r.Name, N: r.N + 1, Data: r.Data, Items: r.Items}, nil
}

// startServer serves a new Server on 127.0.0.1 until the test ends, and
// fails the test if Serve returns an error.
func startServer(t testing.TB, cfg ServerConfig, register func(*Server)) string {
	t.Helper()
	addr, stop := startServerStop(t, cfg, register)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// startServerStop serves a new Server and returns a function that cancels
// Serve's context and returns what Serve returned.
func startServerStop(t testing.TB, cfg ServerConfig, register func(*Server)) (addr string, stop func() error) {
	t.Helper()
	if cfg.TLS == nil {
		cfg.TLS = testCreds.ServerTLS()
	}
	s := NewServer(cfg)
	if register != nil {
		register(s)
	}
	return serveStop(t, s)
}

// serveStop serves s on a loopback port and returns a function that
// cancels Serve's context and returns what Serve returned.
func serveStop(t testing.TB, s *Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	return ln.Addr().String(), func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Serve did not return within 20s of its context being cancelled")
			}
		})
		return serveErr
	}
}

func newTestClient(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.TLS == nil {
		cfg.TLS = testCreds.ClientTLS()
	}
	c := NewClient(cfg)
	t.Cleanup(c.Close)
	return c
}

// blackHole accepts connections and never reads or answers. accepted
// receives each connection as it arrives.
type blackHole struct {
	ln       net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln, accepted: make(chan struct{}, 16)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			select {
			case b.accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *blackHole) addr() string { return b.ln.Addr().String() }

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
