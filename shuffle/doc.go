// Package shuffle writes and reads map output files: what one map task
// produced for every reduce partition.
//
// A map task writes one data file and one index file. The data file holds
// the partitions one after another, each a run of blocks in the format of
// internal/block (a partition always starts at a block boundary, so any
// partition's byte range can be read on its own, from disk or streamed over
// the network). The index file gives each partition's byte range:
//
//	"SLIX"                      magic
//	u32 version                 1
//	u32 numPartitions           n
//	u64 offsets[n+1]            offsets[0] = 0, non-decreasing, offsets[n] = data size
//	u32 CRC32C                  of all preceding bytes
//
// all little-endian. Files are written under temporary names and renamed
// into place on Commit, data first, so a reader that finds an index always
// finds its data. The same records, partitions and codec always produce the
// same bytes, which lets a recomputed map output replace a lost one.
//
//	w, err := shuffle.Create(dataPath, indexPath, numReducers, block.S2)
//	if err != nil {
//		return err
//	}
//	defer w.Abort()
//	for it.Next() { // records sorted by partition
//		if err := w.Partition(it.Part()); err != nil {
//			return err
//		}
//		w.Frame(it.Key())
//		w.Frame(it.Value())
//		if err := w.EndRecord(); err != nil {
//			return err
//		}
//	}
//	sizes, err := w.Commit()
//
// A reduce task then reads its partition block by block:
//
//	r, err := shuffle.OpenPartition(dataPath, indexPath, p)
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	for {
//		payload, err := r.Next()
//		if err == io.EOF {
//			break
//		} else if err != nil {
//			return err
//		}
//		// split payload with block.NextFrame
//	}
package shuffle
