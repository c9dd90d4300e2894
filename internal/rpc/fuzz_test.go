package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

func fuzzSeeds(f *testing.F) {
	for _, v := range []any{
		&echoReq{Name: "x", N: 1, Data: []byte{1, 2}, Items: []item{{"k", 1}}},
		&echoReq{},
		map[string]any{"Items": []any{map[string]any{"Key": 1}}},
		[]any{1, "two", nil},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xc0})
	f.Add([]byte{0xc1})
	f.Add([]byte{0x81, 0xa5, 'I', 't', 'e', 'm', 's', 0xdd, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0x91}, 1001))
}

// FuzzDecodeRequest sends arbitrary bodies to a handler (authentication is
// the TLS handshake's, below ServeHTTP):
// each must be answered with 200 and a decodable response, or 400 with a
// decodable error body, and never panic.
func FuzzDecodeRequest(f *testing.F) {
	fuzzSeeds(f)
	s := NewServer(ServerConfig{})
	Handle(s, "Echo", echo)
	HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
		_, err := w.Write(r.Data)
		return err
	})
	HandleUpload(s, "Put", func(_ context.Context, r *echoReq, payload io.Reader) (*echoResp, error) {
		n, err := io.Copy(io.Discard, payload)
		return &echoResp{N: int(n)}, err
	}, Limit(1<<16))
	f.Add([]byte{0x81, 0xa1, 'N', 0x01, 'x', 'y'}) // upload: a 1-byte header then a payload
	f.Fuzz(func(t *testing.T, body []byte) {
		defer fuzztest.Guard(t)()
		for _, path := range []string{"/rpc/Echo", "/stream/Fetch", "/upload/Put"} {
			r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusRequestEntityTooLarge:
				if path != "/upload/Put" || len(body) <= 1<<16 {
					t.Fatalf("%s: 413 for %d bytes", path, len(body))
				}
			case http.StatusOK:
				if path != "/stream/Fetch" {
					var resp echoResp
					if err := msgpack.Unmarshal(w.Body.Bytes(), &resp); err != nil {
						t.Fatalf("200 with an undecodable body: %v", err)
					}
				}
			case http.StatusBadRequest:
				var eb errorBody
				if err := msgpack.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Code != CodeBadRequest {
					t.Fatalf("400 with body %q (%v), want a bad_request error body", w.Body.Bytes(), err)
				}
			default:
				t.Fatalf("%s: status %d, want 200 or 400", path, w.Code)
			}
		}
	})
}

// FuzzDecodeResponse feeds arbitrary bytes to the client's decoders of
// response and error bodies: an error, never a panic.
func FuzzDecodeResponse(f *testing.F) {
	fuzzSeeds(f)
	eb, err := msgpack.Marshal(&errorBody{Code: "not_found", Message: "gone"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(eb)
	c := NewClient(ClientConfig{})
	f.Fuzz(func(t *testing.T, body []byte) {
		defer fuzztest.Guard(t)()
		codecOf[echoResp](c).Decode(body)
		for _, status := range []int{http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusInternalServerError, http.StatusServiceUnavailable} {
			resp := &http.Response{
				StatusCode:    status,
				Status:        http.StatusText(status),
				Header:        http.Header{errorHeader: {"1"}},
				Body:          io.NopCloser(bytes.NewReader(body)),
				ContentLength: -1,
			}
			err := c.statusError(context.Background(), "M", "127.0.0.1:1", resp)
			if err == nil || !strings.HasPrefix(err.Error(), "rpc: call M on 127.0.0.1:1: ") {
				t.Fatalf("status %d: error %v does not name the call", status, err)
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("status %d: error %v unwraps to io.EOF", status, err)
			}
		}
	})
}
