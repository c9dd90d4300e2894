package membership

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/fuzztest"
)

func TestMetaRoundTrip(t *testing.T) {
	c := codec.For[wireMeta]()
	for _, m := range []Meta{
		{Role: RoleCore, State: StateAlive, Slots: 16, RPC: "10.1.2.3:7070", Version: "v0.4.1"},
		{Role: RoleTask, State: StateDraining, Slots: 2, RPC: "[fd00::1]:7070", Version: "devel"},
		{Role: RoleDriver, State: StateAlive, Version: "v0.4.1", App: "app-20250101-abcdef"},
	} {
		for _, leaving := range []bool{false, true} {
			w := wireMeta{Meta: m, Instance: 0xfedcba9876543211, Leaving: leaving}
			_, b, err := w.encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeMeta(c, b)
			if err != nil || got != w {
				t.Errorf("decode(encode(%+v)) = %+v, %v", w, got, err)
			}
			t.Logf("%s meta, leaving=%v: %d bytes", m.Role, leaving, len(b))
		}
	}
}

func TestMetaDefaultsAndChecks(t *testing.T) {
	m, err := Meta{Role: RoleCore}.normalize()
	if err != nil || m.State != StateAlive {
		t.Errorf("normalize of a Meta without State = %+v, %v; want state alive", m, err)
	}
	for _, bad := range []Meta{{}, {Role: "worker"}, {Role: RoleCore, State: "dead"}, {Role: RoleCore, Slots: -1}} {
		if _, _, err := (wireMeta{Meta: bad}).encode(); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("encode(%+v) = %v, want ErrInvalidMeta", bad, err)
		}
	}
}

func TestMetaTooLarge(t *testing.T) {
	m := Meta{Role: RoleCore, RPC: strings.Repeat("x", memberlist.MetaMaxSize)}
	_, _, err := wireMeta{Meta: m}.encode()
	if !errors.Is(err, ErrMetaTooLarge) || !strings.Contains(err.Error(), strconv.Itoa(memberlist.MetaMaxSize)) {
		t.Fatalf("encode of a %d-byte RPC = %v, want ErrMetaTooLarge naming the limit", len(m.RPC), err)
	}
	cfg := DefaultConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Meta = m
	if _, err := Start(cfg); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("Start with oversized meta = %v, want ErrMetaTooLarge", err)
	}
}

func TestDecodeMetaMalformed(t *testing.T) {
	c := codec.For[wireMeta]()
	for _, b := range [][]byte{nil, {0xc1}, {0x81, 0xa1, 'r', 0xcc}, []byte("not msgpack at all"), {0x92, 0x01, 0x02}} {
		w, err := decodeMeta(c, b)
		m := w.Meta
		if err == nil && m.Role != RoleUnknown {
			continue // some bytes decode to an empty map; that too is unknown
		}
		if m.Role != RoleUnknown {
			t.Errorf("decodeMeta(%x) = %+v, %v; want role unknown", b, m, err)
		}
	}
}

// TestDecodeMetaBoundsAllocation: a string header of a few bytes that
// claims gigabytes, or metadata longer than any node sends, is refused
// before anything is allocated for it.
func TestDecodeMetaBoundsAllocation(t *testing.T) {
	c := codec.For[wireMeta]()
	for name, b := range map[string][]byte{
		"str32 of 2 GiB":   {0x81, 0xa1, 'r', 0xdb, 0x7f, 0xff, 0xff, 0xff},
		"bin32 of 4 GiB":   {0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xff},
		"map32 of 4G keys": {0xdf, 0xff, 0xff, 0xff, 0xff},
		"1 MiB of meta":    append([]byte{0x81, 0xa1, 'a', 0xdb, 0x00, 0x10, 0x00, 0x00}, make([]byte, 1<<20)...),
	} {
		w, err, n := decodeMetaAllocs(c, b)
		if err == nil || w.Role != RoleUnknown {
			t.Errorf("%s: decodeMeta gave role %q, error %v; want an error and role unknown", name, w.Role, err)
		}
		if n > metaAllocLimit(len(b)) {
			t.Errorf("%s: decodeMeta allocated %d bytes for %d bytes of input", name, n, len(b))
		}
	}
}

// decodeMetaAllocs runs decodeMeta and reports the bytes it allocated.
func decodeMetaAllocs(c codec.Codec[wireMeta], b []byte) (wireMeta, error, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := decodeMeta(c, b)
	runtime.ReadMemStats(&after)
	return w, err, after.TotalAlloc - before.TotalAlloc
}

// metaAllocLimit is what decoding n bytes of metadata may allocate: the
// strings it holds, and a decoder's fixed overhead.
func metaAllocLimit(n int) uint64 {
	return 4*uint64(min(n, memberlist.MetaMaxSize)) + 16<<10
}

func FuzzDecodeMeta(f *testing.F) {
	_, b, _ := wireMeta{Meta: Meta{Role: RoleTask, Slots: 4, RPC: "10.0.0.1:7070", Version: "v1"}, Instance: 42, Leaving: true}.encode()
	f.Add(b)
	_, b, _ = wireMeta{Meta: Meta{Role: RoleDriver, State: StateDraining, Version: "v1", App: "app-1"}, Instance: 7}.encode()
	f.Add(b)
	f.Add([]byte{0xc1})
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa1, 'r', 0xdb, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	c := codec.For[wireMeta]()
	f.Fuzz(func(t *testing.T, b []byte) {
		defer fuzztest.Guard(t)()
		w, err, n := decodeMetaAllocs(c, b)
		m := w.Meta
		if n > metaAllocLimit(len(b)) {
			t.Fatalf("decodeMeta allocated %d bytes for %d bytes of input", n, len(b))
		}
		if err != nil && m.Role != RoleUnknown {
			t.Errorf("decodeMeta(%x) failed with %v but gave role %q", b, err, m.Role)
		}
		if m.Role == "" || m.State == "" {
			t.Errorf("decodeMeta(%x) = %+v with an empty role or state", b, m)
		}
		if err != nil {
			return
		}
		// What decodes to a valid Meta encodes to bytes that decode to it again.
		if _, again, eerr := w.encode(); eerr == nil {
			w2, err := decodeMeta(c, again)
			if err != nil || w2 != w {
				t.Fatalf("decodeMeta(encode(%+v)) = %+v, %v", w, w2, err)
			}
			if _, third, _ := w2.encode(); !bytes.Equal(third, again) {
				t.Fatalf("encoding of %+v is unstable: %x then %x", w, again, third)
			}
		}
	})
}

func TestConfigValidation(t *testing.T) {
	valid := DefaultConfig()
	valid.BindAddr = "127.0.0.1:0"
	valid.Meta = Meta{Role: RoleCore}
	for name, mutate := range map[string]func(*Config){
		"bind host":          func(c *Config) { c.BindAddr = "localhost:7946" },
		"bind port":          func(c *Config) { c.BindAddr = "127.0.0.1" },
		"advertise":          func(c *Config) { c.AdvertiseAddr = "10.0.0.1:x" },
		"zero probe":         func(c *Config) { c.ProbeInterval = 0 },
		"timeout ≥ interval": func(c *Config) { c.ProbeTimeout = c.ProbeInterval },
		"zero mult":          func(c *Config) { c.SuspicionMult = 0 },
		"negative reconnect": func(c *Config) { c.ReconnectInterval = -1 },
		"zero tcp timeout":   func(c *Config) { c.TCPTimeout = 0 },
	} {
		cfg := valid
		mutate(&cfg)
		if _, err := Start(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Start = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestDefaultName(t *testing.T) {
	a, b := Config{}.withDefaults(), Config{}.withDefaults()
	if a.Name == "" || a.Name == b.Name {
		t.Errorf("default names %q and %q, want two different non-empty names", a.Name, b.Name)
	}
}
