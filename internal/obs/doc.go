// Package obs is what Sluice tells about a running or finished
// application: the events a driver emits (event.go), the state built
// from them that the UI, the JSON API and the history server show
// (store.go), and the event log that keeps them on disk (log.go).
//
// One stream of events feeds everything, so the live UI, the history
// server replaying a log and the metrics cannot disagree.
package obs
