package simnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrAddrInUse is returned by Network.Transport for an address that a live
// transport already holds.
var ErrAddrInUse = errors.New("simnet: address already in use")

// ErrBadAddr is returned by Network.Transport for an address that is not an
// IP and a port.
var ErrBadAddr = errors.New("simnet: bad address")

// ErrRefused is returned by a dial to an address where no transport listens,
// or whose accept queue is full.
var ErrRefused = errors.New("simnet: connection refused")

// ErrUnreachable is returned by a dial from or to a crashed node, or across a
// partition.
var ErrUnreachable = errors.New("simnet: host unreachable")

// ErrReset is returned by reads and writes on a stream that a crash or a
// partition broke.
var ErrReset = errors.New("simnet: connection reset")

// ErrShutdown is returned by a transport that was shut down.
var ErrShutdown = errors.New("simnet: transport shut down")

// Sizes of a transport's receive queues. Packets beyond packetQueue are
// dropped, as a full socket buffer drops datagrams; dials beyond acceptQueue
// are refused, as a full listen backlog refuses connections.
const (
	packetQueue = 512
	acceptQueue = 64
)

// Stats counts the packets a Network has carried.
type Stats struct {
	Sent      uint64 // packets handed to WriteTo by a live transport
	Delivered uint64 // packets put in a receiver's queue
	Dropped   uint64 // packets lost to a fault: Drop, Partition, Crash, or no such address
	Overflow  uint64 // packets lost because the receiver's queue was full
}

// Network is a seeded in-memory network that connects the transports it
// hands out. All its methods are safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	rng      *rand.Rand
	nodes    map[string]*Transport // live transports by address
	crashed  map[string]bool
	cuts     map[[2]string]bool // ordered pairs with no traffic between them
	streams  map[*link]bool     // open streams, to break on crash or partition
	dropRate float64
	delay    time.Duration
	stats    Stats
}

// link is an open stream between two addresses.
type link struct {
	a, b   string
	ta, tb *Transport
	ca     *conn
	closed int // how many of the two ends have been closed
}

// New returns an empty network whose random choices (packet loss) all come
// from seed. For a given seed and the same sequence of sends the same packets
// are lost; goroutine scheduling still decides the order in which concurrent
// senders draw.
func New(seed uint64) *Network {
	return &Network{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:   make(map[string]*Transport),
		crashed: make(map[string]bool),
		cuts:    make(map[[2]string]bool),
		streams: make(map[*link]bool),
	}
}

// Transport returns a transport bound to addr, an IP and a port such as
// "10.0.0.1:7946" that is never dialled for real. The address may be reused
// once the transport holding it has been shut down, as a restarted process
// binds its old port; a crash (Crash) does not free it.
func (n *Network) Transport(addr string) (*Transport, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadAddr, addr, err)
	}
	ip := net.ParseIP(host)
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("%w %q: want IP:port with a port in 1..65535", ErrBadAddr, addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[addr]; ok {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	}
	t := &Transport{
		net:      n,
		addr:     addr,
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, packetQueue),
		streamCh: make(chan net.Conn, acceptQueue),
	}
	n.nodes[addr] = t
	return t, nil
}

// Drop makes each packet lost with probability rate (0 ≤ rate ≤ 1), drawn
// from the network's seed. Streams are reliable and are not affected.
func (n *Network) Drop(rate float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate = min(max(rate, 0), 1)
}

// Delay adds latency d to every packet sent from now on. The sender never
// waits: delivery is scheduled on a timer. Streams are not delayed.
func (n *Network) Delay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay = max(d, 0)
}

// Partition stops all traffic between every address in a and every address
// in b, in both directions: packets are lost, dials fail and open streams
// between the groups are broken. Partitions accumulate until Heal.
func (n *Network) Partition(a, b []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			if x != y {
				n.cuts[[2]string{x, y}] = true
				n.cuts[[2]string{y, x}] = true
			}
		}
	}
	for l := range n.streams {
		if n.cuts[[2]string{l.a, l.b}] {
			n.breakLocked(l)
		}
	}
}

// Heal removes every partition. It does not undo Drop, Delay or Crash.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
}

// Crash makes the node at addr fall silent, as if its process hung or its
// host lost power: it sends and receives nothing, packets queued for it are
// lost, dials from and to it fail, and its open streams are broken. The
// transport stays bound, so whatever runs on it keeps running, blind. The
// mark is on the address: a new transport there is crashed too until
// Restart.
func (n *Network) Crash(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.crashed[addr] = true
	for l := range n.streams {
		if l.a == addr || l.b == addr {
			n.breakLocked(l)
		}
	}
	if t := n.nodes[addr]; t != nil {
		// Only deliver adds to the queue, and it holds n.mu, so this ends.
	drain:
		for {
			select {
			case <-t.packetCh:
				n.stats.Dropped++
			default:
				break drain
			}
		}
	}
}

// Restart undoes Crash: the node at addr sends and receives again. To model a
// process restart rather than a revived host, shut the old transport down
// and take a new one for the same address.
func (n *Network) Restart(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.crashed, addr)
}

// Stats returns the packet counters so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// blockedLocked reports whether traffic from src to dst is stopped by a crash
// or a partition.
func (n *Network) blockedLocked(src, dst string) bool {
	return n.crashed[src] || n.crashed[dst] || n.cuts[[2]string{src, dst}]
}

// send carries one packet from t to dst.
func (n *Network) send(t *Transport, b []byte, dst string) (time.Time, error) {
	now := time.Now()
	n.mu.Lock()
	if t.shut {
		n.mu.Unlock()
		return now, fmt.Errorf("write to %s from %s: %w", dst, t.addr, ErrShutdown)
	}
	n.stats.Sent++
	to := n.nodes[dst]
	if to == nil || n.blockedLocked(t.addr, dst) || (n.dropRate > 0 && n.rng.Float64() < n.dropRate) {
		// A datagram to nowhere is lost silently, as UDP's is.
		n.stats.Dropped++
		n.mu.Unlock()
		return now, nil
	}
	delay := n.delay
	n.mu.Unlock()

	pkt := &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.udpAddr()}
	if delay == 0 {
		n.deliver(t.addr, to, pkt)
	} else {
		time.AfterFunc(delay, func() { n.deliver(t.addr, to, pkt) })
	}
	return now, nil
}

// deliver queues pkt at to unless a fault that began while it was in flight
// stops it; it never blocks.
func (n *Network) deliver(src string, to *Transport, pkt *memberlist.Packet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if to.shut || n.crashed[to.addr] || n.cuts[[2]string{src, to.addr}] {
		n.stats.Dropped++
		return
	}
	pkt.Timestamp = time.Now()
	select {
	case to.packetCh <- pkt:
		n.stats.Delivered++
	default:
		n.stats.Overflow++
	}
}

// dial opens a stream from t to dst.
func (n *Network) dial(t *Transport, dst string) (net.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch to := n.nodes[dst]; {
	case t.shut:
		return nil, fmt.Errorf("dial %s from %s: %w", dst, t.addr, ErrShutdown)
	case n.blockedLocked(t.addr, dst):
		return nil, fmt.Errorf("dial %s from %s: %w", dst, t.addr, ErrUnreachable)
	case to == nil:
		return nil, fmt.Errorf("dial %s from %s: %w", dst, t.addr, ErrRefused)
	default:
		ca, cb := newConnPair(t.tcpAddr(), to.tcpAddr())
		l := &link{a: t.addr, b: dst, ta: t, tb: to, ca: ca}
		ca.onClose = func() { n.closed(l) }
		cb.onClose = func() { n.closed(l) }
		select {
		case to.streamCh <- cb:
		default:
			return nil, fmt.Errorf("dial %s from %s: accept queue full: %w", dst, t.addr, ErrRefused)
		}
		n.streams[l] = true
		return ca, nil
	}
}

// closed records that one end of l was closed and forgets l once both are.
func (n *Network) closed(l *link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l.closed++
	if l.closed == 2 {
		delete(n.streams, l)
	}
}

// breakLocked fails both ends of l; it stays in n.streams until both ends
// are closed, which its users do on the error.
func (n *Network) breakLocked(l *link) {
	l.ca.breakWith(fmt.Errorf("stream %s↔%s: %w", l.a, l.b, ErrReset))
}

// shutdown detaches t from the network and breaks its streams.
func (n *Network) shutdown(t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.shut {
		return
	}
	t.shut = true
	if n.nodes[t.addr] == t {
		delete(n.nodes, t.addr)
	}
	for l := range n.streams {
		if l.ta == t || l.tb == t {
			n.breakLocked(l)
		}
	}
}
