package objstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/objstore"
	"github.com/sluicehq/sluice/internal/s3test"
)

const benchBytes = 64 << 20

// BenchmarkRead reads a 64 MiB object from the S3 server (32 MiB
// splits by ranged GETs, as TextFile reads it) against the same bytes from
// a local file.
func BenchmarkRead(b *testing.B) {
	data := make([]byte, benchBytes)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	b.Run("s3", func(b *testing.B) {
		srv := s3test.Start(b)
		srv.Setenv(b)
		st, err := objstore.Default()
		if err != nil {
			b.Fatal(err)
		}
		u := srv.Bucket(b, "bench") + "obj"
		ctx := context.Background()
		if err := st.Put(ctx, u, data); err != nil {
			b.Fatal(err)
		}
		info, err := st.Stat(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchBytes)
		for b.Loop() {
			for off := int64(0); off < benchBytes; off += 32 << 20 {
				r := objstore.OpenRange(ctx, st, info, off, off+32<<20)
				if _, err := io.Copy(io.Discard, io.LimitReader(r, 32<<20)); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		}
	})
	b.Run("disk", func(b *testing.B) {
		p := filepath.Join(b.TempDir(), "obj")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchBytes)
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// BenchmarkWrite writes a 64 MiB object as an output part does (8 MiB
// parts of an upload, then completed) against writing a local file.
func BenchmarkWrite(b *testing.B) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	b.Run("s3", func(b *testing.B) {
		srv := s3test.Start(b)
		srv.Setenv(b)
		st, err := objstore.Default()
		if err != nil {
			b.Fatal(err)
		}
		u := srv.Bucket(b, "bench") + "obj"
		ctx := context.Background()
		b.SetBytes(benchBytes)
		for b.Loop() {
			w, err := objstore.NewWriter(ctx, st, u)
			if err != nil {
				b.Fatal(err)
			}
			for range benchBytes / len(data) {
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
			}
			p, err := w.Close()
			if err != nil {
				b.Fatal(err)
			}
			if err := st.CompleteUpload(ctx, p.URL, p.UploadID, p.Parts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("disk", func(b *testing.B) {
		p := filepath.Join(b.TempDir(), "obj")
		b.SetBytes(benchBytes)
		for b.Loop() {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			for range benchBytes / len(data) {
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
