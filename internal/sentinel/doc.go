// Package sentinel keeps the errors a program registers with
// rdd.RegisterError, under keys that are the same in every copy of the
// binary (the registering call site), so that a failed task on an executor
// can name the registered errors its error wraps and the driver can map
// the names back to its own values: errors.Is then works across
// processes.
//
//	key := sentinel.Register("main.init:12", ErrBadRecord)
//	keys := sentinel.Matching(err) // on the executor: [key] if errors.Is(err, ErrBadRecord)
//	e, ok := sentinel.Lookup(key)  // in the driver: ErrBadRecord itself
//
// Like the Func registry, it is a global that every process fills the same
// way at init: Go has no other way to name a value across processes.
package sentinel
