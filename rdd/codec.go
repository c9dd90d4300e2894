package rdd

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/codec"
)

// elemCodec turns elements into framed records (see internal/block) and
// back: one frame for most types, two (key, value) for a Pair.
type elemCodec[T any] struct {
	put func(dst []byte, t T) []byte
	get func(p []byte) (T, []byte, error)
	// key appends the msgpack encoding of a Pair's key; nil for other types.
	key func(dst []byte, t T) []byte
}

// pairCodecer lets codecOf recognise a Pair without knowing K and V.
type pairCodecer interface{ pairCodec() any }

func (Pair[K, V]) pairCodec() any {
	kc, vc := codec.For[K](), codec.For[V]()
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
		key: func(dst []byte, p Pair[K, V]) []byte { return kc.Append(dst, p.Key) },
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
