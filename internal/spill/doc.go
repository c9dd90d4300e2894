// Package spill sorts byte records by reduce partition (and optionally key)
// within a memory budget, spilling sorted runs to disk and merging them.
//
// A map task adds its output records to a Sorter. Keys and values are copied
// into arena chunks (mapped outside the Go heap on huge pages for budgets of
// 32 MiB and more), and a 32-byte sort entry per record into an array (twice
// that without ByKey, for the partition sort's scratch); when these arrays,
// counted by capacity, would grow past the budget, the records in memory are
// sorted (radix by partition and key byte, then 8-byte key prefixes) and
// written to a run file in block format. Iter sorts what is left in memory
// and merges it with every run through a loser tree, streaming each run from
// disk (advised as read sequentially, for the kernel's larger readahead); the runs' read buffers are charged to the budget while merging.
// Keys and values the Iterator returns are valid until Close.
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
