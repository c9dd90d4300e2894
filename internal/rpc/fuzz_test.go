package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// FuzzDecodeRequest sends arbitrary, correctly signed bodies to a handler:
// each must be answered with 200 and a decodable response, or 400 with a
// decodable error body, and never panic.
func FuzzDecodeRequest(f *testing.F) {
	fuzzSeeds(f)
	s := NewServer(ServerConfig{Secret: []byte(testSecret)})
	Handle(s, "Echo", echo)
	HandleStream(s, "Fetch", func(_ context.Context, r *echoReq, w io.Writer) error {
		_, err := w.Write(r.Data)
		return err
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		defer fuzztest.Guard(t)()
		for _, path := range []string{"/rpc/Echo", "/stream/Fetch"} {
			r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			r.Header.Set(authHeader, newSigner([]byte(testSecret)).header(path, time.Now(), body))
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK:
				if path == "/rpc/Echo" {
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

// FuzzParseAuth: any header value is parsed or rejected without a panic,
// and what parses formats back to itself.
func FuzzParseAuth(f *testing.F) {
	sg := newSigner([]byte("k"))
	f.Add(sg.header("/rpc/Echo", time.Unix(1_800_000_000, 0), nil))
	f.Add("v1 -1 " + strings.Repeat("ab", 32) + " " + strings.Repeat("AB", 32))
	f.Add("v1 99999999999999999999 00 00")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		defer fuzztest.Guard(t)()
		a, err := parseAuth(v)
		if err != nil {
			if !errors.Is(err, errAuthFormat) {
				t.Fatalf("parseAuth(%q): %v does not wrap errAuthFormat", v, err)
			}
			return
		}
		if got := fmt.Sprintf("v1 %d %x %x", a.ts, a.sum, a.mac); !strings.EqualFold(got, v) && !strings.HasPrefix(v, "v1 +") && !strings.HasPrefix(v, "v1 0") && !strings.HasPrefix(v, "v1 -0") {
			t.Fatalf("parseAuth(%q) formats back as %q", v, got)
		}
		sg.check(a, "/rpc/Echo", time.Now())
		a.checkBody(nil)
	})
}
