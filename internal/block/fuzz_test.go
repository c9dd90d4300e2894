package block

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

// fuzzSeeds returns valid streams of every codec, including incompressible
// blocks stored raw and a multi-frame record.
func fuzzSeeds(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(11, 12))
	recs := randRecords(rng, 40)
	var seeds [][]byte
	for _, c := range allCodecs {
		seeds = append(seeds, writeRecords(t, c, 256, recs))
	}
	return seeds
}

// checkReadAll decodes data as blocks of frames, as a reduce task would.
func checkReadAll(t *testing.T, data []byte) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			break
		}
		if len(p) == 0 || len(p) > MaxBlockSize {
			t.Fatalf("payload of %d bytes", len(p))
		}
		for len(p) > 0 {
			if _, p, err = NextFrame(p); err != nil {
				break
			}
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 2*MaxBlockSize {
		t.Fatalf("allocated %d bytes for %d bytes of input", n, len(data))
	}
}

// makeBlock returns a block with the given header fields, payload and a
// valid checksum.
func makeBlock(codec byte, rawLen uint32, payload []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b[0] = codec
	binary.LittleEndian.PutUint32(b[4:8], rawLen)
	binary.LittleEndian.PutUint32(b[8:12], uint32(len(payload)))
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.LittleEndian.PutUint32(b[12:16], crc32.Update(crc32.Update(0, tab, b[:12]), tab, payload))
	return append(b, payload...)
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzztest.Guard(t)()
		checkReadAll(t, data)
	})
}

// FuzzBlockPayload gives every payload a valid header and checksum, so the
// fuzzer reaches the decompressors instead of stopping at the CRC.
func FuzzBlockPayload(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		h := s[:HeaderSize]
		n := binary.LittleEndian.Uint32(h[8:12])
		f.Add(h[0], binary.LittleEndian.Uint32(h[4:8]), s[HeaderSize:HeaderSize+int(n)])
	}
	f.Fuzz(func(t *testing.T, codec byte, rawLen uint32, payload []byte) {
		defer fuzztest.Guard(t)()
		data := makeBlock(codec, rawLen, payload)
		checkReadAll(t, data)

		p, err := NewReader(bytes.NewReader(data)).Next()
		if err == nil && len(p) != int(rawLen) {
			t.Fatalf("decoded %d bytes, header says %d", len(p), rawLen)
		}
	})
}

func FuzzNextFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{3, 'a', 'b', 'c', 1, 'd'})
	f.Add([]byte{0xac, 0x02, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		defer fuzztest.Guard(t)()
		for len(p) > 0 {
			frame, rest, err := NextFrame(p)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error does not wrap ErrCorrupt: %v", err)
				}
				return
			}
			if len(rest) >= len(p) || len(frame)+len(rest) >= len(p) {
				t.Fatalf("no progress: %d bytes -> frame %d, rest %d", len(p), len(frame), len(rest))
			}
			if len(rest) > 0 && &rest[len(rest)-1] != &p[len(p)-1] {
				t.Fatal("rest is not a suffix of the input")
			}
			p = rest
		}
	})
}
