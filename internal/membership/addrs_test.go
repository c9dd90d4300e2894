package membership

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckAddrs(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "core-1", "localhost":
			return []string{"10.0.0.1"}, nil
		case "flaky":
			return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	for _, tc := range []struct {
		addrs []string
		want  []string // one line per bad address, each containing this
	}{
		{[]string{"127.0.0.1:7946", "core-1:7946", "[::1]:7946", "localhost:1"}, nil},
		{[]string{"flaky:7946"}, nil}, // Join retries a lookup that timed out
		{[]string{"127.0.0.1"}, []string{`"127.0.0.1": no port: give HOST:PORT`}},
		{[]string{"core-1"}, []string{"no port"}},
		{[]string{"::1"}, []string{"brackets, as [::1]:7946"}},
		{[]string{"core-1:gossip"}, []string{`port "gossip" is not a number`}},
		{[]string{"core-1:0"}, []string{`port "0" is not a number`}},
		{[]string{"core-1:65536"}, []string{`port "65536"`}},
		{[]string{":7946"}, []string{"no host"}},
		{[]string{""}, []string{"empty"}},
		{[]string{"nosuch.example:7946"}, []string{"no such host nosuch.example"}},
		{[]string{"127.0.0.1", "core-1:7946", "nosuch:x", "nosuch:1"}, []string{`"127.0.0.1": `, `"nosuch:x": `, `"nosuch:1": `}},
	} {
		err := CheckAddrs(context.Background(), tc.addrs, lookup)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("CheckAddrs(%q): %v", tc.addrs, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadAddress) {
			t.Errorf("CheckAddrs(%q): %v, want ErrBadAddress", tc.addrs, err)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(tc.want) {
			t.Errorf("CheckAddrs(%q): %d lines, want one per problem (%d):\n%v", tc.addrs, len(lines), len(tc.want), err)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("CheckAddrs(%q) line %d: %q, want it to contain %q", tc.addrs, i+1, lines[i], w)
			}
		}
	}
}

// Joining an HTTP server (a worker's RPC port is one, over TLS) fails at
// once with ErrNotMember, with or without gossip keys; joining a port
// nobody listens on does not: a member may start there yet.
func TestJoinSomethingThatIsNotAMember(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	for _, keys := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.Name, cfg.BindAddr, cfg.Meta = "joiner", "127.0.0.1:0", metaOf(0)
		if keys {
			cfg.Keys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
		}
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{plain.Listener.Addr().String(), tlsSrv.Listener.Addr().String()} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := n.Join(ctx, []string{addr})
			cancel()
			if !errors.Is(err, ErrNotMember) || !strings.Contains(err.Error(), addr) || errors.Is(err, ErrKeyMismatch) {
				t.Errorf("keys %v: Join(%s): %v; want ErrNotMember naming it", keys, addr, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = n.Join(ctx, []string{refused})
		cancel()
		if err == nil || errors.Is(err, ErrNotMember) {
			t.Errorf("keys %v: Join(%s), where nothing listens: %v; want a failure that is not ErrNotMember", keys, refused, err)
		}
		n.Shutdown()
	}
}
