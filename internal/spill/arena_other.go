//go:build !linux

package spill

import "os"

// mapChunk is not available: chunks come from the Go heap.
func mapChunk(n int) ([]byte, bool) { return nil, false }

func unmapChunk(b []byte) {}

// readAhead is advice the kernel takes on Linux only.
func readAhead(*os.File) {}
