package scheduler

import (
	"fmt"
	"strconv"
	"strings"
)

// Every event and action has a String method that renders it on one line,
// the same way on every run (no pointers, no map order): golden traces of
// scenarios compare these lines. Long lists are cut, saying how much.

// maxListed bounds the items a rendering lists before "…+N".
const maxListed = 8

// Format renders an event or an action on one line.
func Format(x interface{ String() string }) string { return x.String() }

func (e JobSubmitted) String() string {
	return fmt.Sprintf("JobSubmitted job=%d graph=%d node=%d nodes=%d parts=%s", e.Job, e.Graph, e.Node, len(e.Nodes), ranges(e.Partitions))
}

func (e TaskSucceeded) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "TaskSucceeded task=%d", e.TaskID)
	if m := e.MapStatus; m != nil {
		fmt.Fprintf(&b, " output=%s", m.Worker)
		if m.Replica != "" {
			fmt.Fprintf(&b, "+%s", m.Replica)
		}
		fmt.Fprintf(&b, " sizes=%s", int64s(m.Sizes))
	}
	if e.Result != nil {
		fmt.Fprintf(&b, " result=%s", data(e.Result))
	}
	return b.String()
}

func (e TaskFailed) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "TaskFailed task=%d", e.TaskID)
	for _, f := range []struct {
		on   bool
		name string
	}{{e.Lost, "lost"}, {e.Permanent, "permanent"}, {e.Machine, "machine"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%q", e.Err.Error())
	}
	return b.String()
}

func (e FetchFailed) String() string {
	return fmt.Sprintf("FetchFailed task=%d shuffle=%d map=%d worker=%s gen=%d err=%q", e.TaskID, e.Shuffle, e.Map, e.Worker, e.Gen, e.Err)
}

func (e Tick) String() string { return "Tick now=" + e.Now.String() }

func (e WorkerDraining) String() string {
	if e.Move {
		return "WorkerDraining worker=" + e.Worker + " move"
	}
	return "WorkerDraining worker=" + e.Worker
}

func (e TaskProgress) String() string {
	return fmt.Sprintf("TaskProgress task=%d records=%d", e.TaskID, e.Records)
}

func (e WorkerFlapping) String() string {
	return fmt.Sprintf("WorkerFlapping worker=%s for=%v", e.Worker, e.For)
}

func (e WorkerDisk) String() string {
	return fmt.Sprintf("WorkerDisk worker=%s low=%v", e.Worker, e.Low)
}

func (e MapOutputMoved) String() string {
	return fmt.Sprintf("MapOutputMoved output=%s from=%s to=%s", e.Output, e.From, e.To)
}

func (e WorkerAdded) String() string {
	return fmt.Sprintf("WorkerAdded worker=%s slots=%d", e.Worker, e.Slots)
}

func (e JobCancelled) String() string { return fmt.Sprintf("JobCancelled job=%d", e.Job) }

func (e GraphForgotten) String() string { return fmt.Sprintf("GraphForgotten graph=%d", e.Graph) }

func (e WorkerRemoved) String() string {
	return fmt.Sprintf("WorkerRemoved worker=%s reason=%q", e.Worker, e.Reason)
}

func (e CommitRequested) String() string {
	return fmt.Sprintf("CommitRequested ask=%d stage=%d part=%d attempt=%d", e.Ask, e.Stage, e.Part, e.Attempt)
}

func (a LaunchTask) String() string { return "LaunchTask " + a.Task.String() + " on=" + a.Worker }

func (a DeliverResult) String() string {
	return fmt.Sprintf("DeliverResult job=%d part=%d data=%s", a.Job, a.Partition, data(a.Data))
}

func (a JobSucceeded) String() string { return fmt.Sprintf("JobSucceeded job=%d", a.Job) }

func (a JobFailed) String() string {
	msg := "<nil>"
	if a.Err != nil {
		msg = a.Err.Error()
	}
	return fmt.Sprintf("JobFailed job=%d err=%q", a.Job, msg)
}

func (a KillTask) String() string { return fmt.Sprintf("KillTask task=%d on=%s", a.TaskID, a.Worker) }

func (a CommitAnswered) String() string {
	return fmt.Sprintf("CommitAnswered ask=%d stage=%d part=%d attempt=%d ok=%v", a.Ask, a.Stage, a.Part, a.Attempt, a.OK)
}

func (a DrainWorker) String() string {
	parts := make([]string, len(a.Outputs))
	for i, o := range a.Outputs {
		parts[i] = o.String()
	}
	return fmt.Sprintf("DrainWorker worker=%s outputs=%s", a.Worker, list(parts))
}

func (a GraphReleased) String() string { return fmt.Sprintf("GraphReleased graph=%d", a.Graph) }

// String renders the task with its inputs: each shuffle partition read,
// and its blocks as map@worker[+replica]#gen.
func (t Task) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task=%d job=%d stage=%d graph=%d %s", t.ID, t.Job, t.Stage, t.Graph, t.Kind)
	if t.Kind == MapTask {
		fmt.Fprintf(&b, " shuffle=%d", t.Shuffle)
	} else {
		fmt.Fprintf(&b, " node=%d", t.Node)
	}
	fmt.Fprintf(&b, " part=%d attempt=%d", t.Partition, t.Attempt)
	for _, in := range t.Inputs {
		b.WriteString(" in=" + in.String())
	}
	return b.String()
}

// String renders the input as shuffle/part and its blocks.
func (in ShuffleInput) String() string {
	bs := in.Blocks()
	parts := make([]string, len(bs))
	for i, bl := range bs {
		s := fmt.Sprintf("m%d@%s", bl.Map, bl.Worker)
		if bl.Replica != "" {
			s += "+" + bl.Replica
		}
		parts[i] = s + "#" + strconv.FormatInt(bl.Gen, 10)
	}
	return fmt.Sprintf("s%d/p%d%s", in.Shuffle, in.Part, list(parts))
}

// String renders the reference as g<graph>/s<shuffle>/m<map>.
func (r OutputRef) String() string { return fmt.Sprintf("g%d/s%d/m%d", r.Graph, r.Shuffle, r.Map) }

func list(items []string) string {
	if len(items) > maxListed {
		return "[" + strings.Join(items[:maxListed], " ") + fmt.Sprintf(" …+%d]", len(items)-maxListed)
	}
	return "[" + strings.Join(items, " ") + "]"
}

func int64s(v []int64) string {
	items := make([]string, 0, min(len(v), maxListed+1))
	for i, n := range v {
		if i == maxListed {
			items = append(items, fmt.Sprintf("…+%d", len(v)-maxListed))
			break
		}
		items = append(items, strconv.FormatInt(n, 10))
	}
	return "[" + strings.Join(items, " ") + "]"
}

// ranges renders partitions as runs: [0-9999] or [0 2 4-7].
func ranges(v []int) string {
	var items []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if j > i {
			items = append(items, fmt.Sprintf("%d-%d", v[i], v[j]))
		} else {
			items = append(items, strconv.Itoa(v[i]))
		}
		i = j + 1
	}
	return list(items)
}

func data(b []byte) string {
	if len(b) <= 16 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%d bytes", len(b))
}
