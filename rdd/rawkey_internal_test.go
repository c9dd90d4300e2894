package rdd

import (
	"reflect"
	"testing"
)

// TestRawBytesEqual: only types whose == is equality of their memory are
// keyed by it.
func TestRawBytesEqual(t *testing.T) {
	type packed struct {
		A int32
		B uint16
		C bool
		D [1]uint8
	}
	type padded struct {
		A int8
		B int64
	}
	type trailing struct {
		A int64
		B int8
	}
	type blank struct {
		A int32
		_ int32
	}
	type nested struct {
		P [2]packed
		X uint64
	}
	for _, c := range []struct {
		v    any
		want bool
	}{
		{true, true}, {int16(0), true}, {[4]byte{}, true}, {packed{}, true}, {nested{}, true},
		{padded{}, false}, {trailing{}, false}, {blank{}, false},
		{float64(0), false}, {[2]float32{}, false}, {"", false}, {new(int), false},
		{struct{ S string }{}, false}, {[1]any{}, false}, {complex64(0), false},
	} {
		if got := rawBytesEqual(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("%T: rawBytesEqual = %v, want %v", c.v, got, c.want)
		}
	}
}
