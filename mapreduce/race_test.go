//go:build race

package mapreduce_test

const raceEnabled = true
