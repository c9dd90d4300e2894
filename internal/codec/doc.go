// Package codec encodes shuffle records as msgpack, with hand-written fast
// paths for common types, a codec compiled per type for the rest, and
// msgpack reflection for what neither takes.
//
// For returns a Codec[T] once per type; its Append and Decode are safe for
// concurrent use. Fast paths exist for string, []byte, bool, every int and
// uint width, float32 and float64, and for named types whose underlying kind
// is one of those and that have no msgpack or encoding marshaling methods.
// They write exactly the bytes msgpack.Marshal writes for the same value, so
// github.com/vmihailenco/msgpack/v5 reads what this package writes and the
// reverse.
//
// Every other type that Check accepts gets the exact codec: every value
// comes back as it was (floats to the bit, nil and empty slices and maps
// apart, time.Time in its location), and the encoding is canonical: map
// entries are written in order (strings in byte order, other keys in the
// byte order of their encodings), so equal values always have equal bytes
// and a recomputed map output is byte-identical to the lost one. Its bytes
// are msgpack, as the library writes them (structs as maps from field
// name, honoring msgpack name tags), except for that order, embedded
// structs (kept under their own name, not inlined) and times outside UTC
// (an extension that keeps the location). Check's documentation lists the
// types it refuses and why; For falls back to msgpack reflection for
// those, which may lose data silently, so callers that must not (the rdd
// package) call Check first.
//
// A time.Time keeps its instant and location but not its monotonic clock
// reading. A UTC or Local time decodes ==; a time in a named location
// decodes in the location of that name when the decoding process has it
// and it agrees on the zone at that instant, otherwise in a fixed zone of
// the same abbreviation and offset; either way it is Equal and formats the
// same.
//
// Decode takes exactly one whole value: trailing bytes, truncation, a wrong
// msgpack type and an integer out of range are errors wrapping ErrDecode,
// never a panic. It is stricter than msgpack.Unmarshal, which turns nil
// into a zero value (Decode accepts nil only for []byte, pointers, slices
// and maps) and silently truncates integers that do not fit.
//
// Keys of by-key operations are grouped and partitioned by their bytes.
// KeyFor encodes them with every float canonical: -0 as +0, every NaN as
// one NaN, so that equal keys have equal bytes and all NaNs are one key.
// Hash is the fixed hash partitioners use on encoded keys: the same in
// every process, so a recomputed map output fits the reducers that read
// its siblings. AppendOrdered and OrderedFor encode cmp.Ordered keys so
// that bytes.Compare on the encodings orders like cmp.Compare on the keys.
//
// A short use:
//
//	c := codec.For[string]()
//	buf := c.Append(nil, "hello")
//	s, err := c.Decode(buf) // "hello", nil
//	part := codec.Hash(buf) % 8
package codec
