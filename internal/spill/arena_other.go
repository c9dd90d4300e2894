//go:build !linux

package spill

// mapChunk is not available: chunks come from the Go heap.
func mapChunk(n int) ([]byte, bool) { return nil, false }

func unmapChunk(b []byte) {}
