package rdd

import (
	"reflect"
	"testing"
)

// TestZeroCopierCopiesDeeply checks that zeroCopier's copies share no
// memory with zero or with each other, whichever way a type is copied.
func TestZeroCopierCopiesDeeply(t *testing.T) {
	type plain struct {
		N    int
		S    string
		Arr  [2]float64
		hide int // unexported: a Go copy keeps it
	}
	type nested struct {
		Name string
		M    map[string][]int
	}
	for _, tc := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"int", func(t *testing.T) { checkCopies(t, func() int { return 7 }, func(p *int) { *p++ }) }},
		{"plain struct", func(t *testing.T) {
			checkCopies(t, func() plain { return plain{N: 1, S: "s", hide: 3} }, func(p *plain) { p.N++; p.Arr[0] = 9 })
		}},
		{"slice with spare capacity", func(t *testing.T) {
			checkCopies(t, func() []int { return make([]int, 1, 8) }, func(p *[]int) { (*p)[0] = 5; *p = append(*p, 1) })
		}},
		{"map", func(t *testing.T) {
			checkCopies(t, func() map[int]bool { return map[int]bool{1: true} }, func(p *map[int]bool) { (*p)[2] = true })
		}},
		{"struct holding a map of slices", func(t *testing.T) {
			checkCopies(t, func() nested { return nested{"n", map[string][]int{"a": {1}}} }, func(p *nested) { p.M["a"][0] = 9 })
		}},
		{"pointer", func(t *testing.T) { checkCopies(t, func() *int { one := 1; return &one }, func(p **int) { **p = 2 }) }},
	} {
		t.Run(tc.name, tc.check)
	}
	for _, tc := range []struct {
		typ  reflect.Type
		refs bool
	}{
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[string](), false},
		{reflect.TypeFor[plain](), false},
		{reflect.TypeFor[[3]plain](), false},
		{reflect.TypeFor[[0]*int](), false},
		{reflect.TypeFor[[]int](), true},
		{reflect.TypeFor[[2][]int](), true},
		{reflect.TypeFor[nested](), true},
		{reflect.TypeFor[any](), true},
		{reflect.TypeFor[func()](), true},
		{reflect.TypeFor[struct{ P *int }](), true},
	} {
		if got := holdsReferences(tc.typ); got != tc.refs {
			t.Errorf("holdsReferences(%v) = %v, want %v", tc.typ, got, tc.refs)
		}
	}
}

// checkCopies makes two copies of a zero value that mk returns, mutates the
// first, and checks against a second value from mk that neither the zero
// nor the second copy changed, and that the first did.
func checkCopies[U any](t *testing.T, mk func() U, mutate func(*U)) {
	t.Helper()
	zero, want := mk(), mk()
	fresh, err := zeroCopier(zero)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fresh(), fresh()
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("copy %#v differs from zero %#v", a, want)
	}
	mutate(&a)
	if reflect.DeepEqual(a, want) {
		t.Fatalf("the mutation did not change the copy")
	}
	if !reflect.DeepEqual(zero, want) || !reflect.DeepEqual(b, want) {
		t.Fatalf("mutating one copy changed the zero value (%#v) or another copy (%#v)", zero, b)
	}
}
