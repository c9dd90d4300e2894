package rdd

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/sluicehq/sluice/internal/sentinel"
)

// ErrPermanent marks an error that cannot change on retry: a task that
// fails with an error matching it (errors.Is) fails its job at once,
// without the retries a transient failure gets. Wrap an error with
// Permanent, or with fmt.Errorf("%w: ...", ErrPermanent, ...).
//
// Sluice marks its own such errors: a value the codec cannot encode or
// decode, a TextFile line longer than 64 MiB, an input file that does not
// exist.
var ErrPermanent = errors.New("rdd: permanent error")

// Permanent returns err marked as one that cannot change on retry (see
// ErrPermanent); its message is err's. errors.Is(Permanent(err), err) and
// errors.Is(Permanent(err), ErrPermanent) both hold. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (p permanentError) Error() string        { return p.err.Error() }
func (p permanentError) Unwrap() error        { return p.err }
func (p permanentError) Is(target error) bool { return target == ErrPermanent }

// TaskError is the error of a task attempt that failed: the user's code
// returned an error or panicked, or Sluice could not run it. A job that
// fails because of a task wraps the TaskError of its last attempt, so
// errors.As finds it, and the TaskError wraps the original error, so
// errors.Is finds that.
//
// In local mode the original error is the value itself. On a cluster it
// crosses a process boundary, where Go cannot carry an error value: Err is
// then a stand-in with the original's message that matches (errors.Is,
// errors.As) every error registered with RegisterError that the original
// matched.
type TaskError struct {
	Stage     int    // the stage's id
	Partition int    // the task's partition
	Attempt   int    // 0 for the first attempt
	Worker    string // where the attempt ran ("local" in local mode)
	Message   string // the error's message, or a panic's value (%v)
	// Frame is a panic's place in the user's code, file:line: the
	// innermost frame of the stack outside the Go runtime, the standard
	// library and Sluice's packages (but in test files, which count as the
	// user's). Empty when no frame qualifies.
	Frame string
	// Stack is a panic's stack, as runtime/debug.Stack prints it; empty
	// for a returned error.
	Stack string
	// Permanent says the error cannot change on retry (see ErrPermanent):
	// the task was not retried.
	Permanent bool
	// Err is the original error (nil for a panic whose value is not an
	// error), or on a cluster its stand-in.
	Err error
}

// Error returns the message, after "panic: " for a panic and after the
// user's file:line when Frame is known, so that the place comes first on
// the first line: "/src/app/main.go:41: panic: runtime error: index out
// of range [3] with length 3". The stack is in Stack, never in Error.
func (e *TaskError) Error() string {
	var b strings.Builder
	if e.Frame != "" {
		b.WriteString(e.Frame)
		b.WriteString(": ")
	}
	if e.Stack != "" {
		b.WriteString("panic: ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns the original error.
func (e *TaskError) Unwrap() error { return e.Err }

// Is reports whether target is ErrPermanent and e is permanent, so that
// the classification survives the trip from a cluster's executor.
func (e *TaskError) Is(target error) bool { return target == ErrPermanent && e.Permanent }

// RegisterError registers err so that errors.Is recognises it in a task
// failure that comes from a cluster's executor, and returns err. Call it
// only to initialise a package-level variable, as with Func:
//
//	var ErrBadRecord = rdd.RegisterError(errors.New("bad record"))
//
// A task on an executor that fails with an error matching a registered
// error sends the registration's key (its call site, the same in every
// copy of the binary) with the failure; the driver puts its own value of
// that variable into the TaskError it returns. Unregistered errors arrive
// as their message only. Local mode needs no registration: it passes the
// error value itself.
func RegisterError[E error](err E) E {
	pc, _, line, _ := runtime.Caller(1)
	name := "unknown"
	if f := runtime.FuncForPC(pc); f != nil {
		name = f.Name()
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.sealed {
		panic("rdd: RegisterError called after the first Invoke; register errors in package-level variables so every process registers them")
	}
	sentinel.Register(fmt.Sprintf("%s:%d", name, line), err)
	return err
}
