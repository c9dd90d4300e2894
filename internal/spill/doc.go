// Package spill sorts byte records by reduce partition (and optionally key)
// within a memory budget, spilling sorted runs to disk and merging them.
//
// A map task adds its output records to a Sorter. Keys and values are copied
// into one arena, and a 32-byte sort entry per record into another slice
// (two with several partitions); when these buffers, counted by capacity,
// would grow past the budget, the records in memory are sorted and written
// to a run file in block format. Iter sorts what is left in memory and merges it
// with every run in a k-way merge, streaming each run from disk.
//
// The order is total and repeatable: ascending partition, then (with ByKey)
// ascending key bytes, then insertion order. Equal records therefore come
// out exactly as they went in, whatever the budget and however many runs were
// spilled, which keeps map output byte-identical across attempts.
//
//	s, err := spill.NewSorter(spill.Config{Dir: tmp, Budget: 256 << 20, Codec: block.S2, ByKey: true})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	for _, kv := range records {
//		if err := s.Add(partitioner(kv.Key), kv.Key, kv.Value); err != nil {
//			return err
//		}
//	}
//	it, err := s.Iter()
//	if err != nil {
//		return err
//	}
//	for it.Next() {
//		emit(it.Part(), it.Key(), it.Value())
//	}
//	return it.Err()
package spill
