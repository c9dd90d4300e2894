package membership

import (
	"fmt"
	"net"
)

// LocalIPFor returns the address of this host that the kernel would use
// to reach addr (host:port): the one to advertise when listening on every
// interface. It sends nothing: connecting a UDP socket only picks a route.
func LocalIPFor(addr string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", fmt.Errorf("membership: no route to %s: %w", addr, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// IsUnspecified reports whether host:port listens on every interface
// (0.0.0.0 or ::), which is no address to give others.
func IsUnspecified(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return h == "" || (ip != nil && ip.IsUnspecified())
}
