package task

import (
	"context"
	"errors"
	"sync"
)

// Invocation names a lineage so that any copy of the binary can rebuild
// it: the key of a registered Func and its msgpack-encoded argument.
type Invocation struct {
	Key  string
	Args []byte
}

// NodeInfo describes a node for the scheduler.
type NodeInfo struct {
	ID            int
	Name          string
	Site          string // file.go:line of the user's call that made the node
	Partitions    int
	Deps          []DepInfo
	Cached        bool // persisted at some storage level
	Indeterminate bool
	// Checkpointed: the node's checkpoint is written, so its tasks read
	// it and Deps is empty (the lineage is truncated there).
	Checkpointed bool
}

// DepInfo is an edge to a parent node: narrow when Shuffle is 0, otherwise
// through the shuffle with that id. An Indeterminate shuffle's output
// depends on the order of its input (round-robin Repartition): rerunning
// any of its map tasks may move records between reduce partitions, so its
// map stage reruns whole, and so does everything downstream.
type DepInfo struct {
	Parent        int
	Shuffle       int
	Indeterminate bool
}

// Graph is a lineage with stable ids: nodes and shuffles are numbered from
// 1 in a depth-first walk from the root, parents before children, so every
// process that builds the same lineage numbers it the same way. It is a
// struct around the rdd package's implementation so that a runtime can
// hold a *Graph as an identity (the driver keys its graph numbers by weak
// pointers to it).
type Graph struct{ Lineage }

// Lineage is what the rdd package's graph implements.
type Lineage interface {
	// Invocation returns how to rebuild the graph.
	Invocation() Invocation
	// Digest returns a digest of the graph's shape, which an executor
	// compares with the driver's to catch a Func that does not build the
	// same lineage twice.
	Digest() string
	// Nodes describes every node, parents first.
	Nodes() []NodeInfo
	// RunMap runs map partition mapPart of shuffle, writing its output
	// through tc.Shuffle.
	RunMap(ctx context.Context, tc *Context, shuffle, mapPart int) error
	// RunResult computes partition part of node and applies a to it,
	// returning the encoded result.
	RunResult(ctx context.Context, tc *Context, node, part int, a Action) ([]byte, error)
	// States returns the state the driver prepared for shuffles (range
	// bounds from a sample), keyed by shuffle id, to send with tasks.
	States() map[int][]byte
	// SetStates installs prepared state received from the driver.
	SetStates(states map[int][]byte) error
}

// Hooks is what the rdd package installs at init: the parts of the Func
// registry that runtimes call.
type Hooks struct {
	// Rebuild rebuilds the lineage that inv names, on an executor.
	Rebuild func(inv Invocation) (*Graph, error)
	// RegistryDigest digests every registered Func's key and type and
	// every registered error's key, which executors compare with the
	// driver's before running anything.
	RegistryDigest func() string
	// GraphOf returns the graph of an *rdd.RDD that Func.Invoke returned.
	GraphOf func(rdd any) (*Graph, error)
}

// hooks is set once, by the rdd package's init; it belongs to the Func
// registry, the one global the design needs.
var hooks struct {
	sync.Mutex
	h Hooks
}

// errNoRDD is returned when no Hooks were installed: the program does not
// import the rdd package, so it has no lineages.
var errNoRDD = errors.New("task: no lineages: the rdd package is not linked into this binary")

// Install installs h. Only the rdd package calls it, at init.
func Install(h Hooks) {
	hooks.Lock()
	defer hooks.Unlock()
	hooks.h = h
}

func installed() Hooks {
	hooks.Lock()
	defer hooks.Unlock()
	return hooks.h
}

// Rebuild rebuilds the lineage that inv names, on an executor.
func Rebuild(inv Invocation) (*Graph, error) {
	h := installed()
	if h.Rebuild == nil {
		return nil, errNoRDD
	}
	return h.Rebuild(inv)
}

// RegistryDigest returns a digest of every registered Func's key and type
// and every registered error's key, which executors compare with the
// driver's before running anything; empty when rdd is not linked in.
func RegistryDigest() string {
	h := installed()
	if h.RegistryDigest == nil {
		return ""
	}
	return h.RegistryDigest()
}

// GraphOf returns the lineage of r, an *rdd.RDD[T] returned by a Func's
// Invoke, with stable ids, as an action would run it.
func GraphOf(r any) (*Graph, error) {
	h := installed()
	if h.GraphOf == nil {
		return nil, errNoRDD
	}
	return h.GraphOf(r)
}
