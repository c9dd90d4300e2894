// Command genpairs writes a deterministic file of key/value lines for the
// shuffle benchmarks (bench/shuffle.sh):
//
//	go run ./bench/genpairs --size 256MiB --keys 1000000 --dist zipf --seed 1 --out FILE
//
// Each line is "KEY\tVALUE\n": KEY is 8 lowercase hex digits naming a key
// rank, VALUE a decimal number in [0, --values). With --dist zipf, ranks
// are drawn with P(r) ∝ (r+1)**-s over --keys ranks (math/rand/v2's Zipf);
// with --dist uniform, each of the --keys ranks is equally likely. The name
// of a rank does not depend on the distribution or the seed, so a Zipf file
// and a uniform file over as many or more keys share key names: the inputs
// of a join. Rank r is named by r times an odd constant modulo 2**32, so
// names of nearby ranks look unrelated and sort in no rank order.
//
// The same flags give a byte-identical file. The file never exceeds --size
// and ends at a line end. It is written to a temporary file and renamed
// into place, so a file at --out is always complete.
package main
