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

// fallbackFor encodes with msgpack reflection, for the types that Check
// refuses. Encoders and decoders are pooled per Codec rather than per
// package, so the package keeps no state.
func fallbackFor[T any](t reflect.Type) Codec[T] {
	lib := newLibCodec()
	return Codec[T]{
		Append: func(dst []byte, v T) []byte {
			// An addressable value lets pointer-receiver EncodeMsgpack
			// methods run, where msgpack.Marshal(v) would refuse.
			return lib.append(dst, reflect.ValueOf(&v).Elem(), t)
		},
		Decode: func(b []byte) (v T, err error) {
			// Checking the structure first bounds every length the library
			// will trust (it allocates a bin's claimed length up front) and
			// rejects trailing bytes.
			if err := validate(b, t.String()); err != nil {
				return v, err
			}
			defer func() {
				// A panic in the library or a user's DecodeMsgpack is an
				// error like any other.
				if p := recover(); p != nil {
					var zero T
					v, err = zero, fmt.Errorf("%w: %v: panic while decoding: %v", ErrDecode, t, p)
				}
			}()
			if err := lib.decode(b, reflect.ValueOf(&v).Elem(), t); err != nil {
				var zero T
				return zero, err
			}
			return v, nil
		},
	}
}

// libCodec pools the library's encoders and decoders: for the types that
// Check refuses, and for values the exact codec hands over because they
// encode themselves.
type libCodec struct {
	encoders, decoders sync.Pool
}

func newLibCodec() *libCodec {
	l := &libCodec{}
	l.encoders.New = func() any {
		e := &fallbackEncoder{}
		e.enc = msgpack.NewEncoder(&e.w)
		// map[string]string, map[string]bool and map[string]any are
		// written in key order, so their bytes are the same in every run.
		// The library sorts no other map type; those keep Go's random
		// iteration order (equal values, different bytes), which is one
		// reason why the exact codec exists.
		e.enc.SetSortMapKeys(true)
		return e
	}
	l.decoders.New = func() any {
		d := &fallbackDecoder{}
		d.dec = msgpack.NewDecoder(&d.r)
		return d
	}
	return l
}

func (l *libCodec) append(dst []byte, v reflect.Value, t reflect.Type) []byte {
	e := l.encoders.Get().(*fallbackEncoder)
	e.w.b = dst
	err := e.enc.EncodeValue(v)
	out := e.w.b
	e.w.b = nil
	l.encoders.Put(e)
	if err != nil {
		panic(fmt.Errorf("%w: %v: %w", ErrEncode, t, err))
	}
	return out
}

func (l *libCodec) decode(b []byte, v reflect.Value, t reflect.Type) error {
	d := l.decoders.Get().(*fallbackDecoder)
	d.r.Reset(b)
	err := d.dec.DecodeValue(v)
	left := d.r.Len()
	d.r.Reset(nil)
	l.decoders.Put(d) // not reached if a user's method panics: that decoder is dropped
	if err != nil {
		return fmt.Errorf("%w: %v: %w", ErrDecode, t, err)
	}
	if left != 0 {
		return trailing(t.String(), left)
	}
	return nil
}
