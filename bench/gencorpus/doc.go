// Command gencorpus writes a deterministic Zipf-distributed text corpus for
// the wordcount benchmark:
//
//	go run ./bench/gencorpus --size 256MiB --vocab 1000000 --seed 1 --out FILE
//
// The same flags give a byte-identical file (on one CPU architecture: the
// sampling tables come from math.Pow, which may round differently on
// another). Word ranks follow P(r) ∝ r**-s;
// the words are pseudo-random lowercase strings whose length grows with their
// rank, a few with a digit, punctuation or a non-ASCII letter. Lines hold 5–20
// words separated by single spaces, now and then a tab or two spaces, and end
// in "\n", about 1% in "\r\n". The file never exceeds --size and ends at a
// line end. It is written to a temporary file and renamed into place, so a
// file at --out is always complete.
package main
