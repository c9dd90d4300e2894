// Command baseline is the hand-written wordcount that the Sluice wordcount
// is measured against:
//
//	go run ./bench/baseline [--workers 2] [--output DIR] FILE...
//
// It splits the files into about two byte ranges per worker, aligned at
// newlines; each worker tokenizes its ranges at byte level (a fast path for
// ASCII, a slow path that decodes UTF-8 for bytes >= 0x80) and counts into
// its own map, and the maps are merged at the end. The counts are exactly
// those of strings.Fields over each file, added up.
//
// With --output it writes DIR/part-00000 with one "word\tcount" line per word
// in no particular order, as a program that writes its result to disk would.
// Without it, it prints the 20 most frequent words, by count descending and
// then word ascending.
package main
