// Package compress is the compression of input and output files, chosen
// by file name extension as Hadoop's CompressionCodecFactory chooses it:
// .gz (gzip), .zst (zstd), .bz2 (bzip2, read only: no maintained Go
// bzip2 writer exists), .sz and .snappy (snappy). A compressed file cannot
// be read from the middle, so it is one input split.
//
//	c := compress.ForPath("logs/2026-11-30.json.gz") // compress.Gzip
//	r, err := c.NewReader(f)
//
// Snappy has two stream formats in the wild: the framing format of
// google/snappy (what `.sz` files and this package's writer use) and
// Hadoop's block stream (what Hadoop's SnappyCodec writes as `.snappy`).
// The reader tells them apart by the framing format's stream identifier.
package compress
