package spill

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/block"
	"github.com/sluicehq/sluice/internal/fuzztest"
)

// storedBlock returns payload as one uncompressed block with a valid
// header and checksum, so that fuzzed records reach the run decoder instead
// of stopping at the CRC.
func storedBlock(payload []byte) []byte {
	b := make([]byte, block.HeaderSize, block.HeaderSize+len(payload))
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[8:12], uint32(len(payload)))
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.LittleEndian.PutUint32(b[12:16], crc32.Update(crc32.Update(0, tab, b[:12]), tab, payload))
	return append(b, payload...)
}

// readRun merges the run data on its own, as Iter merges a run file, and
// returns its records. The file is /dev/null, held open for the source to
// close; the blocks come from data.
func readRun(name string, data []byte) ([]rec, error) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	m := merger{srcs: []source{{path: name, f: f, br: block.NewReader(bytes.NewReader(data))}}}
	defer m.close()
	if err := m.init(); err != nil {
		return nil, err
	}
	var out []rec
	for {
		src, ok, err := m.next()
		if err != nil || !ok {
			return out, err
		}
		out = append(out, rec{int(src.part), bytes.Clone(src.key), bytes.Clone(src.val)})
	}
}

// encodeRun encodes recs as a run with the sorter's own run writer, in
// memory.
func encodeRun(t testing.TB, c block.Codec, recs []rec) []byte {
	var buf bytes.Buffer
	s := &Sorter{cfg: Config{Codec: c}, bw: bufio.NewWriter(&buf)}
	s.blk = block.NewWriter(s.bw, c)
	w := &runWriter{s: s, path: "memory"}
	for _, r := range recs {
		if err := w.add(int32(r.part), r.key, r.val); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.blk.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzRunFile reads arbitrary bytes as a spill run, either as the whole
// file or as the records of one valid block: every error wraps
// block.ErrCorrupt and names the run, nothing panics, and what reads
// without an error is encoded by the run writer to a run that reads the
// same.
func FuzzRunFile(f *testing.F) {
	recs := []rec{{0, []byte("a"), []byte("1")}, {3, nil, []byte{}}, {math.MaxInt32, bytes.Repeat([]byte("k"), 200), []byte("v")}}
	for _, c := range []block.Codec{block.None, block.S2} {
		b := encodeRun(f, c, recs)
		f.Add(false, b)
		f.Add(false, b[:len(b)-1])
		if c == block.None {
			f.Add(true, b[block.HeaderSize:])
		}
	}
	f.Add(true, []byte{5, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0})    // partition above MaxInt32
	f.Add(true, []byte{2, 0x80, 0x00, 0, 0})                      // overlong partition varint
	f.Add(true, []byte{1, 0, 0, 1, 'x'})                          // value frame cut short
	f.Add(true, []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}) // key claims 4 GiB
	f.Add(false, []byte{})

	const name = "run-fuzz.spill"
	f.Fuzz(func(t *testing.T, wrap bool, b []byte) {
		defer fuzztest.Guard(t)()
		if wrap {
			if len(b) == 0 || len(b) > block.MaxBlockSize {
				return
			}
			b = storedBlock(b)
		}
		got, err := readRun(name, b)
		if err != nil {
			if !errors.Is(err, block.ErrCorrupt) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not wrap block.ErrCorrupt or name the run", err)
			}
			return
		}
		back, err := readRun(name, encodeRun(t, block.None, got))
		if err != nil {
			t.Fatalf("reading back %d records: %v", len(got), err)
		}
		checkSame(t, back, got)
	})
}
