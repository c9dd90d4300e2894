//go:build amd64 || arm64

package spill

// prefetch asks the CPU to bring the cache line at addr in, without
// waiting for it: an arena read in sorted order misses the cache at
// nearly every record, and a prefetch some records ahead overlaps those
// misses. A prefetch never faults, whatever addr is.
//
//go:noescape
func prefetch(addr uintptr)
