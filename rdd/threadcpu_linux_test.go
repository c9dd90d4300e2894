package rdd

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time of the calling thread (lock it first), which,
// unlike wall time, other processes on a shared machine barely move.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
