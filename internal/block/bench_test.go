package block

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
)

// benchStream returns about size bytes of records as a word count's map side
// would shuffle them: a msgpack string key (Zipf-distributed words) and a
// msgpack integer value (a small count).
func benchStream(size int) [][2][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	const vocab = 50000
	letters := "etaoinshrdlcumwfgypbvkjxqz"
	words := make([][]byte, vocab)
	for i := range words {
		w := make([]byte, 0, 16)
		w = append(w, 0xa0) // fixstr, length patched below
		for range 2 + rng.IntN(9) {
			// Skewed letter choice makes the words look more like text.
			w = append(w, letters[min(rng.IntN(26), rng.IntN(26))])
		}
		w[0] |= byte(len(w) - 1)
		words[i] = w
	}
	zipf := rand.NewZipf(rng, 1.1, 1, vocab-1)
	var recs [][2][]byte
	for n := 0; n < size; {
		key := words[zipf.Uint64()]
		var val []byte
		switch c := rng.IntN(1000); {
		case c < 900:
			val = []byte{byte(1 + rng.IntN(10))} // positive fixint
		case c < 990:
			val = []byte{0xcc, byte(rng.IntN(256))} // uint8
		default:
			val = binary.BigEndian.AppendUint16([]byte{0xcd}, uint16(rng.IntN(65536))) // uint16
		}
		recs = append(recs, [2][]byte{key, val})
		n += len(key) + len(val) + 2
	}
	return recs
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func rawSize(recs [][2][]byte) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r[0]) + len(r[1]) + 2)
	}
	return n
}

func writeBench(w *Writer, recs [][2][]byte) error {
	for _, r := range recs {
		w.Frame(r[0])
		w.Frame(r[1])
		if err := w.EndRecord(); err != nil {
			return err
		}
	}
	return w.Flush()
}

func BenchmarkWrite(b *testing.B) {
	recs := benchStream(16 << 20)
	raw := rawSize(recs)
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			var cw countingWriter
			w := NewWriter(&cw, c)
			b.SetBytes(raw)
			b.ReportAllocs()
			for b.Loop() {
				w.Reset(&cw)
				if err := writeBench(w, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(raw)/float64(w.Written()), "ratio")
		})
	}
}

func BenchmarkRead(b *testing.B) {
	recs := benchStream(16 << 20)
	raw := rawSize(recs)
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			var buf bytes.Buffer
			if err := writeBench(NewWriter(&buf, c), recs); err != nil {
				b.Fatal(err)
			}
			data := buf.Bytes()
			src := bytes.NewReader(data)
			r := NewReader(src)
			b.SetBytes(raw)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				r.Reset(src)
				n := 0
				for {
					p, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					for len(p) > 0 {
						if _, p, err = NextFrame(p); err != nil {
							b.Fatal(err)
						}
						n++
					}
				}
				if n != 2*len(recs) {
					b.Fatalf("read %d frames, want %d", n, 2*len(recs))
				}
			}
			b.ReportMetric(float64(raw)/float64(len(data)), "ratio")
		})
	}
}
