package rdd

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
)

// elemCodec turns elements into framed records (see internal/block) and
// back: one frame for most types, two (key, value) for a Pair.
type elemCodec[T any] struct {
	put func(dst []byte, t T) []byte
	get func(p []byte) (T, []byte, error)
	// key appends the canonical encoding of a Pair's key (codec.KeyFor),
	// by which CountByKey counts; nil for other types.
	key func(dst []byte, t T) []byte
}

// pairCodecer lets codecOf recognise a Pair without knowing K and V.
type pairCodecer interface{ pairCodec() any }

func (Pair[K, V]) pairCodec() any {
	kc, vc := codec.For[K](), codec.For[V]()
	kk, _ := codec.KeyFor[K]()
	return &elemCodec[Pair[K, V]]{
		put: func(dst []byte, p Pair[K, V]) []byte {
			dst = appendFramed(dst, kc.Append, p.Key)
			return appendFramed(dst, vc.Append, p.Value)
		},
		get: func(b []byte) (Pair[K, V], []byte, error) {
			var p Pair[K, V]
			kb, rest, err := block.NextFrame(b)
			if err != nil {
				return p, nil, err
			}
			vb, rest, err := block.NextFrame(rest)
			if err != nil {
				return p, nil, err
			}
			if p.Key, err = kc.Decode(kb); err != nil {
				return p, nil, err
			}
			if p.Value, err = vc.Decode(vb); err != nil {
				return p, nil, err
			}
			return p, rest, nil
		},
		key: func(dst []byte, p Pair[K, V]) []byte { return kk.Append(dst, p.Key) },
	}
}

func codecOf[T any]() *elemCodec[T] {
	if p, ok := any(*new(T)).(pairCodecer); ok {
		if c, ok := p.pairCodec().(*elemCodec[T]); ok {
			return c
		}
	}
	c := codec.For[T]()
	return &elemCodec[T]{
		put: func(dst []byte, t T) []byte { return appendFramed(dst, c.Append, t) },
		get: func(b []byte) (T, []byte, error) {
			var t T
			f, rest, err := block.NextFrame(b)
			if err != nil {
				return t, nil, err
			}
			t, err = c.Decode(f)
			return t, rest, err
		},
	}
}

// each decodes every record of a payload.
func (c *elemCodec[T]) each(p []byte, yield func(T) bool) error {
	for len(p) > 0 {
		t, rest, err := c.get(p)
		if err != nil {
			return fmt.Errorf("rdd: decoding a record: %w", err)
		}
		if !yield(t) {
			return nil
		}
		p = rest
	}
	return nil
}

// appendFramed appends uvarint(len) and the encoding of v. It encodes in
// place and shifts, which costs a short memmove instead of a scratch buffer
// that concurrent tasks would have to share.
func appendFramed[T any](dst []byte, enc func([]byte, T) []byte, v T) []byte {
	start := len(dst)
	dst = enc(dst, v)
	n := len(dst) - start
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(n))
	dst = append(dst, hdr[:h]...)
	copy(dst[start+h:], dst[start:start+n])
	copy(dst[start:], hdr[:h])
	return dst
}

// appendFrame appends uvarint(len(b)) and b.
func appendFrame(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// zeroCopier returns a function that makes deep copies of zero, for the
// by-key operations that start each key from a zero value. Spark
// serialises the zero once and deserialises a copy per key; so does this,
// with the codec, unless zero's type holds no references, when a Go copy
// is already a deep one.
func zeroCopier[U any](zero U) (func() U, error) {
	t := reflect.TypeFor[U]()
	if !holdsReferences(t) {
		return func() U { return zero }, nil
	}
	c := codec.For[U]()
	b, err := encodeValue(c, zero)
	if err != nil {
		return nil, fmt.Errorf("the zero value (%v) cannot be copied for each key, because it cannot be encoded: %w; use a zero value of a type that msgpack encodes", t, err)
	}
	if _, err := c.Decode(b); err != nil {
		return nil, fmt.Errorf("the zero value (%v) cannot be copied for each key, because it does not decode: %w", t, err)
	}
	return func() U {
		u, err := c.Decode(b)
		if err != nil {
			panic(fmt.Errorf("rdd: copying the zero value (%v), which decoded when the RDD was built: %w", t, err))
		}
		return u
	}, nil
}

// encodeValue encodes v, returning the panic of an encoder that cannot
// (codec.ErrEncode, or a user's EncodeMsgpack) as an error.
func encodeValue[U any](c codec.Codec[U], v U) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("panic while encoding: %v", p)
			}
		}
	}()
	return c.Append(nil, v), nil
}

// holdsReferences reports whether a value of t can share memory with a
// copy of it: pointers, slices, maps, channels, funcs and interfaces, at
// any depth of arrays and structs. Strings are immutable and count as
// plain values.
func holdsReferences(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Uintptr,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && holdsReferences(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsReferences(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}
