package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type uploadReq struct{ Name string }

// TestUpload: a payload streams to the handler; one over the route's limit
// fails with ErrTooLarge, announced or not, and the handler never holds it.
func TestUpload(t *testing.T) {
	var got sync.Map
	addr := startServer(t, ServerConfig{}, func(s *Server) {
		HandleUpload(s, "Put", func(_ context.Context, r *uploadReq, body io.Reader) (*echoResp, error) {
			n, err := io.Copy(io.Discard, body)
			got.Store(r.Name, n)
			return &echoResp{Greeting: r.Name, N: int(n)}, err
		}, Limit(1<<20))
	})
	c := newTestClient(t, ClientConfig{})
	resp, err := Upload[uploadReq, echoResp](t.Context(), c, addr, "Put", &uploadReq{Name: "a"}, bytes.NewReader(make([]byte, 1000)), 1000)
	if err != nil || resp.Greeting != "a" || resp.N != 1000 {
		t.Fatalf("an upload of 1000 bytes: %+v, %v", resp, err)
	}
	_, err = Upload[uploadReq, echoResp](t.Context(), c, addr, "Put", &uploadReq{Name: "big"}, zeroReader{}, 2<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an upload of 2 MiB to a route limited to 1 MiB: %v, want ErrTooLarge", err)
	}
	if _, ran := got.Load("big"); ran {
		t.Errorf("the handler ran for a body announced over the limit")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestPeerRequestLimit: requests over MaxPeerRequests from one peer are
// refused as unavailable while the others run.
func TestPeerRequestLimit(t *testing.T) {
	entered, release := make(chan struct{}, 8), make(chan struct{})
	addr := startServer(t, ServerConfig{MaxPeerRequests: 2}, func(s *Server) {
		Handle(s, "Hold", func(ctx context.Context, r *echoReq) (*echoResp, error) {
			entered <- struct{}{}
			<-release
			return echo(ctx, r)
		})
	})
	c := newTestClient(t, ClientConfig{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Hold", &echoReq{})
			errs <- err
		}()
	}
	<-entered
	<-entered
	_, err := Call[echoReq, echoResp](t.Context(), c, addr, "Hold", &echoReq{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "concurrent requests") {
		t.Errorf("a third concurrent request: %v, want ErrUnavailable naming the limit", err)
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a request within the limit: %v", err)
		}
	}
}

// TestRefusedPeersLoggedOnce: a peer that fails the handshake again and
// again is logged once, naming it.
func TestRefusedPeersLoggedOnce(t *testing.T) {
	var buf syncBuf
	addr := startServer(t, ServerConfig{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, func(s *Server) {
		Handle(s, "Echo", echo)
	})
	intruder := NewClient(ClientConfig{TLS: otherCreds.ClientTLS()})
	defer intruder.Close()
	for range 20 {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("POST /rpc/Echo HTTP/1.1\r\nHost: x\r\n\r\n"))
		io.Copy(io.Discard, conn)
		conn.Close()
		Call[echoReq, echoResp](t.Context(), intruder, addr, "Echo", &echoReq{})
	}
	var refusals int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Msg, Remote string }
		if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Msg, "refused a peer") {
			refusals++
			if rec.Remote != "127.0.0.1" {
				t.Errorf("a refusal names %q, want the peer 127.0.0.1", rec.Remote)
			}
		}
	}
	if refusals != 1 {
		t.Errorf("%d refusal records for 40 refused attempts from one peer, want 1:\n%s", refusals, buf.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConnectionCaps: connections over the per-peer cap, and over the cap
// for all peers, are closed as they arrive, before any byte is read.
func TestConnectionCaps(t *testing.T) {
	for _, cfg := range []ServerConfig{{MaxPeerConns: 3}, {MaxConns: 3}} {
		addr := startServer(t, cfg, func(s *Server) { Handle(s, "Echo", echo) })
		var held []net.Conn
		for range 3 {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%+v: a connection over the cap was not closed: %v", cfg, err)
		}
		c.Close()
		for _, h := range held {
			h.Close()
		}
	}
}
