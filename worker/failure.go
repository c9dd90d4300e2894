package worker

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/sentinel"
	"github.com/sluicehq/sluice/rdd"
	"github.com/sluicehq/sluice/scheduler"
)

// sluicePrefix starts the import path of every Sluice package: frames in
// them are the engine's, not the user's (except in test files).
const sluicePrefix = "github.com/sluicehq/sluice/"

// failure describes attempt t's failure with err (a returned error) as a
// TaskError that wraps err.
func (e *Executor) failure(t scheduler.Task, err error) *rdd.TaskError {
	return &rdd.TaskError{
		Stage: t.Stage, Partition: t.Partition, Attempt: t.Attempt, Worker: e.cfg.Name,
		Message: err.Error(), Permanent: permanent(err), Err: err,
	}
}

// panicked describes attempt t's panic with value p. Call it from the
// deferred function that recovered p, so that the panicking frames are
// still on the stack.
func (e *Executor) panicked(t scheduler.Task, p any) *rdd.TaskError {
	te := &rdd.TaskError{
		Stage: t.Stage, Partition: t.Partition, Attempt: t.Attempt, Worker: e.cfg.Name,
		Message: fmt.Sprint(p), Frame: userFrame(), Stack: panicStack(),
	}
	if err, ok := p.(error); ok {
		te.Err, te.Permanent = err, permanent(err)
	}
	return te
}

// panicStack returns the stack of the panicking goroutine as a crash
// prints it: from the panic down, without the frames of the recovery.
func panicStack() string {
	st := string(debug.Stack())
	head, rest, _ := strings.Cut(st, "\n")
	if i := strings.Index(rest, "\npanic("); i >= 0 {
		return head + rest[i:]
	}
	return st
}

// permanent reports whether err cannot change on retry: the user or Sluice
// marked it (rdd.ErrPermanent), or the codec could not encode or decode a
// value, which depends on the value's type and bytes alone.
func permanent(err error) bool {
	return errors.Is(err, rdd.ErrPermanent) || errors.Is(err, codec.ErrEncode) || errors.Is(err, codec.ErrDecode)
}

// setFailure puts te into res in the form that crosses the network.
func setFailure(res *TaskResult, te *rdd.TaskError) {
	res.Status = TaskFailed
	res.Err, res.Stack, res.Frame, res.Permanent = te.Message, te.Stack, te.Frame, te.Permanent
	res.Stage, res.Partition, res.Attempt = te.Stage, te.Partition, te.Attempt
	res.ErrorKeys = sentinel.Matching(te.Err)
}

// TaskError returns the failure of an attempt that ended TaskFailed, as
// the driver hands it to the user, rebuilt from what crossed the network:
// its Err carries the message and matches the driver's own values of the
// registered errors (rdd.RegisterError) that the original matched.
func (r *TaskResult) TaskError() *rdd.TaskError {
	te := &rdd.TaskError{
		Stage: r.Stage, Partition: r.Partition, Attempt: r.Attempt, Worker: r.Worker,
		Message: r.Err, Frame: r.Frame, Stack: r.Stack, Permanent: r.Permanent,
	}
	re := &remoteError{msg: r.Err}
	for _, k := range r.ErrorKeys {
		if err, ok := sentinel.Lookup(k); ok {
			re.errs = append(re.errs, err)
		}
	}
	te.Err = re
	return te
}

// remoteError stands in for an error value that stayed in an executor's
// process: its message, and the driver's values of the registered errors
// the original matched.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

// userFrame returns file:line of the innermost frame on the calling
// goroutine's stack that is the user's: not in the Go runtime, the
// standard library or Sluice's packages, where a Sluice test file counts
// as the user's. Empty when there is none.
func userFrame() string {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	var modules []string // of the build, read at the first frame that needs them
	for {
		f, more := frames.Next()
		pkg := funcPackage(f.Function)
		switch {
		case f.Function == "":
		case pkg == "main":
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		case strings.HasPrefix(pkg, sluicePrefix):
			if strings.HasSuffix(f.File, "_test.go") {
				return fmt.Sprintf("%s:%d", f.File, f.Line)
			}
		default:
			if modules == nil {
				modules = buildModules()
			}
			if !isStd(pkg, modules) {
				return fmt.Sprintf("%s:%d", f.File, f.Line)
			}
		}
		if !more {
			return ""
		}
	}
}

// funcPackage returns the import path of a function's package from its
// symbol name: "example.com/a/b.(*T).M.func1" gives "example.com/a/b".
// The linker escapes dots in the last path element (%2e), so the first
// dot after the last slash ends the path.
func funcPackage(function string) string {
	if i := strings.IndexByte(function, '['); i >= 0 {
		function = function[:i] // type arguments may hold slashes and dots
	}
	slash := strings.LastIndexByte(function, '/')
	if dot := strings.IndexByte(function[slash+1:], '.'); dot >= 0 {
		return function[:slash+1+dot]
	}
	return function
}

// isStd reports whether pkg is in the standard library (the runtime
// included): its first path element has no dot, and it is in none of the
// modules the binary was built from (a user's module may be "myapp").
func isStd(pkg string, modules []string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	if strings.Contains(first, ".") {
		return false
	}
	for _, m := range modules {
		if m != "" && (pkg == m || strings.HasPrefix(pkg, m+"/")) {
			return false
		}
	}
	return true
}

// buildModules returns the paths of the main module and its dependencies.
func buildModules() []string {
	mods := []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		mods = append(mods, bi.Main.Path)
		for _, d := range bi.Deps {
			mods = append(mods, d.Path)
		}
	}
	return mods
}
