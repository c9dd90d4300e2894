package block

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

var allCodecs = []Codec{None, Snappy, S2, Zstd}

// randRecords returns n records of 1 to 3 frames, mixing empty, short,
// repetitive and random frames so that every codec takes both its
// compressed and its stored-raw path.
func randRecords(rng *rand.Rand, n int) [][][]byte {
	recs := make([][][]byte, n)
	for i := range recs {
		frames := make([][]byte, 1+rng.IntN(3))
		for j := range frames {
			var f []byte
			switch rng.IntN(4) {
			case 0: // empty
			case 1:
				f = []byte(strings.Repeat("word", rng.IntN(40)))
			case 2:
				f = make([]byte, rng.IntN(300))
				for k := range f {
					f[k] = byte(rng.Uint32())
				}
			case 3:
				f = fmt.Appendf(nil, "key-%d", rng.IntN(100))
			}
			frames[j] = f
		}
		recs[i] = frames
	}
	return recs
}

func writeRecords(t testing.TB, c Codec, blockSize int, recs [][][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, c)
	w.SetBlockSize(blockSize)
	for _, rec := range recs {
		for _, f := range rec {
			w.Frame(f)
		}
		if err := w.EndRecord(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written() = %d, wrote %d bytes", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

// readRecords reads every block of data, checking that blocks hold whole
// records, and returns the records in order.
func readRecords(t testing.TB, data []byte, want [][][]byte) [][][]byte {
	t.Helper()
	r := NewReader(bytes.NewReader(data))
	var got [][][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(got), err)
		}
		if len(p) == 0 {
			t.Fatal("Next returned an empty block")
		}
		for len(p) > 0 {
			if len(got) >= len(want) {
				t.Fatalf("more records than the %d written", len(want))
			}
			rec := make([][]byte, len(want[len(got)]))
			for i := range rec {
				if rec[i], p, err = NextFrame(p); err != nil {
					t.Fatalf("record %d frame %d (block ends inside a record?): %v", len(got), i, err)
				}
				rec[i] = bytes.Clone(rec[i])
			}
			got = append(got, rec)
		}
	}
	return got
}

func equalRecords(a, b [][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !bytes.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, bs := range []int{1, 100, 4 << 10, DefaultBlockSize} {
			t.Run(fmt.Sprintf("%s/%d", c, bs), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(bs), uint64(c)))
				recs := randRecords(rng, 2000)
				data := writeRecords(t, c, bs, recs)
				if got := readRecords(t, data, recs); !equalRecords(got, recs) {
					t.Fatal("records differ after round trip")
				}
				if again := writeRecords(t, c, bs, recs); !bytes.Equal(again, data) {
					t.Fatal("same records encoded to different bytes")
				}
			})
		}
	}
}

func TestEmptyStream(t *testing.T) {
	for _, c := range allCodecs {
		var buf bytes.Buffer
		w := NewWriter(&buf, c)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 0 || w.Written() != 0 {
			t.Fatalf("%s: empty flush wrote %d bytes", c, buf.Len())
		}
		r := NewReader(&buf)
		for range 2 {
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("%s: Next on empty stream = %v, want io.EOF", c, err)
			}
		}
	}
}

func TestZeroLengthFrames(t *testing.T) {
	recs := [][][]byte{{{}}, {{}, {}, {}}, {nil, []byte("x"), nil}}
	for _, c := range allCodecs {
		data := writeRecords(t, c, DefaultBlockSize, recs)
		if got := readRecords(t, data, recs); !equalRecords(got, recs) {
			t.Fatalf("%s: zero-length frames differ", c)
		}
	}
}

func TestLargeFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(rng.IntN(16)) // compressible, but not trivially
	}
	recs := [][][]byte{
		{[]byte("small")},
		{big[:DefaultBlockSize+1]},
		{[]byte("a"), big},
		{[]byte("tail")},
	}
	for _, c := range allCodecs {
		data := writeRecords(t, c, DefaultBlockSize, recs)
		if got := readRecords(t, data, recs); !equalRecords(got, recs) {
			t.Fatalf("%s: large frames differ", c)
		}
	}
}

func TestMaxBlockSize(t *testing.T) {
	for _, c := range []Codec{None, S2} {
		var buf bytes.Buffer
		w := NewWriter(&buf, c)
		w.SetBlockSize(MaxBlockSize) // so the small record is still pending
		w.Frame([]byte("before"))
		if err := w.EndRecord(); err != nil {
			t.Fatal(err)
		}
		// Exactly MaxBlockSize raw bytes: frame header (4 bytes) plus data.
		w.Frame(make([]byte, MaxBlockSize-4))
		if err := w.EndRecord(); err != nil {
			t.Fatalf("%s: record of MaxBlockSize bytes: %v", c, err)
		}
		w.Frame(make([]byte, MaxBlockSize))
		err := w.EndRecord()
		if !errors.Is(err, ErrRecordTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(MaxBlockSize+4)) {
			t.Fatalf("%s: oversized record: err = %v, want ErrRecordTooLarge naming %d", c, err, MaxBlockSize+4)
		}
		w.Frame([]byte("after"))
		if err := w.EndRecord(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		want := [][][]byte{{[]byte("before")}, {make([]byte, MaxBlockSize-4)}, {[]byte("after")}}
		if got := readRecords(t, buf.Bytes(), want); !equalRecords(got, want) {
			t.Fatalf("%s: records around the oversized one differ", c)
		}
	}
}

func TestReaderRejectsOversizedHeader(t *testing.T) {
	h := make([]byte, HeaderSize)
	h[0] = byte(None)
	binary.LittleEndian.PutUint32(h[4:], MaxBlockSize+1)
	binary.LittleEndian.PutUint32(h[8:], MaxBlockSize+1)
	_, err := NewReader(bytes.NewReader(h)).Next()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "MaxBlockSize") {
		t.Fatalf("err = %v, want ErrCorrupt about MaxBlockSize", err)
	}
}

// smallStream returns a stream of several small blocks and their payloads.
func smallStream(t *testing.T, c Codec) ([]byte, [][]byte, []int) {
	recs := [][][]byte{
		{[]byte("alpha"), []byte("1")},
		{[]byte(strings.Repeat("beta", 20)), []byte("2")},
		{[]byte("gamma-gamma"), []byte{}},
		{[]byte(strings.Repeat("delta", 30)), []byte("4")},
	}
	data := writeRecords(t, c, 8, recs)
	var payloads [][]byte
	var bounds []int
	r := NewReader(bytes.NewReader(data))
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, bytes.Clone(p))
		bounds = append(bounds, int(r.off))
	}
	if len(payloads) != len(recs) {
		t.Fatalf("%s: %d blocks, want %d", c, len(payloads), len(recs))
	}
	return data, payloads, bounds
}

// readAll returns the payloads read before the first error, and that error.
func readAll(data []byte) ([][]byte, error) {
	r := NewReader(bytes.NewReader(data))
	var out [][]byte
	for {
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(p))
	}
}

func TestCorruption(t *testing.T) {
	for _, c := range allCodecs {
		data, want, _ := smallStream(t, c)
		for i := range data {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(data)
				bad[i] ^= mask
				got, err := readAll(bad)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: byte %d ^ %#x: err = %v, want ErrCorrupt", c, i, mask, err)
				}
				for j, p := range got {
					if !bytes.Equal(p, want[j]) {
						t.Fatalf("%s: byte %d ^ %#x: block %d returned wrong data", c, i, mask, j)
					}
				}
			}
		}
	}
}

func TestTruncation(t *testing.T) {
	for _, c := range allCodecs {
		data, want, bounds := smallStream(t, c)
		for cut := range len(data) {
			got, err := readAll(data[:cut])
			atBoundary := cut == 0
			for _, b := range bounds {
				atBoundary = atBoundary || b == cut
			}
			if atBoundary {
				if err != io.EOF {
					t.Fatalf("%s: cut at block boundary %d: err = %v, want io.EOF", c, cut, err)
				}
			} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("%s: cut at %d: err = %v, want ErrCorrupt (truncated)", c, cut, err)
			}
			for j, p := range got {
				if !bytes.Equal(p, want[j]) {
					t.Fatalf("%s: cut at %d: block %d returned wrong data", c, cut, j)
				}
			}
		}
	}
}

func TestErrorNamesOffset(t *testing.T) {
	data, _, bounds := smallStream(t, S2)
	bad := bytes.Clone(data)
	bad[bounds[1]+HeaderSize] ^= 0xff // third block's payload
	_, err := readAll(bad)
	if want := fmt.Sprintf("offset %d", bounds[1]); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to mention %q", err, want)
	}
	if !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("err = %v, want it to mention the checksum", err)
	}
}

func TestSourceErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(bytes.NewReader(make([]byte, 3)), errReader{boom}))
	if _, err := r.Next(); !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want the source's error, not ErrCorrupt", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	recs := randRecords(rng, 300)
	for _, c := range allCodecs {
		var a, b bytes.Buffer
		w := NewWriter(&a, c)
		w.SetBlockSize(512)
		w.Frame([]byte("discarded"))
		w.Reset(&b)
		for _, rec := range recs {
			for _, f := range rec {
				w.Frame(f)
			}
			if err := w.EndRecord(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if a.Len() != 0 || w.Written() != int64(b.Len()) {
			t.Fatalf("%s: after Reset wrote %d bytes to the old writer, Written %d of %d", c, a.Len(), w.Written(), b.Len())
		}
		if !bytes.Equal(b.Bytes(), writeRecords(t, c, 512, recs)) {
			t.Fatalf("%s: a reset Writer wrote different bytes", c)
		}

		r := NewReader(bytes.NewReader([]byte{1, 2, 3}))
		if _, err := r.Next(); !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		r.Reset(bytes.NewReader(b.Bytes()))
		n := 0
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: after Reset: %v", c, err)
			}
			n += len(p)
		}
		if n == 0 {
			t.Fatalf("%s: nothing read after Reset", c)
		}
	}
}

func TestWriterErrorIsSticky(t *testing.T) {
	boom := errors.New("disk full")
	w := NewWriter(failWriter{boom}, S2)
	w.Frame([]byte("x"))
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	w.Frame([]byte("y"))
	if err := w.EndRecord(); !errors.Is(err, boom) {
		t.Fatalf("EndRecord after failure = %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestIncompressibleBlockStoredRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 10000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, c := range allCodecs {
		data := writeRecords(t, c, DefaultBlockSize, [][][]byte{{noise}})
		if Codec(data[0]) != None {
			t.Fatalf("%s: incompressible block stored with codec %s", c, Codec(data[0]))
		}
	}
}

func TestNextFrame(t *testing.T) {
	long := bytes.Repeat([]byte{'z'}, 300)
	p := append([]byte{0, 3, 'a', 'b', 'c', 0xac, 0x02}, long...)
	f, rest, err := NextFrame(p)
	if err != nil || len(f) != 0 {
		t.Fatalf("first frame = %q, %v", f, err)
	}
	if f, rest, err = NextFrame(rest); err != nil || string(f) != "abc" {
		t.Fatalf("second frame = %q, %v", f, err)
	}
	if f, rest, err = NextFrame(rest); err != nil || !bytes.Equal(f, long) || len(rest) != 0 {
		t.Fatalf("third frame = %d bytes, rest %d, %v", len(f), len(rest), err)
	}
	for _, bad := range [][]byte{nil, {5, 'a'}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, {0xac, 0x02, 'x'}} {
		if _, _, err := NextFrame(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("NextFrame(%x) err = %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestParseCodec(t *testing.T) {
	for _, c := range allCodecs {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCodec(%q) = %v, %v", c.String(), got, err)
		}
	}
	_, err := ParseCodec("lz4")
	if err == nil || err.Error() != `block: unknown codec "lz4" (want s2, snappy, zstd or none)` {
		t.Errorf("ParseCodec(lz4) err = %v", err)
	}
	if Codec(9).Valid() || Codec(9).String() != "codec(9)" {
		t.Errorf("Codec(9) = %s, valid %v", Codec(9), Codec(9).Valid())
	}
}

// TestRawLengthMismatch checks blocks whose checksum is right but whose
// payload decodes to a length other than the header's.
func TestRawLengthMismatch(t *testing.T) {
	raw := bytes.Repeat([]byte("abcdefgh"), 1000)
	zenc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A streamed zstd frame carries no content size, so only the capacity
	// limit stops the decoder.
	var stream bytes.Buffer
	zw, err := zstd.NewWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	payloads := map[Codec][][]byte{
		Snappy: {snappy.Encode(nil, raw)},
		S2:     {s2.Encode(nil, raw)},
		Zstd:   {zenc.EncodeAll(raw, nil), stream.Bytes()},
	}
	for c, ps := range payloads {
		for _, p := range ps {
			for _, n := range []int{len(raw) - 1, len(raw) + 1, len(raw) / 2} {
				_, err := NewReader(bytes.NewReader(makeBlock(byte(c), uint32(n), p))).Next()
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s payload of %d raw bytes with header raw length %d: err = %v", c, len(raw), n, err)
				}
			}
			got, err := NewReader(bytes.NewReader(makeBlock(byte(c), uint32(len(raw)), p))).Next()
			if err != nil || !bytes.Equal(got, raw) {
				t.Errorf("%s payload with the right length: err = %v", c, err)
			}
		}
	}
}
