package rpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// authHeader carries "v1 <unix seconds> <hex SHA-256 of the body> <hex
// HMAC-SHA256>". The body's digest travels in the header so that the
// server can check the signature before it reads a byte of the body: a
// peer without the secret costs it a header, not MaxBody.
const authHeader = "Sluice-Auth"

// maxClockSkew is how far a request's timestamp may be from the server's
// clock. It bounds how long a captured request can be replayed.
const maxClockSkew = 5 * time.Minute

// auth is a parsed authHeader.
type auth struct {
	ts  int64
	sum [sha256.Size]byte // of the body
	mac [sha256.Size]byte
}

// signer computes request signatures with one secret. HMAC states are
// pooled: keying one costs two SHA-256 blocks and a few allocations.
type signer struct {
	secret []byte
	macs   sync.Pool // hash.Hash keyed by secret
}

func newSigner(secret []byte) *signer {
	s := &signer{secret: append([]byte(nil), secret...)}
	s.macs.New = func() any { return hmac.New(sha256.New, s.secret) }
	return s
}

// sign returns the HMAC-SHA256, keyed by the secret, over the route path
// (which names the method and whether it is a call or a stream), the
// timestamp and the body's SHA-256.
func (s *signer) sign(path string, ts int64, sum *[sha256.Size]byte) [sha256.Size]byte {
	mac := s.macs.Get().(hash.Hash)
	mac.Reset()
	var buf [64]byte
	mac.Write(append(buf[:0], "sluice-rpc v1\n"...))
	mac.Write([]byte(path))
	b := append(buf[:0], '\n')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '\n')
	mac.Write(b)
	mac.Write(sum[:])
	var out [sha256.Size]byte
	mac.Sum(out[:0])
	s.macs.Put(mac)
	return out
}

// header returns the header value that signs a request at time now.
func (s *signer) header(path string, now time.Time, body []byte) string {
	ts := now.Unix()
	sum := sha256.Sum256(body)
	mac := s.sign(path, ts, &sum)
	b := make([]byte, 0, 3+20+1+2*sha256.Size+1+2*sha256.Size)
	b = append(b, "v1 "...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, ' ')
	b = hex.AppendEncode(b, sum[:])
	b = append(b, ' ')
	b = hex.AppendEncode(b, mac[:])
	return string(b)
}

// check verifies a parsed header against the path, in constant time, and
// its timestamp against now. It runs before the body is read.
func (s *signer) check(a *auth, path string, now time.Time) error {
	if err := checkSkew(a.ts, now); err != nil {
		return err
	}
	want := s.sign(path, a.ts, &a.sum)
	if !hmac.Equal(a.mac[:], want[:]) {
		return errors.New("bad signature: check that every member has the same cluster secret")
	}
	return nil
}

// checkBody verifies that the body is the one the header signed.
func (a *auth) checkBody(body []byte) error {
	sum := sha256.Sum256(body)
	if !hmac.Equal(sum[:], a.sum[:]) {
		return errors.New("the body does not match its signature (altered in transit?)")
	}
	return nil
}

// errAuthFormat is wrapped by parseAuth's errors.
var errAuthFormat = errors.New("malformed " + authHeader + " header")

// parseAuth parses a header value.
func parseAuth(v string) (*auth, error) {
	const want = `want "v1 <unix seconds> <hex body SHA-256> <hex signature>"`
	f := strings.Split(v, " ")
	if len(f) != 4 || f[0] != "v1" {
		return nil, fmt.Errorf("%w: %s", errAuthFormat, want)
	}
	ts, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: bad timestamp; %s", errAuthFormat, want)
	}
	a := &auth{ts: ts}
	if err := decodeHexInto(a.sum[:], f[2]); err != nil {
		return nil, fmt.Errorf("%w: body digest %v; %s", errAuthFormat, err, want)
	}
	if err := decodeHexInto(a.mac[:], f[3]); err != nil {
		return nil, fmt.Errorf("%w: signature %v; %s", errAuthFormat, err, want)
	}
	return a, nil
}

func decodeHexInto(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("is not %d hex digits", 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return errors.New("is not hex")
	}
	return nil
}

// checkSkew rejects a timestamp more than maxClockSkew from now.
func checkSkew(ts int64, now time.Time) error {
	n, limit := now.Unix(), int64(maxClockSkew/time.Second)
	if ts < n-limit || ts > n+limit {
		return fmt.Errorf("request timestamp %d is more than %v off the server's clock (%d): check that the members' clocks are synchronised",
			ts, maxClockSkew, n)
	}
	return nil
}
