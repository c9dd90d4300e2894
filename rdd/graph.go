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

	mu       sync.Mutex
	states   map[int][]byte // prepared shuffle state by shuffle id
	ckptRoot string         // this graph's directory under the checkpoint directory, once one is written
	// ckptLock lets one action at a time write checkpoints: actions run
	// from several goroutines on one lineage write each checkpoint once.
	ckptLock chan struct{}
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
	g := &graph{inv: inv, shuffles: map[int]*shuffleDep{}, states: map[int][]byte{}, ckptLock: make(chan struct{}, 1)}
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
		if p := n.prep; p != nil && p.id == 0 {
			p.id = next
			next++
			g.shuffles[p.id] = p
		}
		n.id = next
		next++
	}
	// Ids share one counter, so nodes[] is indexed by position instead.
	g.nodes = nodes
	h := sha256.New()
	for i, n := range g.buildNodes() {
		// Not the storage level or checkpoint: the driver decides those at
		// run time and sends them with every task.
		fmt.Fprintf(h, "%d %s %d %v %v %s\n", n.ID, n.Name, n.Partitions, n.Deps, n.Indeterminate, nodes[i].plan)
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

// Nodes describes every node, parents first, as the next job runs it: a
// node whose checkpoint is written has no parents.
func (g *graph) Nodes() []task.NodeInfo {
	out := make([]task.NodeInfo, 0, len(g.nodes))
	for _, n := range g.nodes {
		st := n.state()
		ni := task.NodeInfo{ID: n.id, Name: n.name, Site: n.site.String(), Partitions: n.parts, Cached: st.level != StorageNone, Indeterminate: n.indeterminate, Checkpointed: st.ckpt != ""}
		if ni.Checkpointed {
			out = append(out, ni)
			continue
		}
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

// buildNodes describes every node as built, whatever the driver decided
// since: what the digest covers.
func (g *graph) buildNodes() []task.NodeInfo {
	out := make([]task.NodeInfo, 0, len(g.nodes))
	for _, n := range g.nodes {
		ni := task.NodeInfo{ID: n.id, Name: n.name, Partitions: n.parts, Indeterminate: n.indeterminate}
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

func (g *graph) nodeByID(id int) (*node, bool) {
	if i := id - 1; i >= 0 && i < len(g.nodes) && g.nodes[i].id == id {
		return g.nodes[i], true
	}
	n, err := g.node(id)
	return n, err == nil
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
	if s == nil || s.runMap == nil { // a node's preparation has no map side
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
	if a.Kind == task.ActCheckpoint {
		return n.self.checkpointPart(ctx, tc, part, a.Path)
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
		if n.state().ckpt != "" {
			return // its tasks read the checkpoint, not its parents
		}
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

// States returns what the driver decided at run time, to send with
// tasks, by id (nodes and shuffles share one numbering): the state it
// prepared for shuffles (range bounds from a sample) and the storage
// level and checkpoint of nodes (nodeState).
func (g *graph) States() map[int][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[int][]byte, len(g.states))
	for k, v := range g.states {
		out[k] = v
	}
	for _, n := range g.nodes {
		if st := n.state(); st != (nodeState{}) {
			out[n.id] = st.encode()
		}
	}
	return out
}

// SetStates installs what the driver sent with a task (see States).
func (g *graph) SetStates(states map[int][]byte) error {
	// A node the driver sent nothing for is not persisted (any more); a
	// checkpoint, once written, stays: a task sent before it was written
	// may arrive after one sent since.
	for _, n := range g.nodes {
		b, ok := states[n.id]
		if !ok {
			n.setLevel(StorageNone)
			continue
		}
		st, err := decodeNodeState(b)
		if err != nil {
			return err
		}
		if st.ckpt == "" {
			st.ckpt = n.state().ckpt
		}
		n.setState(st)
	}
	shuffles := make(map[int][]byte, len(states))
	for id, b := range states {
		if _, ok := g.nodeByID(id); !ok {
			shuffles[id] = b
		}
	}
	return g.setShuffleStates(shuffles)
}

// setShuffleStates installs prepared shuffle states, by shuffle id.
func (g *graph) setShuffleStates(states map[int][]byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]int, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		s := g.shuffles[id]
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

// prepareShuffle runs the preparation job of s, if it has one and it has
// not run, and installs its state.
func (g *graph) prepareShuffle(ctx context.Context, run Runner, s *shuffleDep) error {
	if s == nil || s.prepare == nil {
		return nil
	}
	g.mu.Lock()
	ready := s.ready
	g.mu.Unlock()
	if ready {
		return nil
	}
	state, err := s.prepare(ctx, run, g)
	if err != nil {
		return err
	}
	return g.setShuffleStates(map[int][]byte{s.id: state})
}

// prepare readies what a job on root needs, upstream first: it runs the
// preparation jobs of shuffles (samples for range partitioning) and of
// nodes (ZipWithIndex's counts) and writes the checkpoints that are
// marked and not yet written.
func (g *graph) prepare(ctx context.Context, run Runner, root *node) error {
	for _, n := range walkLive(root) {
		for _, d := range n.deps {
			if err := g.prepareShuffle(ctx, run, d.shuffle); err != nil {
				return err
			}
		}
		if err := g.prepareShuffle(ctx, run, n.prep); err != nil {
			return err
		}
		if n.checkpoint != "" && n.state().ckpt == "" {
			select {
			case g.ckptLock <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			var err error
			if n.state().ckpt == "" {
				err = g.writeCheckpoint(ctx, run, n)
			}
			<-g.ckptLock
			if err != nil {
				return err
			}
		}
	}
	return nil
}
