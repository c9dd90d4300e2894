package membership

import (
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"

	"github.com/sluicehq/sluice/internal/codec"
)

// Roles a member can have.
const (
	RoleCore   = "core"   // RoleCore is a worker that runs tasks and keeps data that must survive.
	RoleTask   = "task"   // RoleTask is a worker that runs tasks only and may vanish at any moment.
	RoleDriver = "driver" // RoleDriver is a user's driver program; it is never given tasks.
	// RoleUnknown is what Members and Events report for a member whose
	// metadata could not be decoded (another program on the port, or a
	// corrupt or incompatible encoding). Treat it as "not a worker".
	RoleUnknown = "unknown"
)

// States a member can be in.
const (
	StateAlive    = "alive"    // StateAlive is a member that takes new work.
	StateDraining = "draining" // StateDraining is a member that takes no new tasks and is about to leave.
)

// ErrMetaTooLarge is wrapped by the error that Start and UpdateMeta return
// when the encoded Meta exceeds memberlist.MetaMaxSize.
var ErrMetaTooLarge = errors.New("membership: meta too large")

// ErrInvalidMeta is wrapped by the error that Start and UpdateMeta return for
// a Meta with a missing or unknown role or state.
var ErrInvalidMeta = errors.New("membership: invalid meta")

// Meta is the metadata a node gossips about itself. It travels in every
// memberlist alive message, so it must stay small: its msgpack encoding
// (short keys) must fit in memberlist.MetaMaxSize (512) bytes.
type Meta struct {
	Role    string `msgpack:"r"`           // RoleCore, RoleTask or RoleDriver (RoleUnknown when undecodable)
	State   string `msgpack:"s"`           // StateAlive or StateDraining; empty means StateAlive
	Slots   int    `msgpack:"n"`           // task slots the node offers
	RPC     string `msgpack:"a"`           // host:port of the node's HTTP server (RPC and shuffle fetch)
	Version string `msgpack:"v"`           // build version of the node
	App     string `msgpack:"p,omitempty"` // a driver's application id; empty for workers
	LowDisk bool   `msgpack:"d,omitempty"` // a worker whose --dir is nearly full: it takes no new map tasks
}

// normalize fills defaults and checks m.
func (m Meta) normalize() (Meta, error) {
	if m.State == "" {
		m.State = StateAlive
	}
	switch m.Role {
	case RoleCore, RoleTask, RoleDriver:
	default:
		return m, fmt.Errorf("%w: role %q, want %q, %q or %q", ErrInvalidMeta, m.Role, RoleCore, RoleTask, RoleDriver)
	}
	switch m.State {
	case StateAlive, StateDraining:
	default:
		return m, fmt.Errorf("%w: state %q, want %q or %q", ErrInvalidMeta, m.State, StateAlive, StateDraining)
	}
	if m.Slots < 0 {
		return m, fmt.Errorf("%w: %d slots, want 0 or more", ErrInvalidMeta, m.Slots)
	}
	return m, nil
}

// wireMeta is Meta as gossiped, with two fields for this package's own use.
//
// Instance is a random number a Node draws at Start. A member restarted
// under the same name comes back with a new Instance; when a receiver sees it
// change without having seen the member go, it reports Failed (for the old
// process, whose tasks and data are gone) then Joined.
//
// Leaving is set by Leave just before memberlist's leave message goes out:
// memberlist tells its event delegate that a node is gone but not whether it
// left or died, so receivers tell Left from Failed by the last Meta they
// heard from the node.
type wireMeta struct {
	Meta     `msgpack:",inline"`
	Instance uint64 `msgpack:"i,omitempty"`
	Leaving  bool   `msgpack:"l,omitempty"`
}

// encode checks and normalizes w.Meta and returns w's wire form.
func (w wireMeta) encode() (wireMeta, []byte, error) {
	var err error
	if w.Meta, err = w.Meta.normalize(); err != nil {
		return w, nil, err
	}
	// The size is checked with Leaving set, so that Leave cannot overflow.
	worst := w
	worst.Leaving = true
	c := codec.For[wireMeta]()
	b, err := encodeWith(c, worst)
	if err != nil {
		return w, nil, fmt.Errorf("membership: encode meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return w, nil, fmt.Errorf("%w: %d bytes encoded, over memberlist's %d-byte limit; shorten RPC, Version or App",
			ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	if !w.Leaving {
		if b, err = encodeWith(c, w); err != nil {
			return w, nil, fmt.Errorf("membership: encode meta: %w", err)
		}
	}
	return w, b, nil
}

// encodeWith encodes w with the codec decodeMeta decodes with, turning its
// panic on an unencodable value into an error.
func encodeWith(c codec.Codec[wireMeta], w wireMeta) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return c.Append(nil, w), nil
}

// decodeMeta decodes a member's metadata with c (codec.For[wireMeta]()); it
// never panics on malformed input, and on error returns a Meta with role
// RoleUnknown. memberlist does not bound the metadata it receives, so
// anything longer than a node may send is refused unread, and c checks
// every length the bytes claim against the bytes present before the
// msgpack library allocates for it (the library would otherwise allocate
// up to 1 MiB for a string header of a few bytes).
func decodeMeta(c codec.Codec[wireMeta], b []byte) (wireMeta, error) {
	unknown := wireMeta{Meta: Meta{Role: RoleUnknown, State: StateAlive}}
	if len(b) == 0 {
		return unknown, errors.New("no metadata")
	}
	if len(b) > memberlist.MetaMaxSize {
		return unknown, fmt.Errorf("%d bytes of metadata, over memberlist's %d-byte limit", len(b), memberlist.MetaMaxSize)
	}
	w, err := c.Decode(b)
	if err != nil {
		return unknown, err
	}
	if w.Role == "" {
		w.Role = RoleUnknown
	}
	if w.State == "" {
		w.State = StateAlive
	}
	return w, nil
}
