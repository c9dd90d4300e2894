package rpc

import (
	"bytes"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/internal/codec"
)

// The wire protocol: POST rpcPrefix+method or streamPrefix+method, a
// msgpack request body (an upload: a length-prefixed msgpack request and a
// payload, under uploadPrefix). A 200 carries the msgpack
// response (or the raw stream); any other status that the server wrote
// carries errorHeader and a msgpack errorBody.
const (
	rpcPrefix      = "/rpc/"
	streamPrefix   = "/stream/"
	errorHeader    = "Sluice-Error"
	contentMsgpack = "application/msgpack"
	contentStream  = "application/octet-stream"

	// maxErrorBody bounds an error body a client reads: messages are
	// short, and a misbehaving peer must not make the caller buffer much.
	maxErrorBody = 1 << 20
	// maxMethodLen bounds a method name.
	maxMethodLen = 128
)

// errorBody is the body of every non-200 response the server writes.
type errorBody struct {
	Code    string `msgpack:"code"`
	Message string `msgpack:"msg"`
}

// checkMethod accepts names made of ASCII letters, digits, '_', '-' and
// '.', which need no escaping in a URL path.
func checkMethod(method string) error {
	if method == "" || len(method) > maxMethodLen {
		return fmt.Errorf("method name %q must have 1 to %d characters", method, maxMethodLen)
	}
	for i := 0; i < len(method); i++ {
		c := method[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("method name %q: only ASCII letters, digits, '_', '-' and '.' are allowed", method)
		}
	}
	return nil
}

// encode appends v's msgpack encoding, turning the codec's panic on an
// unencodable value (a chan, a func) into an error.
func encode[T any](c codec.Codec[T], v T) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return c.Append(nil, v), nil
}

// readBody reads r to EOF, failing with ErrTooLarge once more than limit
// bytes arrive. size is the declared length, or -1.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if size >= 0 && size <= limit {
		buf.Grow(int(size) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}
