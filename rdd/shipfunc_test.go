package rdd

import (
	"runtime"
	"strings"
	"testing"
)

func addInts(a, b int) int { return a + b }

func pickFirst[T any](a, _ T) T { return a }

type adder struct{ n int }

func (a adder) add(x, y int) int { return x + y + a.n }

// TestRefOfStaticFunctions ships the kinds of function value that capture
// nothing and calls what resolve returns.
func TestRefOfStaticFunctions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shipping functions needs /proc/self/maps")
	}
	for _, tc := range []struct {
		name string
		f    func(int, int) int
		want int
	}{
		{"top-level function", addInts, 5},
		{"literal", func(a, b int) int { return a * b }, 6},
		{"generic instantiation", pickFirst[int], 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := refOf(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Type != "func(int, int) int" || ref.Name == "" {
				t.Errorf("ref %+v", ref)
			}
			g, err := resolve[func(int, int) int](ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := g(2, 3); got != tc.want {
				t.Errorf("resolved function gives %d, want %d", got, tc.want)
			}
		})
	}
	// A method expression takes its receiver first.
	ref, err := refOf(adder.add)
	if err != nil {
		t.Fatal(err)
	}
	g, err := resolve[func(adder, int, int) int](ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := g(adder{10}, 1, 2); got != 13 {
		t.Errorf("method expression gives %d, want 13", got)
	}
}

// TestRefOfCapturingFunctions: closures over variables and method values
// live on the heap, so they have no reference.
func TestRefOfCapturingFunctions(t *testing.T) {
	k := 3
	for name, f := range map[string]any{
		"closure":      func(a, b int) int { return a + b + k },
		"method value": adder{1}.add,
	} {
		if _, err := refOf(f); err != errNotStatic {
			t.Errorf("%s: refOf gives %v, want errNotStatic", name, err)
		}
	}
	var nilFunc func(int, int) int
	for _, f := range []any{nil, nilFunc, 42} {
		if _, err := refOf(f); err == nil || err == errNotStatic {
			t.Errorf("refOf(%#v) gives %v, want an error that it is not a function", f, err)
		}
	}
}

// TestResolveChecksEverything: a reference that does not match this binary
// is an error, never a call of whatever lies there.
func TestResolveChecksEverything(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shipping functions needs /proc/self/maps")
	}
	good, err := refOf(addInts)
	if err != nil {
		t.Fatal(err)
	}
	other, err := refOf(pickFirst[int])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  funcRef
		want string
	}{
		{"wrong type", funcRef{good.Off, good.Name, "func(int) int"}, "expects func(int, int) int"},
		{"wrong name", funcRef{good.Off, "main.other", good.Type}, "where this executor has"},
		{"another function's offset", funcRef{other.Off, good.Name, good.Type}, "where this executor has"},
		{"misaligned", funcRef{good.Off + 1, good.Name, good.Type}, "outside"},
		{"far outside", funcRef{good.Off + 1<<40, good.Name, good.Type}, "outside"},
		{"before the binary", funcRef{-1 << 40, good.Name, good.Type}, "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := resolve[func(int, int) int](tc.ref)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resolve gives %v, want an error containing %q", err, tc.want)
			}
			if f != nil {
				t.Error("resolve returned a function with its error")
			}
		})
	}
	if _, err := resolve[int](good); err == nil {
		t.Error("resolving as a non-function type succeeded")
	}
}

type emptyA[T any] struct{}
type emptyB struct{}

// TestTypeRefs ships empty struct types, generic instantiations included,
// and refuses what is not one or does not match.
func TestTypeRefs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shipping types needs /proc/self/maps")
	}
	for _, v := range []any{emptyA[int]{}, emptyA[[]string]{}, emptyB{}, reduceRunner[map[string]int]{}} {
		ref, err := typeRefOf(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := resolveType(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("resolved %v (%T), want %T", got, got, v)
		}
	}
	if _, err := typeRefOf(struct{ X int }{1}); err == nil {
		t.Error("typeRefOf accepted a non-empty struct")
	}
	good, err := typeRefOf(emptyA[int]{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := typeRefOf(emptyB{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []typeRef{
		{other.Off, good.Name},
		{good.Off + 1, good.Name},
		{good.Off + 1<<40, good.Name},
	} {
		if _, err := resolveType(ref); err == nil {
			t.Errorf("resolveType(%+v) succeeded", ref)
		}
	}
}
