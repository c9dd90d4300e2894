// Command cgreport turns callgrind's instruction counts of wordcount's map
// side (bench/maploop) and of the hand-written baseline's counting core
// into the figures bench/callgrind.sh prints, and holds them to a recorded
// budget:
//
//	cgreport --bytes N --words N --sluice a.out[,b.out] --baseline c.out[,d.out]
//	cgreport ... --check bench/callgrind.budget
//	cgreport ... --record bench/callgrind.budget --env "go1.26.8 valgrind-3.19.0 ..."
//	cgreport ... --sluice-window PARTS --sluice-window-start FN --sluice-window-end FN
//
// Each program's figure is the median of its runs' totals; the spread of
// the runs is printed with it, so a reader sees how repeatable they were.
//
// A count made with --toggle-collect depends on callgrind's view of the
// call stack, which Go's stack switches can cut short (bench/internal/cgpin).
// --sluice-window and --baseline-window cross-check it against a run that
// collected everything, one file per thread, cut at entries to the given
// functions (--dump-before); the two must agree within the tolerance, or
// cgreport fails (exit status 2).
//
// --check fails (exit status 1) when the Sluice count is more than the
// budget's tolerance above the recorded one. The baseline's count is the
// control: when it too moved by more than the tolerance, what changed is
// the measurement (a Go release, another CPU under valgrind, the corpus
// generator), not Sluice, so the check holds the ratio of the two to the
// recorded ratio instead and says so. A count well below the budget passes
// with a note to record the gain, so that a later regression cannot spend it
// unseen.
package main
