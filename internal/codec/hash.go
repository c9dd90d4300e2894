package codec

// FNV-1a 64 parameters.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Hash returns a fixed 64-bit hash of b: the same in every process, machine
// and run, because partitioning must be (a recomputed map output has to fit
// reducers that already read its siblings). It is FNV-1a 64 followed by
// murmur3's fmix64, whose avalanche makes Hash(b)%n spread well even when
// keys differ only in their last byte. Changing it changes every partition
// assignment; the test pins its values.
func Hash(b []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return fmix64(h)
}

// fmix64 is murmur3's 64-bit finalizer.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
