package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrBadAddress is wrapped by CheckAddrs' errors.
var ErrBadAddress = errors.New("membership: bad address")

// ErrNotMember is wrapped, with ErrJoin, by the error of a Join that
// reached something other than a gossip member: an HTTP server, such as a
// Sluice worker's RPC port, or a peer that answered with bytes memberlist
// does not speak. Waiting does not change that.
var ErrNotMember = errors.New("membership: not a gossip member")

// CheckAddrs checks the addresses of members to join before a Join: each
// must be HOST:PORT with a port from 1 to 65535 (memberlist would take a
// missing port to be this node's own, and join itself) and a host that
// exists. It returns nil or one *AddrError per bad address, joined
// (errors.Join: one line each). lookup resolves a host name; nil
// means net.DefaultResolver. A host whose lookup fails for any reason
// other than "no such host" (a DNS server that timed out) passes: Join
// retries.
func CheckAddrs(ctx context.Context, addrs []string, lookup func(ctx context.Context, host string) ([]string, error)) error {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	var errs []error
	bad := func(addr, format string, args ...any) {
		errs = append(errs, &AddrError{Addr: addr, Problem: fmt.Sprintf(format, args...)})
	}
	for _, a := range addrs {
		if strings.TrimSpace(a) == "" {
			bad(a, "empty: give HOST:PORT")
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			switch {
			case strings.Contains(err.Error(), "missing port"):
				bad(a, "no port: give HOST:PORT, the gossip address the member listens on (e.g. %s)", net.JoinHostPort(strings.Trim(a, "[]"), "7946"))
			case strings.Contains(err.Error(), "too many colons"):
				bad(a, "not HOST:PORT: write an IPv6 address in brackets, as [::1]:7946")
			default:
				bad(a, "not HOST:PORT")
			}
			continue
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			bad(a, "port %q is not a number from 1 to 65535", port)
			continue
		}
		if host == "" {
			bad(a, "no host: give HOST:PORT")
			continue
		}
		if net.ParseIP(host) != nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = lookup(lctx, host)
		cancel()
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			bad(a, "no such host %s", host)
		}
	}
	return errors.Join(errs...)
}

// AddrError is an address CheckAddrs refused, and why. It wraps
// ErrBadAddress.
type AddrError struct {
	Addr, Problem string
}

func (e *AddrError) Error() string { return fmt.Sprintf("%q: %s", e.Addr, e.Problem) }

func (e *AddrError) Unwrap() error { return ErrBadAddress }

// httpProbeTimeout bounds the probe of an address that failed a Join.
const httpProbeTimeout = 2 * time.Second

// speaksHTTP reports whether addr answers an HTTP request. A web server
// does, and so does a Sluice RPC port: Go's HTTPS server answers a plain
// request with a 400. A gossip member never does: it answers bytes it
// cannot read with a memberlist error message, or closes.
func speaksHTTP(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, httpProbeTimeout)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(httpProbeTimeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return false
	}
	var b [5]byte
	_, err = io.ReadFull(c, b[:])
	return err == nil && string(b[:]) == "HTTP/"
}

// notMember reports whether a failed join of addr reached something that
// is not a gossip member. msg is memberlist's error. An address nobody
// answers at, or one that timed out, may yet become a member; one that
// answers HTTP, or with bytes that are not memberlist's, will not.
func (n *Node) notMember(addr, msg string) bool {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "received invalid msgtype"):
		return true
	case n.cfg.Transport != nil, // a simulated network: no TCP to probe
		strings.Contains(lower, "failed to resolve"),
		strings.Contains(lower, "dial "),
		strings.Contains(lower, "timeout"),
		strings.Contains(lower, "remote error"): // a member, which refused us
		return false
	}
	return speaksHTTP(addr)
}
