package compress

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"

	"github.com/sluicehq/sluice/internal/fuzztest"
)

func TestForPath(t *testing.T) {
	for path, want := range map[string]Codec{
		"a.txt": None, "a": None, "a.gz": Gzip, "dir.gz/a": None, "a.json.zst": Zstd,
		"a.bz2": Bzip2, "a.sz": Snappy, "a.snappy": Snappy, ".gz": Gzip, "a.GZ": None,
	} {
		if got := ForPath(path); got != want {
			t.Errorf("ForPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []Codec{None, Gzip, Zstd, Snappy, Bzip2} {
		got, err := Parse(c.String())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %v, %v", c.String(), got, err)
		}
		if c != None && ForPath("x"+c.Ext()) != c {
			t.Errorf("ForPath(x%s) is not %v", c.Ext(), c)
		}
	}
	if _, err := Parse("lz4"); err == nil {
		t.Error("Parse(lz4) succeeded")
	}
	if _, err := Bzip2.NewWriter(io.Discard); err == nil {
		t.Error("a bz2 writer was made")
	}
}

// TestRoundTrip writes random data of random sizes with every codec that
// writes, and reads it back, byte for byte, also one byte at a time.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []Codec{None, Gzip, Zstd, Snappy} {
		for _, n := range []int{0, 1, 100, 65536, 1 << 20} {
			data := make([]byte, n)
			for i := range data {
				data[i] = "ab\nc\x00é"[rng.IntN(7)]
			}
			var buf bytes.Buffer
			w, err := c.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(buf.Bytes())
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				r, err := c.NewReader(src)
				if err != nil {
					t.Fatalf("%v, %d bytes: %v", c, n, err)
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%v, %d bytes (one byte at a time: %v): read %d bytes, %v", c, n, oneByte, len(got), err)
				}
			}
		}
	}
}

func TestReadBzip2AndHadoopSnappy(t *testing.T) {
	want, err := os.ReadFile("testdata/lines.txt")
	if err != nil {
		t.Fatal(err)
	}
	bz, err := os.ReadFile("testdata/lines.txt.bz2") // made by bzip2(1)
	if err != nil {
		t.Fatal(err)
	}
	hs := AppendHadoopSnappy(nil, want[:10])
	hs = AppendHadoopSnappy(hs, nil) // an empty block
	hs = AppendHadoopSnappy(hs, want[10:])
	for name, in := range map[string]struct {
		c    Codec
		data []byte
	}{"bz2": {Bzip2, bz}, "hadoop snappy": {Snappy, hs}} {
		r, err := in.c.NewReader(bytes.NewReader(in.data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
}

// TestMalformed: corrupt or truncated streams of every codec are
// ErrFormat errors; an error of the reader underneath is passed on as it
// is.
func TestMalformed(t *testing.T) {
	data := bytes.Repeat([]byte("hello, world\n"), 1000)
	for _, c := range []Codec{Gzip, Zstd, Snappy} {
		var buf bytes.Buffer
		w, _ := c.NewWriter(&buf)
		w.Write(data)
		w.Close()
		enc := buf.Bytes()
		for name, in := range map[string][]byte{
			"truncated": enc[:len(enc)/2],
			"flipped":   flip(enc, len(enc)/2),
		} {
			r, err := c.NewReader(bytes.NewReader(in))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("%v %s: got %v, want ErrFormat", c, name, err)
			}
		}
		disk := errors.New("an I/O error")
		r, err := c.NewReader(io.MultiReader(bytes.NewReader(enc[:len(enc)/2]), iotest.ErrReader(disk)))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, disk) || errors.Is(err, ErrFormat) {
			t.Errorf("%v: a failing reader gave %v", c, err)
		}
	}
	for name, in := range map[string][]byte{
		"huge block":    {0x7f, 0, 0, 0, 0, 0, 0, 1, 0},
		"huge chunk":    {0, 0, 0, 4, 0x7f, 0, 0, 0},
		"short chunk":   {0, 0, 0, 4, 0, 0, 0, 9, 1},
		"long decode":   AppendHadoopSnappy(nil, []byte("too long"))[4:],
		"cut header":    {0, 0},
		"empty chunk":   {0, 0, 0, 4, 0, 0, 0, 0},
		"chunk too big": append([]byte{0, 0, 0, 2}, AppendHadoopSnappy(nil, []byte("abc"))[4:]...),
	} {
		_, err := io.ReadAll(newHadoopSnappyReader(bytes.NewReader(in)))
		if !errors.Is(err, ErrFormat) {
			t.Errorf("hadoop snappy, %s: got %v, want ErrFormat", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0xff
	return b
}

// FuzzReader: any bytes, read as any codec, give data or an error, never
// a panic or a hang; output is read up to a bound, as a line reader would.
func FuzzReader(f *testing.F) {
	for _, c := range []Codec{Gzip, Zstd, Snappy} {
		var buf bytes.Buffer
		w, _ := c.NewWriter(&buf)
		w.Write([]byte("a line\nanother\n"))
		w.Close()
		f.Add(uint8(c), buf.Bytes())
	}
	f.Add(uint8(Snappy), AppendHadoopSnappy(nil, []byte("hadoop\n")))
	if bz, err := os.ReadFile("testdata/lines.txt.bz2"); err == nil {
		f.Add(uint8(Bzip2), bz)
	}
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		defer fuzztest.Guard(t)()
		codec := Codec(c % 5)
		r, err := codec.NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer r.Close()
		io.Copy(io.Discard, io.LimitReader(r, 4<<20))
	})
}
