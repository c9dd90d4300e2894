package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/sluicehq/sluice/internal/codec"
)

// uploadPrefix is the path prefix of upload routes. An upload's body is a
// uvarint length, that many bytes of msgpack request, then the payload.
const uploadPrefix = "/upload/"

// maxUploadHeader bounds the msgpack request in front of an upload's
// payload.
const maxUploadHeader = 64 << 10

// HandleUpload registers h for POST /upload/<method>: a msgpack request
// followed by a payload that h reads as a stream, so that a large body
// (a driver's binary) goes to disk without being held in memory. The
// payload reader fails with an error wrapping ErrTooLarge once the body
// passes the route's limit (Limit; ServerConfig.MaxBody otherwise), and
// with a read error if the peer stalls for ReadTimeout. Errors reach the
// caller as with Handle.
func HandleUpload[Req, Resp any](s *Server, method string, h func(ctx context.Context, req *Req, payload io.Reader) (*Resp, error), opts ...RouteOption) {
	reqCodec, respCodec := codec.For[Req](), codec.For[Resp]()
	rt := &route{}
	rt.upload = func(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, body io.Reader) {
		br := bufio.NewReaderSize(body, 64<<10)
		n, err := binary.ReadUvarint(br)
		if err == nil && n > maxUploadHeader {
			err = fmt.Errorf("request header of %d bytes exceeds %d", n, maxUploadHeader)
		}
		var hdr []byte
		if err == nil {
			hdr = make([]byte, n)
			_, err = io.ReadFull(br, hdr)
		}
		var req Req
		if err == nil {
			req, err = decodeRequest(reqCodec, hdr)
		}
		if errors.Is(err, ErrTooLarge) {
			s.tooLarge(w, rc, uploadPrefix+method, -1, rt.limit)
			return
		}
		if err != nil {
			s.fail(w, rc, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("malformed upload request for %s: %v", method, err))
			return
		}
		var resp *Resp
		err = s.protect(method, func() (err error) {
			resp, err = h(ctx, &req, br)
			return err
		})
		if errors.Is(err, ErrTooLarge) {
			s.tooLarge(w, rc, uploadPrefix+method, -1, rt.limit)
			return
		}
		if err != nil {
			s.handlerError(w, rc, method, err)
			return
		}
		respond(s, w, rc, method, respCodec, resp)
	}
	s.add(uploadPrefix, method, opts, rt)
}

// Upload sends req and then size bytes of payload to the upload handler
// registered under method on the Server at addr, and returns its response.
// Errors are those of Call; a payload over the server's limit fails with
// ErrTooLarge.
func Upload[Req, Resp any](ctx context.Context, c *Client, addr, method string, req *Req, payload io.Reader, size int64) (*Resp, error) {
	if req == nil {
		req = new(Req)
	}
	hdr, err := encode(codecOf[Req](c), *req)
	if err != nil {
		return nil, &callError{method: method, addr: addr, msg: "cannot encode the request: " + err.Error()}
	}
	if len(hdr) > maxUploadHeader {
		return nil, &callError{method: method, addr: addr, kind: ErrTooLarge, msg: fmt.Sprintf("upload request of %d bytes exceeds %d", len(hdr), maxUploadHeader)}
	}
	prefix := binary.AppendUvarint(nil, uint64(len(hdr)))
	body := io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(hdr), io.LimitReader(payload, size))
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.post(ctx, addr, uploadPrefix, method, body, int64(len(prefix)+len(hdr))+size)
	if err != nil {
		return nil, err
	}
	return readResponse[Resp](ctx, c, method, addr, resp)
}
