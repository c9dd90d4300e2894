// Package block frames records into compressed, checksummed blocks: the unit
// in which shuffle files and spill runs are written, fetched and verified.
//
// A record is one or more frames (a uvarint length, then that many bytes); a
// block holds whole records only, so a reader can decode any block on its own.
// Each block is a 16-byte header followed by its payload:
//
//	[0]     codec id (None, Snappy, S2, Zstd)
//	[1:4]   zero (reserved)
//	[4:8]   raw (decompressed) length, little-endian u32
//	[8:12]  payload (stored) length, little-endian u32
//	[12:16] CRC32C of header[0:12] followed by the payload
//
// A block whose compressed form would not be smaller than its raw form is
// stored with codec None, so a payload is never longer than its raw length.
// Readers verify the checksum before decompressing and reject every
// malformed block with an error wrapping ErrCorrupt.
//
// Writing and reading:
//
//	w := block.NewWriter(f, block.S2)
//	for _, kv := range pairs {
//		w.Frame(kv.Key)
//		w.Frame(kv.Value)
//		if err := w.EndRecord(); err != nil {
//			return err
//		}
//	}
//	if err := w.Flush(); err != nil {
//		return err
//	}
//
//	r := block.NewReader(f)
//	for {
//		p, err := r.Next()
//		if err == io.EOF {
//			break
//		} else if err != nil {
//			return err
//		}
//		for len(p) > 0 {
//			var key, val []byte
//			if key, p, err = block.NextFrame(p); err != nil {
//				return err
//			}
//			if val, p, err = block.NextFrame(p); err != nil {
//				return err
//			}
//			use(key, val)
//		}
//	}
package block
