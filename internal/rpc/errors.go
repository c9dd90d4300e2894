package rpc

import (
	"errors"
	"fmt"
)

// ErrUnauthorized is wrapped by the error a call returns when the TLS
// handshake failed for want of shared credentials: the peer has a different
// cluster secret, or one side has none (--insecure) and the other does.
var ErrUnauthorized = errors.New("rpc: unauthorized")

// ErrRefused is wrapped by the error a call returns when nothing listens at
// the address (the dial failed with ECONNREFUSED). It comes back at once,
// so a caller can mark the peer suspect without waiting for a timeout.
var ErrRefused = errors.New("rpc: connection refused")

// ErrUnavailable is wrapped by the error a call returns when the peer may be
// gone: a dial or call timeout, a reset, an EOF in the middle of a response,
// a stream that stalls or is cut short, or a 5xx status that no Sluice
// handler wrote (a proxy's 502, or a server that is shutting down).
var ErrUnavailable = errors.New("rpc: unavailable")

// ErrTooLarge is wrapped by the error a call returns when a msgpack body
// exceeds a MaxBody limit: the request the caller tried to send (checked
// against its own limit and then the server's, which answers 413), or the
// response it received.
var ErrTooLarge = errors.New("rpc: body too large")

// Codes that the server itself puts in a RemoteError; handlers choose their
// own for everything else.
const (
	// CodeBadRequest means the server could not decode the request body,
	// typically a caller built against different request types.
	CodeBadRequest = "bad_request"
	// CodeUnknownMethod means no handler is registered under the method.
	CodeUnknownMethod = "unknown_method"
	// CodeInternal means the handler panicked or its response could not
	// be encoded.
	CodeInternal = "internal"
)

// RemoteError is an error a handler returned, carried back to the caller.
// Code is the handler's choice (for example "not_found", so that a caller
// can tell a missing shuffle file from a crash) and is empty when the
// handler returned an error without one; Message is the handler's error
// text. Method and Addr are filled in on the caller's side.
type RemoteError struct {
	Method  string // the method called
	Addr    string // the address called
	Code    string // the handler's code, or one of the Code constants
	Message string // the handler's error text
}

// Error returns the message alone on the handler's side (Method and Addr
// empty, as Errorf makes it), so that wrapping it adds no noise; on the
// caller's side it names the method, the address and the code.
func (e *RemoteError) Error() string {
	if e.Method == "" && e.Addr == "" {
		return e.Message
	}
	s := "rpc: call " + e.Method + " on " + e.Addr + ": "
	if e.Code != "" {
		s += e.Code + ": "
	}
	return s + e.Message
}

// Errorf returns an error for a handler to return whose Code reaches the
// caller. The server finds it with errors.As, so it may be wrapped; the
// caller sees the full text of the error the handler returned.
func Errorf(code, format string, args ...any) error {
	return &RemoteError{Code: code, Message: fmt.Errorf(format, args...).Error()}
}

// callError is every failure of a call other than a RemoteError: it names
// the method and address, and unwraps to a sentinel (kind, when there is
// one) and to the underlying cause.
type callError struct {
	method, addr string
	kind         error // one of the sentinels, or nil
	msg          string
	cause        error // may be nil
}

func (e *callError) Error() string {
	return "rpc: call " + e.method + " on " + e.addr + ": " + e.msg
}

func (e *callError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}
