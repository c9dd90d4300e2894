package codec

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The benchmarks encode and decode a batch of benchN values per iteration,
// so b.SetBytes reports msgpack bytes per second on each side.
const benchN = 1024

func benchStrings() []string {
	r := newRand(40)
	out := make([]string, benchN)
	for i := range out {
		b := make([]byte, 4+r.IntN(44)) // word- to sentence-sized keys
		for j := range b {
			b[j] = 'a' + byte(r.IntN(26))
		}
		out[i] = string(b)
	}
	return out
}

func benchInt64s() []int64 {
	r := newRand(41)
	out := make([]int64, benchN)
	for i := range out {
		out[i] = randInt(r)
	}
	return out
}

func frames[T any](vals []T) ([][]byte, int64) {
	c := For[T]()
	out := make([][]byte, len(vals))
	var n int64
	for i, v := range vals {
		out[i] = c.Append(nil, v)
		n += int64(len(out[i]))
	}
	return out, n
}

func benchAppend[T any](b *testing.B, vals []T) {
	_, size := frames(vals)
	b.Run("codec", func(b *testing.B) {
		c := For[T]()
		b.SetBytes(size)
		b.ReportAllocs()
		buf := make([]byte, 0, size)
		for b.Loop() {
			buf = buf[:0]
			for _, v := range vals {
				buf = c.Append(buf, v)
			}
		}
	})
	b.Run("msgpack.Marshal", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range vals {
				if _, err := msgpack.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("msgpack.Encoder", func(b *testing.B) {
		// A reused Encoder is the library's best case.
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			for _, v := range vals {
				if err := enc.Encode(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func benchDecode[T any](b *testing.B, vals []T) {
	fs, size := frames(vals)
	b.Run("codec", func(b *testing.B) {
		c := For[T]()
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range fs {
				if _, err := c.Decode(f); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("msgpack.Unmarshal", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range fs {
				var v T
				if err := msgpack.Unmarshal(f, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkAppendString(b *testing.B) { benchAppend(b, benchStrings()) }
func BenchmarkDecodeString(b *testing.B) { benchDecode(b, benchStrings()) }
func BenchmarkAppendInt64(b *testing.B)  { benchAppend(b, benchInt64s()) }
func BenchmarkDecodeInt64(b *testing.B)  { benchDecode(b, benchInt64s()) }

func benchPoints() []point {
	r := newRand(42)
	out := make([]point, benchN)
	for i := range out {
		out[i] = point{int(randInt(r)), int(randInt(r)), fmt.Sprint("label-", r.IntN(1000))}
	}
	return out
}

// The fallback benchmarks measure the reflection path's pooling overhead
// against the library used directly.
func BenchmarkAppendStruct(b *testing.B) { benchAppend(b, benchPoints()) }
func BenchmarkDecodeStruct(b *testing.B) { benchDecode(b, benchPoints()) }

func BenchmarkHash(b *testing.B) {
	fs, size := frames(benchStrings())
	b.SetBytes(size)
	for b.Loop() {
		for _, f := range fs {
			Hash(f)
		}
	}
}

func BenchmarkAppendOrderedInt64(b *testing.B) {
	vals := benchInt64s()
	b.SetBytes(8 * benchN)
	buf := make([]byte, 0, 8*benchN)
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = AppendOrdered(buf, v)
		}
	}
}

func BenchmarkOrderedForInt64(b *testing.B) {
	vals := benchInt64s()
	appendKey, _ := OrderedFor[int64]()
	b.SetBytes(8 * benchN)
	buf := make([]byte, 0, 8*benchN)
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = appendKey(buf, v)
		}
	}
}
