package simnet

import (
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is one node's attachment to a Network; it implements
// memberlist.NodeAwareTransport. Packets addressed to it wait in a bounded
// queue (PacketCh) and incoming streams in another (StreamCh).
type Transport struct {
	net      *Network
	addr     string
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	shut     bool // guarded by net.mu
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Addr returns the address the transport is bound to.
func (t *Transport) Addr() string { return t.addr }

func (t *Transport) udpAddr() net.Addr { return &net.UDPAddr{IP: t.ip, Port: t.port} }
func (t *Transport) tcpAddr() net.Addr { return &net.TCPAddr{IP: t.ip, Port: t.port} }

// FinalAdvertiseAddr returns the transport's own address whatever was asked:
// an in-memory node has nothing else to advertise.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends a packet to addr. It never blocks; a packet that a fault or a
// full queue stops is lost silently, as a UDP datagram is.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.net.send(t, b, addr)
}

// WriteToAddress is WriteTo by memberlist.Address; the node name is ignored.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.net.send(t, b, a.Addr)
}

// PacketCh returns the queue of packets received.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens a stream to addr. It fails at once, never after the
// timeout, when the peer is missing, crashed or partitioned away.
func (t *Transport) DialTimeout(addr string, _ time.Duration) (net.Conn, error) {
	return t.net.dial(t, addr)
}

// DialAddressTimeout is DialTimeout by memberlist.Address; the node name is
// ignored.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh returns the queue of incoming streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown detaches the transport: its address becomes free, its streams
// are broken and its sends fail. It is safe to call more than once.
func (t *Transport) Shutdown() error {
	t.net.shutdown(t)
	return nil
}
