package rdd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrNotInvoked is returned by an action on an RDD that no Func built:
// executors could not rebuild its lineage.
var ErrNotInvoked = errors.New("rdd: RDD not built by Func.Invoke")

// graph is a lineage with stable ids: nodes and shuffles are numbered from
// 1 in a depth-first walk from the root, parents before children, so every
// process that builds the same lineage numbers it the same way. It
// implements task.Lineage; pub is the handle runtimes hold.
type graph struct {
	pub      *task.Graph
	inv      task.Invocation
	nodes    []*node // nodes[id-1]
	shuffles map[int]*shuffleDep
	digest   string

	mu     sync.Mutex
	states map[int][]byte // prepared shuffle state by shuffle id
}

// walk returns the nodes reachable from root, parents first.
func walk(root *node) []*node {
	var out []*node
	seen := map[*node]bool{}
	var visit func(n *node)
	visit = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range n.deps {
			visit(d.parent)
		}
		for _, a := range n.aux {
			visit(a)
		}
		out = append(out, n)
	}
	visit(root)
	return out
}

func newGraph(root *node, inv task.Invocation) (*graph, error) {
	g := &graph{inv: inv, shuffles: map[int]*shuffleDep{}, states: map[int][]byte{}}
	nodes := walk(root)
	if err := lineageErr(nodes); err != nil {
		return nil, err
	}
	next := 1
	for _, n := range nodes {
		for _, d := range n.deps {
			if d.shuffle != nil && d.shuffle.id == 0 {
				d.shuffle.id = next
				next++
				g.shuffles[d.shuffle.id] = d.shuffle
			}
		}
		n.id = next
		next++
	}
	// Ids share one counter, so nodes[] is indexed by position instead.
	g.nodes = nodes
	h := sha256.New()
	for i, n := range g.Nodes() {
		fmt.Fprintf(h, "%d %s %d %v %v %v %s\n", n.ID, n.Name, n.Partitions, n.Deps, n.Cached, n.Indeterminate, nodes[i].plan)
	}
	g.digest = hex.EncodeToString(h.Sum(nil))[:16]
	g.pub = &task.Graph{Lineage: g}
	return g, nil
}

// graph returns the lineage of r with stable ids, built once. Only an RDD
// returned by Func.Invoke has one.
func (r *RDD[T]) graph() (*graph, error) {
	r.gOnce.Do(func() {
		if err := r.Err(); err != nil {
			r.gErr = err
			return
		}
		if r.inv == nil {
			r.gErr = fmt.Errorf("%w: call actions on the RDD that a Func's Invoke returns, and build the whole lineage inside that Func", ErrNotInvoked)
			return
		}
		r.g, r.gErr = newGraph(r.n, *r.inv)
	})
	return r.g, r.gErr
}

// Invocation returns how to rebuild g.
func (g *graph) Invocation() task.Invocation { return g.inv }

// Digest returns a digest of g's shape, which an executor compares with the
// driver's to catch a Func that does not build the same lineage twice.
func (g *graph) Digest() string { return g.digest }

// Nodes describes every node, parents first.
func (g *graph) Nodes() []task.NodeInfo {
	out := make([]task.NodeInfo, 0, len(g.nodes))
	for _, n := range g.nodes {
		ni := task.NodeInfo{ID: n.id, Name: n.name, Site: n.site.String(), Partitions: n.parts, Cached: n.cached, Indeterminate: n.indeterminate}
		for _, d := range n.deps {
			di := task.DepInfo{Parent: d.parent.id}
			if d.shuffle != nil {
				di.Shuffle, di.Indeterminate = d.shuffle.id, d.shuffle.indeterminate
			}
			ni.Deps = append(ni.Deps, di)
		}
		out = append(out, ni)
	}
	return out
}

func (g *graph) node(id int) (*node, error) {
	for _, n := range g.nodes {
		if n.id == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("rdd: no node %d in the lineage of %s", id, g.inv.Key)
}

// RunMap runs map partition mapPart of shuffle, writing its output through
// tc.Shuffle.
func (g *graph) RunMap(ctx context.Context, tc *task.Context, shuffle, mapPart int) error {
	s := g.shuffles[shuffle]
	if s == nil {
		return fmt.Errorf("rdd: no shuffle %d in the lineage of %s", shuffle, g.inv.Key)
	}
	if err := g.ensureState(s); err != nil {
		return err
	}
	return s.runMap(ctx, tc, mapPart)
}

// RunResult computes partition part of node and applies a to it, returning
// the encoded result.
func (g *graph) RunResult(ctx context.Context, tc *task.Context, node, part int, a task.Action) ([]byte, error) {
	n, err := g.node(node)
	if err != nil {
		return nil, err
	}
	for _, s := range g.shufflesBelow(n) {
		if err := g.ensureState(s); err != nil {
			return nil, err
		}
	}
	return n.self.runResult(ctx, tc, part, a)
}

func (g *graph) ensureState(s *shuffleDep) error {
	if s.prepare == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !s.ready {
		return fmt.Errorf("rdd: shuffle %d (%s) ran before the driver prepared it", s.id, s.parent.name)
	}
	return nil
}

// shufflesBelow returns the shuffles that n's stage reads, transitively
// through narrow dependencies only.
func (g *graph) shufflesBelow(n *node) []*shuffleDep {
	var out []*shuffleDep
	seen := map[*node]bool{}
	var visit func(n *node)
	visit = func(n *node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range n.deps {
			if d.shuffle != nil {
				out = append(out, d.shuffle)
			} else {
				visit(d.parent)
			}
		}
	}
	visit(n)
	return out
}

// States returns the state the driver prepared for shuffles (range bounds
// from a sample), keyed by shuffle id, to send with tasks.
func (g *graph) States() map[int][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[int][]byte, len(g.states))
	for k, v := range g.states {
		out[k] = v
	}
	return out
}

// SetStates installs prepared state received from the driver.
func (g *graph) SetStates(states map[int][]byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]int, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		s := g.shuffles[id]
		if s == nil {
			if n := g.nodeWithState(id); n != nil {
				if n.ready {
					continue
				}
				if err := n.setState(states[id]); err != nil {
					return fmt.Errorf("rdd: state of node %d (%s): %w", id, n.name, err)
				}
				n.ready = true
				g.states[id] = states[id]
				continue
			}
		}
		if s == nil || s.setState == nil {
			return fmt.Errorf("rdd: state for shuffle %d, which takes none", id)
		}
		if s.ready {
			continue
		}
		if err := s.setState(states[id]); err != nil {
			return fmt.Errorf("rdd: state of shuffle %d: %w", id, err)
		}
		s.ready = true
		g.states[id] = states[id]
	}
	return nil
}

// nodeWithState returns the node with id that takes prepared state, or nil.
func (g *graph) nodeWithState(id int) *node {
	for _, n := range g.nodes {
		if n.id == id && n.setState != nil {
			return n
		}
	}
	return nil
}

// prepare readies every shuffle and node that root depends on, upstream
// first, by running their preparation jobs (samples for range
// partitioning, partition counts for ZipWithIndex).
func (g *graph) prepare(ctx context.Context, run Runner, root *node) error {
	for _, n := range walk(root) {
		if err := g.prepareShuffles(ctx, run, n); err != nil {
			return err
		}
		if n.prepare == nil {
			continue
		}
		g.mu.Lock()
		ready := n.ready
		g.mu.Unlock()
		if ready {
			continue
		}
		state, err := n.prepare(ctx, run, g)
		if err != nil {
			return err
		}
		if err := g.SetStates(map[int][]byte{n.id: state}); err != nil {
			return err
		}
	}
	return nil
}

// prepareShuffles readies the shuffles that n reads.
func (g *graph) prepareShuffles(ctx context.Context, run Runner, n *node) error {
	for _, d := range n.deps {
		s := d.shuffle
		if s == nil || s.prepare == nil {
			continue
		}
		g.mu.Lock()
		ready := s.ready
		g.mu.Unlock()
		if ready {
			continue
		}
		state, err := s.prepare(ctx, run, g)
		if err != nil {
			return err
		}
		if err := g.SetStates(map[int][]byte{s.id: state}); err != nil {
			return err
		}
	}
	return nil
}
