package rdd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/task"
	"github.com/sluicehq/sluice/internal/units"
)

// ErrBroadcast is wrapped by every error about a Broadcast's value.
var ErrBroadcast = errors.New("rdd: broadcast")

// Bounds on broadcast values, counted in encoded bytes.
const (
	// MaxBroadcast bounds one value: it crosses to each executor in one
	// RPC response, bounded at 64 MiB.
	MaxBroadcast = 32 << 20
	// MaxBroadcasts bounds the values one driver process holds at once
	// (release them with Destroy or by closing the session), and those
	// an executor keeps: past it an executor forgets the least recently
	// used and fetches it again if a task needs it.
	MaxBroadcasts = 512 << 20
)

// broadcastFetchTimeout bounds an executor's fetch of one value.
const broadcastFetchTimeout = 2 * time.Minute

// Broadcast is a read-only value computed by the driver at run time and
// shipped to executors once each, the sanctioned way to use driver-computed
// data in user functions (Spark's broadcast variables). It is a small
// handle (an id and the value's digest) that encodes as part of a Func's
// argument; Value returns the value in the driver and in every executor.
//
//	type args struct {
//		Paths []string
//		Stop  rdd.Broadcast[map[string]bool]
//	}
//	var count = rdd.Func(func(a args) *rdd.RDD[string] {
//		return rdd.Filter(rdd.TextFile(a.Paths...), func(w string) bool { return !a.Stop.Value()[w] })
//	})
//
//	stop, err := rdd.NewBroadcast(s, stopWords) // in the driver
//	words, err := rdd.Collect(ctx, s, count.Invoke(args{paths, stop}))
//
// An executor fetches the value from the driver the first time one of its
// tasks calls Value, checks its digest, decodes it once and keeps it for
// every later task: do not modify what Value returns. The zero Broadcast
// has no value.
type Broadcast[T any] struct {
	id     string
	digest string
}

// broadcastWire is a Broadcast's encoding.
type broadcastWire struct {
	ID     string `msgpack:"id"`
	Digest string `msgpack:"digest"`
}

var broadcastCodec = codec.For[broadcastWire]()

// broadcasts holds this process's broadcast values, by id: in a driver
// those it created (owned), in an executor those its tasks fetched. A
// handle decoded from a Func's argument carries only the id, and user
// functions get no context to find the value through, so the values live
// here, in one table per process, like the Func registry.
var broadcasts struct {
	sync.Mutex
	byID   map[string]*broadcastEntry
	owned  int64  // bytes of values created here
	cached int64  // bytes of values fetched here
	clock  uint64 // for least recently used
}

type broadcastEntry struct {
	id, digest string
	size       int64
	owner      Runner // nil for a fetched value
	lastUse    uint64

	mu      sync.Mutex // held while fetching and decoding
	data    []byte     // the encoding: kept by the owner, to serve it
	value   any
	decoded bool
}

// NewBroadcast makes a Broadcast of v, for jobs that run sets: v is
// encoded now (later changes to it do not cross) and served to run's
// executors until Destroy or until run closes. T must survive encoding
// exactly, as an element type must, and v's encoding may be at most
// MaxBroadcast bytes.
func NewBroadcast[T any](run Runner, v T) (Broadcast[T], error) {
	if run == nil {
		return Broadcast[T]{}, fmt.Errorf("%w: NewBroadcast needs the session (a Runner) that serves the value", ErrBroadcast)
	}
	if task.BroadcastFetcherOf() != nil {
		return Broadcast[T]{}, fmt.Errorf("%w: NewBroadcast called in an executor: create Broadcasts in the driver and pass them in a Func's argument", ErrBroadcast)
	}
	t := reflect.TypeFor[T]()
	if err := codec.Check(t); err != nil {
		return Broadcast[T]{}, fmt.Errorf("%w of %v: %w", ErrBroadcast, t, roled(err, "value"))
	}
	c := codec.For[T]()
	data, err := encodeValue(c, v)
	if err != nil {
		return Broadcast[T]{}, fmt.Errorf("%w of %v: encoding the value: %w", ErrBroadcast, t, err)
	}
	if len(data) > MaxBroadcast {
		return Broadcast[T]{}, fmt.Errorf("%w of %v: the value is %s encoded, over the %s a Broadcast may be: broadcast a smaller value, or make it a dataset and join with it", ErrBroadcast, t, units.FormatBytes(int64(len(data))), units.FormatBytes(MaxBroadcast))
	}
	dv, err := c.Decode(data)
	if err != nil {
		return Broadcast[T]{}, fmt.Errorf("%w of %v: the value does not decode: %w", ErrBroadcast, t, err)
	}
	var raw [16]byte
	rand.Read(raw[:])
	sum := sha256.Sum256(data)
	e := &broadcastEntry{id: hex.EncodeToString(raw[:]), digest: hex.EncodeToString(sum[:]), size: int64(len(data)),
		owner: run, data: data, value: dv, decoded: true}

	broadcasts.Lock()
	defer broadcasts.Unlock()
	if broadcasts.owned+e.size > MaxBroadcasts {
		return Broadcast[T]{}, fmt.Errorf("%w of %v: this driver holds %s of broadcast values, and %s more would pass %s: Destroy those no job needs", ErrBroadcast, t,
			units.FormatBytes(broadcasts.owned), units.FormatBytes(e.size), units.FormatBytes(MaxBroadcasts))
	}
	if broadcasts.byID == nil {
		broadcasts.byID = map[string]*broadcastEntry{}
	}
	broadcasts.byID[e.id] = e
	broadcasts.owned += e.size
	return Broadcast[T]{id: e.id, digest: e.digest}, nil
}

// Value returns the broadcast value. In an executor the first call
// fetches it from the driver (once per executor, whatever the number of
// tasks and goroutines that ask); every call returns the same decoded
// value, which must not be modified. Value panics, failing the task, when
// the value cannot be had: the zero Broadcast, a Broadcast destroyed or
// made by another driver process, a value whose digest does not match.
func (b Broadcast[T]) Value() T {
	v, err := b.value()
	if err != nil {
		panic(err)
	}
	return v
}

func (b Broadcast[T]) value() (T, error) {
	var zero T
	if b.id == "" {
		return zero, Permanent(fmt.Errorf("%w: the zero Broadcast has no value: make Broadcasts with rdd.NewBroadcast", ErrBroadcast))
	}
	fetch := task.BroadcastFetcherOf()
	broadcasts.Lock()
	e := broadcasts.byID[b.id]
	if e == nil && fetch != nil {
		e = &broadcastEntry{id: b.id, digest: b.digest}
		if broadcasts.byID == nil {
			broadcasts.byID = map[string]*broadcastEntry{}
		}
		broadcasts.byID[b.id] = e
	}
	if e != nil {
		broadcasts.clock++
		e.lastUse = broadcasts.clock
	}
	broadcasts.Unlock()
	if e == nil {
		return zero, Permanent(fmt.Errorf("%w %s has no value in this process: it was destroyed, or made by another driver process or session; make Broadcasts with rdd.NewBroadcast in the driver that runs the job", ErrBroadcast, b.id))
	}
	if e.digest != b.digest {
		return zero, Permanent(fmt.Errorf("%w %s: the handle's digest %.16s differs from the value's %.16s", ErrBroadcast, b.id, b.digest, e.digest))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.decoded {
		data := e.data
		if data == nil {
			var err error
			if data, err = fetchBroadcast(fetch, b.id, b.digest); err != nil {
				return zero, err
			}
		}
		v, err := codec.For[T]().Decode(data)
		if err != nil {
			return zero, Permanent(fmt.Errorf("%w %s: decoding the value as %v: %w", ErrBroadcast, b.id, reflect.TypeFor[T](), err))
		}
		e.value, e.decoded, e.size = v, true, int64(len(data))
		if e.owner == nil {
			cacheFetched(e)
		}
	}
	v, ok := e.value.(T)
	if !ok {
		return zero, Permanent(fmt.Errorf("%w %s holds a %T, not a %v", ErrBroadcast, b.id, e.value, reflect.TypeFor[T]()))
	}
	return v, nil
}

// fetchBroadcast fetches a value from the driver and checks it.
func fetchBroadcast(fetch task.BroadcastFetcher, id, digest string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), broadcastFetchTimeout)
	defer cancel()
	data, err := fetch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w %s: fetching the value from the driver: %w", ErrBroadcast, id, err)
	}
	if len(data) > MaxBroadcast {
		return nil, fmt.Errorf("%w %s: the driver sent %d bytes, over MaxBroadcast", ErrBroadcast, id, len(data))
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("%w %s: the value fetched from the driver does not match its digest", ErrBroadcast, id)
	}
	return data, nil
}

// cacheFetched counts a value just fetched into the executor's bound and
// forgets the least recently used others past it. A task that holds a
// forgotten value keeps it; the next Value fetches it again.
func cacheFetched(e *broadcastEntry) {
	broadcasts.Lock()
	defer broadcasts.Unlock()
	broadcasts.cached += e.size
	evictPast(MaxBroadcasts, e)
}

// evictPast forgets fetched values other than keep, least recently used
// first, until those kept hold at most limit bytes. The caller holds
// broadcasts' lock.
func evictPast(limit int64, keep *broadcastEntry) {
	for broadcasts.cached > limit {
		var old *broadcastEntry
		for _, o := range broadcasts.byID {
			if o != keep && o.owner == nil && o.size > 0 && (old == nil || o.lastUse < old.lastUse) {
				old = o
			}
		}
		if old == nil {
			return
		}
		delete(broadcasts.byID, old.id)
		broadcasts.cached -= old.size
	}
}

// Destroy releases the driver's copy of the value: a job that uses b
// afterwards fails. Executors forget their copies as they need room.
func (b Broadcast[T]) Destroy() {
	broadcasts.Lock()
	defer broadcasts.Unlock()
	if e := broadcasts.byID[b.id]; e != nil && e.owner != nil {
		delete(broadcasts.byID, b.id)
		broadcasts.owned -= e.size
	}
}

// MarshalMsgpack encodes the handle: the id and digest, never the value.
func (b Broadcast[T]) MarshalMsgpack() ([]byte, error) {
	return broadcastCodec.Append(nil, broadcastWire{ID: b.id, Digest: b.digest}), nil
}

// UnmarshalMsgpack decodes a handle that MarshalMsgpack encoded.
func (b *Broadcast[T]) UnmarshalMsgpack(data []byte) error {
	w, err := broadcastCodec.Decode(data)
	if err != nil {
		return err
	}
	if w.ID == "" && w.Digest == "" {
		*b = Broadcast[T]{}
		return nil
	}
	if !isHex(w.ID, 32) || !isHex(w.Digest, 64) {
		return fmt.Errorf("%w: a handle with a malformed id or digest", ErrBroadcast)
	}
	*b = Broadcast[T]{id: w.ID, digest: w.Digest}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// broadcastData serves a value that owner created, to its executors.
func broadcastData(owner any, id string) ([]byte, error) {
	broadcasts.Lock()
	defer broadcasts.Unlock()
	e := broadcasts.byID[id]
	if e == nil || e.owner == nil || any(e.owner) != owner {
		return nil, fmt.Errorf("%w %s: no such value in this session (destroyed, or made by another session)", ErrBroadcast, id)
	}
	return e.data, nil
}

// releaseBroadcasts drops every value owner created: its session closed.
func releaseBroadcasts(owner any) {
	broadcasts.Lock()
	defer broadcasts.Unlock()
	for id, e := range broadcasts.byID {
		if e.owner != nil && any(e.owner) == owner {
			delete(broadcasts.byID, id)
			broadcasts.owned -= e.size
		}
	}
}
