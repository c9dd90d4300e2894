package simcluster

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/scheduler"
)

// renderEvent and renderAction write events and actions for the trace with
// the scheduler's own renderings (one line each, no pointers, no map
// order), but for a launch's inputs, which that rendering cuts short and
// the trace lists in full; a type without a String method is written with
// %+v.
func renderEvent(ev scheduler.Event) string { return render(ev) }

func renderAction(a scheduler.Action) string {
	l, ok := a.(scheduler.LaunchTask)
	if !ok {
		return render(a)
	}
	t := l.Task
	var b strings.Builder
	fmt.Fprintf(&b, "LaunchTask task=%d job=%d stage=%d kind=%s part=%d attempt=%d on=%s", t.ID, t.Job, t.Stage, t.Kind, t.Partition, t.Attempt, l.Worker)
	for _, in := range t.Inputs {
		fmt.Fprintf(&b, " shuffle%d/p%d=[", in.Shuffle, in.Part)
		for i, m := range in.Blocks() {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "m%d@%s#%d:%d", m.Map, m.Worker, m.Gen, m.Size)
			if m.Replica != "" {
				fmt.Fprintf(&b, "/%s", m.Replica)
			}
		}
		b.WriteByte(']')
	}
	return b.String()
}

func render(x any) string {
	if s, ok := x.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T %+v", x, x)
}
