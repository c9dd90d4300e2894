package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrInvalidConfig is wrapped by the error that Start returns for a Config
// it cannot use.
var ErrInvalidConfig = errors.New("membership: invalid config")

// Config configures a Node. Start from DefaultConfig and set Meta, plus
// BindAddr and Secret as the deployment needs.
//
// The timing defaults are tuned for a LAN or a single host, where a round
// trip takes well under a millisecond: a node that dies without a word
// (SIGKILL, power loss) is declared Failed by the others in about 2.5 s
// (2–3.5 s; measured on loopback by TestLoopbackFailureDetection), a Meta
// change reaches a ten-node cluster in a few hundred milliseconds, and a
// healed partition reconverges within ReconnectInterval plus a push/pull.
// The price is one small UDP probe per node every ProbeInterval and a gossip
// packet every GossipInterval while there is news.
type Config struct {
	// Name is the node's name, unique in the cluster. Empty means
	// hostname-xxxxxxxx with a random suffix, chosen at Start, so that a
	// restarted process is a new member.
	Name string
	// BindAddr is the host:port to listen on for gossip, over both TCP and
	// UDP; port 0 picks a free port. The host must be an IP address.
	// With Transport set, only its port is used: as the port of Join
	// addresses given without one.
	BindAddr string
	// AdvertiseAddr is the host:port other nodes should use to reach this
	// one; empty means the bound address (for 0.0.0.0, a private IP of the
	// host). When BindAddr asked for port 0, the bound port is advertised.
	AdvertiseAddr string
	// Meta is what this node tells the others about itself.
	Meta Meta
	// Keys, when set, encrypt and authenticate all gossip with AES-GCM:
	// the first key encrypts, every key is tried on what arrives (a key
	// being rotated in or out), and nothing unencrypted is accepted. Nodes
	// without a shared key can neither join nor read the cluster's traffic.
	// Each key is 16, 24 or 32 bytes (trust.Creds' GossipKeys).
	Keys [][]byte
	// Transport carries the gossip; nil means the real UDP/TCP network on
	// BindAddr. Tests use simnet.
	Transport memberlist.NodeAwareTransport
	// Logger receives memberlist's log lines at their levels; nil discards
	// them.
	Logger *slog.Logger

	// ProbeInterval is how often a node probes one other node, round robin.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes start; it must be below ProbeInterval.
	ProbeTimeout time.Duration
	// GossipInterval is how often news (joins, Meta changes, suspicions) is
	// sent to a few random nodes, on top of what rides on probes.
	GossipInterval time.Duration
	// PushPullInterval is how often a node syncs its full state with one
	// random node over TCP, repairing whatever gossip missed.
	PushPullInterval time.Duration
	// TCPTimeout bounds a stream dial and each read and write on it (join,
	// push/pull, TCP fallback probes).
	TCPTimeout time.Duration
	// SuspicionMult scales how long a node stays suspect before it is
	// declared Failed: SuspicionMult × max(1, log10(N)) × ProbeInterval.
	SuspicionMult int
	// SuspicionMaxTimeoutMult caps the suspicion time, as a multiple of the
	// above, when too few peers confirm the suspicion (a node cut off from
	// most of the cluster).
	SuspicionMaxTimeoutMult int
	// IndirectChecks is how many peers are asked to probe a node that did
	// not answer a direct probe.
	IndirectChecks int
	// RetransmitMult scales how many times a piece of news is gossiped:
	// RetransmitMult × ceil(log10(N+1)).
	RetransmitMult int
	// DeadNodeReclaimTime is how long after a member was declared Failed a
	// node with the same name but another address may take its place.
	DeadNodeReclaimTime time.Duration
	// ReconnectInterval is how often a node tries to rejoin one member it
	// saw fail, round robin; 0 disables it. memberlist alone never contacts
	// a member it declared dead, so without this the two sides of a healed
	// partition would stay apart.
	ReconnectInterval time.Duration
	// ReconnectTimeout is how long a failed member is retried before it is
	// forgotten.
	ReconnectTimeout time.Duration
}

// DefaultConfig returns the LAN-tuned defaults described on Config: a node
// killed without a word is declared Failed by the others in about 2.5 s.
func DefaultConfig() Config {
	return Config{
		Name:     "",                      // hostname-xxxxxxxx, chosen at Start
		BindAddr: "0.0.0.0:7946",          // every interface, memberlist's customary port
		Logger:   nil,                     // discard
		Meta:     Meta{State: StateAlive}, // Role must be set by the caller

		// A dead node is probed within about one interval (each survivor
		// probes one peer per interval, round robin); the probe fails at the
		// end of that interval; then it is suspect for 3 × 500 ms = 1.5 s
		// (N ≤ 10) before it is declared Failed: 2–3.5 s in all.
		ProbeInterval: 500 * time.Millisecond, // twice memberlist's LAN rate: detection in seconds, one tiny packet per node per 0.5 s
		ProbeTimeout:  250 * time.Millisecond, // a LAN round trip is < 1 ms; the slack absorbs GC pauses and busy 2-core hosts
		SuspicionMult: 3,                      // 1.5 s of suspicion for up to 10 nodes, 3 probe rounds for a live node to refute
		// With peers confirming, suspicion ends at the base time above; a
		// node cut off from its peers waits up to 4× as long (6 s) before
		// declaring others dead, which avoids a lonely node condemning the
		// cluster too fast.
		SuspicionMaxTimeoutMult: 4,

		GossipInterval:   100 * time.Millisecond, // news reaches 3 random nodes every 100 ms: a Meta change crosses 10 nodes in ~300 ms
		PushPullInterval: 10 * time.Second,       // full sync every 10 s (memberlist: 30 s): repairs lost gossip quickly, cheap at tens of nodes
		TCPTimeout:       2 * time.Second,        // LAN connects take ms; 2 s tolerates a loaded host yet fails a dead seed fast in Join
		IndirectChecks:   3,                      // memberlist's LAN value: 3 peers vouch before a node is suspected
		RetransmitMult:   4,                      // memberlist's LAN value: each piece of news is sent 4 × ceil(log10(N+1)) times

		DeadNodeReclaimTime: 2 * time.Second,  // a worker restarted at a new address under its old name rejoins ~2 s after its old self is declared Failed
		ReconnectInterval:   2 * time.Second,  // a healed partition reconverges within ~2 s plus one push/pull
		ReconnectTimeout:    10 * time.Minute, // long enough to outlast a network blip or a reboot, bounded so dead spot nodes are forgotten
	}
}

// withDefaults fills the fields whose zero value means "the default".
func (c Config) withDefaults() Config {
	if c.Name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "sluice"
		}
		c.Name = fmt.Sprintf("%s-%08x", host, rand.Uint32())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Transport == nil {
		if _, _, err := splitIPPort(c.BindAddr); err != nil {
			return bad("BindAddr %q: %v", c.BindAddr, err)
		}
	}
	for i, k := range c.Keys {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return bad("Keys[%d] is %d bytes, want 16, 24 or 32", i, n)
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitIPPort(c.AdvertiseAddr); err != nil {
			return bad("AdvertiseAddr %q: %v", c.AdvertiseAddr, err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval},
		{"PushPullInterval", c.PushPullInterval},
		{"TCPTimeout", c.TCPTimeout},
		{"ReconnectTimeout", c.ReconnectTimeout},
	} {
		if d.v <= 0 {
			return bad("%s is %v, want > 0 (start from DefaultConfig)", d.name, d.v)
		}
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return bad("ProbeTimeout %v must be below ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.DeadNodeReclaimTime < 0 || c.ReconnectInterval < 0 {
		return bad("DeadNodeReclaimTime %v and ReconnectInterval %v must not be negative", c.DeadNodeReclaimTime, c.ReconnectInterval)
	}
	for _, m := range []struct {
		name string
		v    int
	}{
		{"SuspicionMult", c.SuspicionMult},
		{"SuspicionMaxTimeoutMult", c.SuspicionMaxTimeoutMult},
		{"IndirectChecks", c.IndirectChecks},
		{"RetransmitMult", c.RetransmitMult},
	} {
		if m.v < 1 {
			return bad("%s is %d, want ≥ 1 (start from DefaultConfig)", m.name, m.v)
		}
	}
	return nil
}

// splitIPPort parses "ip:port".
func splitIPPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, port, nil
}

// memberlistConfig translates c (validated) for memberlist.
func (c Config) memberlistConfig(d *delegate) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	if c.Transport != nil {
		mc.Transport = c.Transport
	}
	if host, port, err := splitIPPort(c.BindAddr); err == nil {
		// With a Transport the port still serves as the default port of
		// Join addresses given without one.
		mc.BindAddr, mc.BindPort = host, port
		mc.AdvertisePort = port
	}
	if c.AdvertiseAddr != "" {
		host, port, _ := splitIPPort(c.AdvertiseAddr)
		mc.AdvertiseAddr, mc.AdvertisePort = host, port
	}
	if len(c.Keys) > 0 {
		// validate checked the key sizes, which is all NewKeyring checks.
		mc.Keyring, _ = memberlist.NewKeyring(c.Keys[1:], c.Keys[0])
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.GossipInterval = c.GossipInterval
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.SuspicionMaxTimeoutMult = c.SuspicionMaxTimeoutMult
	mc.IndirectChecks = c.IndirectChecks
	mc.RetransmitMult = c.RetransmitMult
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	mc.Delegate = d
	mc.Events = d
	mc.Conflict = d
	mc.Logger = log.New(io.Discard, "", 0)
	if c.Logger.Enabled(context.Background(), slog.LevelError) {
		mc.Logger = log.New(newLogWriter(c.Logger), "", 0)
	}
	return mc
}
