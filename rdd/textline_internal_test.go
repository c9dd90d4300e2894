package rdd

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/internal/textfmt"
)

// TestAppendTextMatchesTextfmt holds the fast paths of appendText to the
// formatting of internal/textfmt, which mapreduce's TextOutput shares.
func TestAppendTextMatchesTextfmt(t *testing.T) {
	check := func(got []byte, v any) {
		t.Helper()
		if want := textfmt.Append([]byte("x"), v); string(got) != string(want) {
			t.Errorf("%T %v: %q, want %q", v, v, got, want)
		}
	}
	for _, s := range []string{"", "a\tb", "é中\n"} {
		check(appendText([]byte("x"), s), s)
		check(appendText([]byte("x"), []byte(s)), []byte(s))
	}
	for _, n := range []int64{0, -1, 42, math.MinInt64, math.MaxInt64} {
		check(appendText([]byte("x"), n), n)
		check(appendText([]byte("x"), int(n)), int(n))
		check(appendText([]byte("x"), int32(n)), int32(n))
		check(appendText([]byte("x"), uint64(n)), uint64(n))
	}
	check(appendText([]byte("x"), 1.5), 1.5)
	check(appendText([]byte("x"), true), true)
	if got := appendText(nil, KV("k", KV(int64(-3), uint64(4)))); string(got) != "k\t-3\t4" {
		t.Errorf("nested pair: %q", got)
	}
}

// TestAppendTextAllocations: a text line of strings and numbers costs no
// allocation per field, only one per Pair.
func TestAppendTextAllocations(t *testing.T) {
	buf := make([]byte, 0, 256)
	for _, c := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"string", 0, func() { buf = appendText(buf[:0], "abcdefgh") }},
		{"int64", 0, func() { buf = appendText(buf[:0], int64(-12345)) }},
		{"pair of strings", 1, func() { buf = appendText(buf[:0], KV("abcdefgh", "12345")) }},
		{"join record", 2, func() { buf = appendText(buf[:0], KV("abcdefgh", KV("123", "456789"))) }},
		{"counts", 2, func() { buf = appendText(buf[:0], KV("abcdefgh", KV(int64(3), uint64(1)<<60))) }},
	} {
		if n := testing.AllocsPerRun(100, c.f); n > c.max {
			t.Errorf("%s: %v allocations per line, want at most %v", c.name, n, c.max)
		}
	}
}
