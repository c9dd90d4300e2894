package scheduler

import (
	"math/bits"
	"slices"

	"github.com/sluicehq/sluice/internal/task"
)

type job struct {
	id    int
	pool  string // FAIR: the pool its tasks queue in
	final *stage
	left  int
	done  bool
}

// stage is a task set: one stage's tasks, with counters that answer every
// question the scheduler asks of it in O(1).
type stage struct {
	id      int
	graph   int
	node    int // the last node of the stage's pipeline
	shuffle int // the shuffle a map stage writes; 0 for a result stage
	parts   int // map stages: the node's partitions; result stages: len(resultParts)
	name    string
	nodes   map[int]task.NodeInfo // the lineage, for what a task reads

	resultParts []int       // result stages: the node partition of each task index
	span        int         // result stages: node partitions each task reads from its own (JobSubmitted.Span)
	partIndex   map[int]int // result stages: the task index of each node partition
	job         *job        // result stages: their job
	parents     []*stage
	jobs        map[int]bool // active jobs that need this stage

	out *outputTable // map stages: the map-output table

	pending  []int32 // attempts queued or running, by task index
	attempts []int32 // launches per task index
	failures []int32
	losses   []int32
	done     []bool // result stages: delivered partitions
	doneN    int
	live     map[int][]*attempt // running attempts by task index
	waiting  bool               // submitted, waiting for parents
	// idle marks the task indexes with no output and no attempt queued or
	// running: what submitting the stage queues.
	idle  []uint64
	idleN int

	durations     median // of the attempts that succeeded, for speculation
	fetchFailures int    // in a row; reset when the stage completes
	indeterminate bool   // a map stage whose output depends on input order
	epoch         int    // bumped by a rollback: older attempts computed from discarded inputs
	lostOutputs   map[int]bool
	grants        map[int]grant // result stages: commit grants by node partition

	active bool // submitted and not yet complete: between StageSubmitted and StageCompleted
	runs   int  // StageSubmitted actions so far
}

func (s *Scheduler) submitJob(ev JobSubmitted, out []Action) []Action {
	nodes := map[int]task.NodeInfo{}
	for _, n := range ev.Nodes {
		nodes[n.ID] = n
	}
	j := &job{id: ev.Job, pool: ev.Pool, left: len(ev.Partitions)}
	s.jobs[j.id] = j
	final := s.newStage(ev.Graph, nodes, nodes[ev.Node], 0, len(ev.Partitions))
	final.resultParts = slices.Clone(ev.Partitions)
	final.span = max(ev.Span, 1)
	final.partIndex = make(map[int]int, len(ev.Partitions))
	for i, p := range ev.Partitions {
		if _, dup := final.partIndex[p]; !dup {
			final.partIndex[p] = i
		}
	}
	final.done = make([]bool, len(ev.Partitions))
	final.grants = map[int]grant{}
	final.job = j
	j.final = final
	final.parents = s.parentStages(ev.Graph, nodes, ev.Node)
	if j.left == 0 {
		delete(s.jobs, j.id)
		delete(s.stagesByID, final.id)
		return append(out, JobSucceeded{Job: j.id})
	}
	s.markJob(final, j.id)
	if s.cfg.StageActions {
		out = append(out, JobStages{Job: j.id, Stages: stagesOf(final)})
	}
	return s.submit(final, out)
}

// stagesOf describes final and every stage it needs, by id.
func stagesOf(final *stage) []StageInfo {
	seen := map[*stage]bool{}
	var all []*stage
	var visit func(st *stage)
	visit = func(st *stage) {
		if seen[st] {
			return
		}
		seen[st] = true
		all = append(all, st)
		for _, p := range st.parents {
			visit(p)
		}
	}
	visit(final)
	slices.SortFunc(all, func(a, b *stage) int { return a.id - b.id })
	infos := make([]StageInfo, len(all))
	for i, st := range all {
		info := StageInfo{ID: st.id, Kind: ResultTask, Node: st.node, Shuffle: st.shuffle, Tasks: st.parts, Done: st.doneN}
		if st.shuffle != 0 {
			info.Kind, info.Done = MapTask, st.parts-st.out.missing
		}
		for _, p := range st.parents {
			info.Parents = append(info.Parents, p.id)
		}
		infos[i] = info
	}
	return infos
}

// missing counts st's partitions without an output.
func (st *stage) missing() int {
	if st.shuffle != 0 {
		return st.out.missing
	}
	return st.parts - st.doneN
}

// started marks st submitted, once until it completes.
func (s *Scheduler) started(st *stage, out []Action) []Action {
	if st.active || st.missing() == 0 {
		return out
	}
	st.active = true
	st.runs++
	if !s.cfg.StageActions {
		return out
	}
	return append(out, StageSubmitted{Job: firstJob(st), Stage: st.id, Attempt: st.runs - 1, Tasks: st.missing()})
}

// stopped marks a submitted st complete (err nil) or given up.
func (s *Scheduler) stopped(st *stage, err error, out []Action) []Action {
	if !st.active {
		return out
	}
	st.active = false
	if !s.cfg.StageActions {
		return out
	}
	return append(out, StageCompleted{Stage: st.id, Attempt: st.runs - 1, Err: err})
}

func (s *Scheduler) newStage(graph int, nodes map[int]task.NodeInfo, n task.NodeInfo, shuffle, parts int) *stage {
	st := &stage{
		id: s.nextStage, graph: graph, node: n.ID, shuffle: shuffle, parts: parts, name: n.Name, nodes: nodes,
		jobs: map[int]bool{}, live: map[int][]*attempt{},
		pending: make([]int32, parts), attempts: make([]int32, parts), failures: make([]int32, parts), losses: make([]int32, parts),
		idle: make([]uint64, (parts+63)/64), idleN: parts,
	}
	for i := range parts {
		st.idle[i/64] |= 1 << (i % 64)
	}
	s.nextStage++
	s.stagesByID[st.id] = st
	return st
}

// parentStages returns the map stages of the shuffles that node reads
// through narrow dependencies, creating them (and theirs) once per shuffle.
func (s *Scheduler) parentStages(graph int, nodes map[int]task.NodeInfo, node int) []*stage {
	var parents []*stage
	for _, sh := range shufflesRead(nodes, node) {
		k := shuffleKey{graph, sh.Shuffle}
		st := s.mapStages[k]
		if st == nil {
			p := nodes[sh.Parent]
			st = s.newStage(graph, nodes, p, sh.Shuffle, p.Partitions)
			st.indeterminate = sh.Indeterminate
			st.out = newOutputTable(p.Partitions)
			s.outputs[k] = st.out
			st.parents = s.parentStages(graph, nodes, p.ID)
			s.mapStages[k] = st
		}
		parents = append(parents, st)
	}
	return parents
}

// shufflesRead returns the shuffle dependencies reachable from node through
// narrow dependencies: what one task of node's stage reads.
func shufflesRead(nodes map[int]task.NodeInfo, node int) []task.DepInfo {
	var out []task.DepInfo
	seen := map[int]bool{}
	var visit func(id int)
	visit = func(id int) {
		if seen[id] {
			return
		}
		seen[id] = true
		for _, d := range nodes[id].Deps {
			if d.Shuffle != 0 {
				out = append(out, d)
			} else {
				visit(d.Parent)
			}
		}
	}
	visit(node)
	return out
}

// shufflePart is one reduce partition of one shuffle.
type shufflePart struct{ shuffle, part int }

// reads returns the shuffle partitions that partition p of node reads,
// sorted. A node reading a shuffle reads its own partition of it; a node
// with one narrow parent of as many partitions computes the same partition
// of it; a node with several narrow parents (Union) has their partitions
// one after another. A pipeline of any other shape reads, to be safe,
// every partition of every shuffle it reaches.
func reads(nodes map[int]task.NodeInfo, node, p int) []shufflePart {
	var out []shufflePart
	ok := true
	var visit func(id, p int)
	visit = func(id, p int) {
		n := nodes[id]
		var narrow []int
		for _, d := range n.Deps {
			if d.Shuffle != 0 {
				out = append(out, shufflePart{d.Shuffle, p})
			} else {
				narrow = append(narrow, d.Parent)
			}
		}
		switch len(narrow) {
		case 0:
		case 1:
			if nodes[narrow[0]].Partitions != n.Partitions {
				ok = false
				return
			}
			visit(narrow[0], p)
		default:
			sum := 0
			for _, id := range narrow {
				sum += nodes[id].Partitions
			}
			if sum != n.Partitions {
				ok = false
				return
			}
			for _, id := range narrow {
				if np := nodes[id].Partitions; p < np {
					visit(id, p)
					break
				} else {
					p -= np
				}
			}
		}
	}
	visit(node, p)
	if !ok {
		out = out[:0]
		for _, d := range shufflesRead(nodes, node) {
			for q := range shuffleParts(nodes, node, d.Shuffle) {
				out = append(out, shufflePart{d.Shuffle, q})
			}
		}
	}
	slices.SortFunc(out, func(a, b shufflePart) int {
		if a.shuffle != b.shuffle {
			return a.shuffle - b.shuffle
		}
		return a.part - b.part
	})
	return slices.Compact(out)
}

// shuffleParts returns the reduce partitions of shuffle: those of the node
// that reads it, found from node through narrow dependencies.
func shuffleParts(nodes map[int]task.NodeInfo, node, shuffle int) int {
	seen := map[int]bool{}
	var find func(id int) int
	find = func(id int) int {
		if seen[id] {
			return 0
		}
		seen[id] = true
		for _, d := range nodes[id].Deps {
			if d.Shuffle == shuffle {
				return nodes[id].Partitions
			}
			if d.Shuffle == 0 {
				if n := find(d.Parent); n > 0 {
					return n
				}
			}
		}
		return 0
	}
	return find(node)
}

func (s *Scheduler) markJob(st *stage, jobID int) {
	st.jobs[jobID] = true
	for _, p := range st.parents {
		s.markJob(p, jobID)
	}
}

// available reports whether every output of map stage st exists.
func (s *Scheduler) available(st *stage) bool {
	return st.shuffle != 0 && st.out.missing == 0
}

// parentsAvailable reports whether every map output st reads exists.
func (s *Scheduler) parentsAvailable(st *stage) bool {
	for _, p := range st.parents {
		if p.out.missing > 0 {
			return false
		}
	}
	return true
}

// submit runs st when its parents' outputs are all available, and submits
// the missing parents otherwise.
func (s *Scheduler) submit(st *stage, out []Action) []Action {
	missing := false
	for _, p := range st.parents {
		if !s.available(p) {
			missing = true
			if !p.waiting {
				// Partitions already queued or running are skipped; the
				// rest (say, one that failed while no job needed the stage)
				// are queued again.
				out = s.submit(p, out)
			}
		}
	}
	if missing {
		st.waiting = true
		return out
	}
	st.waiting = false
	s.enqueueMissing(st)
	return s.started(st, out)
}

// enqueueMissing queues a task for every partition of st that has no
// output yet and no attempt queued or running.
func (s *Scheduler) enqueueMissing(st *stage) {
	for w := 0; st.idleN > 0 && w < len(st.idle); w++ {
		for st.idle[w] != 0 {
			i := w*64 + bits.TrailingZeros64(st.idle[w])
			s.enqueue(st, i, "", "")
		}
	}
}

// has reports whether task index i of st has its output.
func (st *stage) has(i int) bool {
	if st.shuffle != 0 {
		return st.out.has(i)
	}
	return st.done[i]
}

// completed reports whether task index i of st has its output.
func (s *Scheduler) completed(st *stage, i int) bool { return st.has(i) }

// refreshIdle recomputes whether task index i of st is idle.
func (st *stage) refreshIdle(i int) {
	want := st.pending[i] == 0 && !st.has(i)
	bit := uint64(1) << (i % 64)
	if is := st.idle[i/64]&bit != 0; is != want {
		st.idle[i/64] ^= bit
		if want {
			st.idleN++
		} else {
			st.idleN--
		}
	}
}

func (st *stage) pend(i int) {
	st.pending[i]++
	st.refreshIdle(i)
}

func (st *stage) unpend(i int) {
	if st.pending[i] > 0 {
		st.pending[i]--
	}
	st.refreshIdle(i)
}

func (st *stage) markDone(i int) {
	if !st.done[i] {
		st.done[i] = true
		st.doneN++
	}
	st.refreshIdle(i)
}

func (st *stage) markLost(i int) {
	if st.lostOutputs == nil {
		st.lostOutputs = map[int]bool{}
	}
	st.lostOutputs[i] = true
}

// nodePart returns the node partition that task index i of st computes.
func (st *stage) nodePart(i int) int {
	if st.shuffle != 0 {
		return i
	}
	return st.resultParts[i]
}

// descendsFrom reports whether st reads, directly or not, the output of a.
func (st *stage) descendsFrom(a *stage) bool {
	for _, p := range st.parents {
		if p == a || p.descendsFrom(a) {
			return true
		}
	}
	return false
}

// inputs returns what task index i of st reads: a snapshot of each parent
// table for each shuffle partition its pipeline reads.
func (s *Scheduler) inputs(st *stage, i int) []ShuffleInput {
	if len(st.parents) == 0 {
		return nil
	}
	var in []ShuffleInput
	var rs []shufflePart
	first := st.nodePart(i)
	for q := first; q < first+max(st.span, 1) && q < st.nodes[st.node].Partitions; q++ {
		rs = append(rs, reads(st.nodes, st.node, q)...)
	}
	if st.span > 1 {
		slices.SortFunc(rs, func(a, b shufflePart) int {
			if a.shuffle != b.shuffle {
				return a.shuffle - b.shuffle
			}
			return a.part - b.part
		})
		rs = slices.Compact(rs)
	}
	for _, r := range rs {
		for _, p := range st.parents {
			if p.shuffle == r.shuffle {
				in = append(in, newShuffleInput(r.shuffle, r.part, p.out.snapshot()))
				break
			}
		}
	}
	return in
}

// firstJob returns the oldest active job that needs st: the one a task is
// launched for, whose lineage the driver sends with it.
func firstJob(st *stage) int {
	first := 0
	for jid := range st.jobs {
		if first == 0 || jid < first {
			first = jid
		}
	}
	return first
}

// failJobs ends every active job that needs st with err.
func (s *Scheduler) failJobs(st *stage, err error, out []Action) []Action {
	jids := make([]int, 0, len(st.jobs))
	for jid := range st.jobs {
		jids = append(jids, jid)
	}
	slices.Sort(jids)
	out = s.stopped(st, err, out)
	for _, jid := range jids {
		if j := s.jobs[jid]; j != nil {
			out = append(out, JobFailed{Job: jid, Err: err})
			out = s.endJob(j, out)
		}
	}
	return out
}

// forgotten reports whether st is a map stage of a forgotten graph.
func (s *Scheduler) forgotten(st *stage) bool {
	return st.shuffle != 0 && s.mapStages[shuffleKey{st.graph, st.shuffle}] != st
}

// endJob forgets a job; stages that no other job needs stop launching,
// and their running attempts are killed.
func (s *Scheduler) endJob(j *job, out []Action) []Action {
	if j.done {
		return out
	}
	j.done = true
	delete(s.jobs, j.id)
	var unmark func(st *stage)
	unmark = func(st *stage) {
		delete(st.jobs, j.id)
		if len(st.jobs) == 0 {
			st.waiting = false
			out = s.stopped(st, errNoJob, out)
		}
		for _, p := range st.parents {
			unmark(p)
		}
	}
	unmark(j.final)
	delete(s.stagesByID, j.final.id)
	clear(j.final.grants)
	return s.kill(s.runningWhere(func(a *attempt) bool { return len(a.stage.jobs) == 0 }), out)
}
