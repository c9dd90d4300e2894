// Package codec encodes shuffle records as msgpack, with hand-written fast
// paths for common types and msgpack reflection for everything else.
//
// For returns a Codec[T] once per type; its Append and Decode are safe for
// concurrent use. Fast paths exist for string, []byte, bool, every int and
// uint width, float32 and float64, and for named types whose underlying kind
// is one of those and that have no msgpack or encoding marshaling methods.
// They write exactly the bytes msgpack.Marshal writes for the same value, so
// github.com/vmihailenco/msgpack/v5 reads what this package writes and the
// reverse. Every other type goes through the msgpack library.
//
// Decode takes exactly one whole value: trailing bytes, truncation, a wrong
// msgpack type and an integer out of range are errors wrapping ErrDecode,
// never a panic. It is stricter than msgpack.Unmarshal, which turns nil
// into a zero value (Decode accepts nil only for []byte) and silently
// truncates integers that do not fit.
//
// Hash is the fixed hash partitioners use on encoded keys: the same in every
// process, so a recomputed map output fits the reducers that read its
// siblings. AppendOrdered and OrderedFor encode cmp.Ordered keys so that
// bytes.Compare on the encodings orders like cmp.Compare on the keys.
//
// A short use:
//
//	c := codec.For[string]()
//	buf := c.Append(nil, "hello")
//	s, err := c.Decode(buf) // "hello", nil
//	part := codec.Hash(buf) % 8
package codec
