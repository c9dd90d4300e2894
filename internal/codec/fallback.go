package codec

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// appendWriter lets a msgpack.Encoder append to the caller's dst; having
// WriteByte keeps the encoder from wrapping it.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

type fallbackEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

type fallbackDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

// fallbackFor encodes with msgpack reflection. Encoders and decoders are
// pooled per Codec rather than per package, so the package keeps no state.
func fallbackFor[T any](t reflect.Type) Codec[T] {
	encoders := &sync.Pool{New: func() any {
		e := &fallbackEncoder{}
		e.enc = msgpack.NewEncoder(&e.w)
		// map[string]string, map[string]bool and map[string]any are
		// written in key order, so their bytes are the same in every run.
		// The library sorts no other map type; those keep Go's random
		// iteration order (equal values, different bytes).
		e.enc.SetSortMapKeys(true)
		return e
	}}
	decoders := &sync.Pool{New: func() any {
		d := &fallbackDecoder{}
		d.dec = msgpack.NewDecoder(&d.r)
		return d
	}}
	return Codec[T]{
		Append: func(dst []byte, v T) []byte {
			e := encoders.Get().(*fallbackEncoder)
			e.w.b = dst
			// An addressable value lets pointer-receiver EncodeMsgpack
			// methods run, where msgpack.Marshal(v) would refuse.
			err := e.enc.EncodeValue(reflect.ValueOf(&v).Elem())
			out := e.w.b
			e.w.b = nil
			encoders.Put(e)
			if err != nil {
				panic(fmt.Errorf("%w: %v: %w", ErrEncode, t, err))
			}
			return out
		},
		Decode: func(b []byte) (v T, err error) {
			// Checking the structure first bounds every length the library
			// will trust (it allocates a bin's claimed length up front) and
			// rejects trailing bytes.
			if err := validate(b, t.String()); err != nil {
				return v, err
			}
			d := decoders.Get().(*fallbackDecoder)
			defer func() {
				// A panic in the library or a user's DecodeMsgpack is an
				// error like any other; the decoder is dropped, not reused.
				if p := recover(); p != nil {
					var zero T
					v, err = zero, fmt.Errorf("%w: %v: panic while decoding: %v", ErrDecode, t, p)
				}
			}()
			d.r.Reset(b)
			err = d.dec.Decode(&v)
			left := d.r.Len()
			d.r.Reset(nil)
			decoders.Put(d)
			if err != nil {
				var zero T
				return zero, fmt.Errorf("%w: %v: %w", ErrDecode, t, err)
			}
			if left != 0 {
				var zero T
				return zero, trailing(t.String(), left)
			}
			return v, nil
		},
	}
}
