package sentinel

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	ka := Register("pkg.init:1", a)
	kb := Register("pkg.init:1", b) // two on one line
	if ka != "pkg.init:1" || kb != "pkg.init:1#2" {
		t.Fatalf("keys %q, %q", ka, kb)
	}
	if got := Matching(fmt.Errorf("x: %w", b)); !slices.Equal(got, []string{kb}) {
		t.Fatalf("Matching a wrapped b: %q", got)
	}
	if got := Matching(errors.Join(b, a)); !slices.Equal(got, []string{ka, kb}) {
		t.Fatalf("Matching both: %q, want registration order", got)
	}
	if got := Matching(errors.New("a")); got != nil {
		t.Fatalf("an equal message is not the same error: %q", got)
	}
	if got, ok := Lookup(kb); !ok || got != b {
		t.Fatalf("Lookup(%q) = %v, %v", kb, got, ok)
	}
	if _, ok := Lookup("pkg.init:2"); ok {
		t.Fatal("an unknown key was found")
	}
	if got := Keys(); !slices.Equal(got, []string{ka, kb}) {
		t.Fatalf("Keys() = %q", got)
	}
}
