package rdd

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/sentinel"
)

func TestTaskErrorMessage(t *testing.T) {
	cause := errors.New("cause")
	for _, c := range []struct {
		te   TaskError
		want string
	}{
		{TaskError{Message: "boom", Frame: "/src/main.go:41", Stack: "goroutine 1 [running]:\n..."}, "/src/main.go:41: panic: boom"},
		{TaskError{Message: "boom", Stack: "goroutine 1 [running]:\n..."}, "panic: boom"},
		{TaskError{Message: "cause", Err: cause}, "cause"},
	} {
		if got := c.te.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
	te := &TaskError{Message: "cause", Err: cause}
	if !errors.Is(te, cause) || errors.Is(te, ErrPermanent) {
		t.Fatal("a transient TaskError: wrong matches")
	}
	te.Permanent = true
	if !errors.Is(te, ErrPermanent) {
		t.Fatal("a permanent TaskError does not match ErrPermanent")
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
	cause := errors.New("cause")
	err := fmt.Errorf("wrapped: %w", Permanent(cause))
	if !errors.Is(err, cause) || !errors.Is(err, ErrPermanent) || err.Error() != "wrapped: cause" {
		t.Fatalf("%v: want it to match cause and ErrPermanent, with cause's message", err)
	}
	if errors.Is(cause, ErrPermanent) {
		t.Fatal("marking a copy changed the original")
	}
}

type registeredType struct{ code int }

func (e *registeredType) Error() string { return fmt.Sprintf("code %d", e.code) }

var sealF = Func(func(n int) *RDD[int] { return Parallelize([]int{n}) })

var (
	errRegistered  = RegisterError(errors.New("registered"))
	typeRegistered = RegisterError(&registeredType{7}) // keeps its type
)

func TestRegisterError(t *testing.T) {
	keys := sentinel.Matching(fmt.Errorf("%w, then %w", typeRegistered, errRegistered))
	if len(keys) != 2 || !strings.HasPrefix(keys[0], "github.com/sluicehq/sluice/rdd.init:") {
		t.Fatalf("keys %q, want both registrations, named by their call site", keys)
	}
	for i, want := range []error{errRegistered, typeRegistered} {
		if got, ok := sentinel.Lookup(keys[i]); !ok || got != want {
			t.Fatalf("Lookup(%q) = %v, %v", keys[i], got, ok)
		}
	}
	var rt *registeredType = typeRegistered
	if rt.code != 7 {
		t.Fatal("RegisterError lost the value")
	}

	sealF.Invoke(1) // seals the registry
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "RegisterError called after the first Invoke") {
			t.Fatalf("RegisterError after Invoke: panic %v; want one naming the rule", p)
		}
	}()
	RegisterError(errors.New("too late"))
}
