// Command shufbase is the hand-written program that the Sluice shuffle
// benchmarks (bench/shufsluice, bench/shuffle.sh) are measured against:
// what a good engineer would write for one two-core machine with Go maps
// and slices, with the same output.
//
//	shufbase --job groupbykey --output DIR PAIRS
//	shufbase --job join --output DIR LEFT RIGHT
//	shufbase --job distinct --output DIR FILE
//
// Input lines are "KEY\tVALUE" (bench/genpairs writes them); a line
// without a tab is a key with an empty value. A trailing "\r" is dropped,
// as rdd.TextFile drops it.
//
//   - groupbykey groups the values of each key, which must be unsigned
//     decimal numbers, and writes "KEY\tCOUNT\tCHECKSUM" per key, CHECKSUM
//     the sum modulo 2**64 of mix(v) over the key's values (mix is
//     SplitMix64's finalizer), so that it does not depend on their order.
//   - join writes "KEY\tLEFTVALUE\tRIGHTVALUE" for every pair of a left
//     line and a right line with the same key (an inner join).
//   - distinct writes each distinct line once.
//
// Every job runs in two phases, as a shuffle does: --workers goroutines
// read newline-aligned byte ranges of the input (two per worker, so that one
// that finishes early takes another) into tables partitioned by a hash of
// the key, one partition per worker; then worker p merges partition p of
// every worker's tables and writes DIR/part-0000p. join builds hash tables
// of the right input that way (the values kept in one arena per
// partition), then probes them with the left input's lines, each worker
// writing its own part file. Output lines come in no particular order.
package main
