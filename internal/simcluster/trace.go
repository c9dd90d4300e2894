package simcluster

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/scheduler"
)

// renderEvent and renderAction write events and actions for the trace,
// field by field so that the text does not depend on pointers or on map
// order. A type they do not know is written with %+v.
func renderEvent(ev scheduler.Event) string {
	switch ev := ev.(type) {
	case scheduler.JobSubmitted:
		return fmt.Sprintf("JobSubmitted job=%d graph=%d node=%d partitions=%d", ev.Job, ev.Graph, ev.Node, len(ev.Partitions))
	case scheduler.TaskSucceeded:
		if ev.MapStatus != nil {
			return fmt.Sprintf("TaskSucceeded task=%d on=%s replica=%s", ev.TaskID, ev.MapStatus.Worker, ev.MapStatus.Replica)
		}
		return fmt.Sprintf("TaskSucceeded task=%d", ev.TaskID)
	case scheduler.TaskFailed:
		return fmt.Sprintf("TaskFailed task=%d lost=%t err=%q", ev.TaskID, ev.Lost, errString(ev.Err))
	case scheduler.FetchFailed:
		return fmt.Sprintf("FetchFailed task=%d shuffle=%d map=%d worker=%s gen=%d", ev.TaskID, ev.Shuffle, ev.Map, ev.Worker, ev.Gen)
	case scheduler.Tick:
		return fmt.Sprintf("Tick %v", ev.Now)
	}
	return fmt.Sprintf("%T %+v", ev, ev)
}

func renderAction(a scheduler.Action) string {
	switch a := a.(type) {
	case scheduler.LaunchTask:
		t := a.Task
		var b strings.Builder
		fmt.Fprintf(&b, "LaunchTask task=%d job=%d stage=%d kind=%s part=%d attempt=%d on=%s", t.ID, t.Job, t.Stage, t.Kind, t.Partition, t.Attempt, a.Worker)
		for _, in := range t.Inputs {
			fmt.Fprintf(&b, " shuffle%d=[", in.Shuffle)
			for i, m := range in.Maps {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%s@%d", m.Worker, m.Gen)
				if m.Replica != "" {
					fmt.Fprintf(&b, "/%s", m.Replica)
				}
			}
			b.WriteByte(']')
		}
		return b.String()
	case scheduler.KillTask:
		return fmt.Sprintf("KillTask task=%d on=%s", a.TaskID, a.Worker)
	case scheduler.DeliverResult:
		return fmt.Sprintf("DeliverResult job=%d part=%d", a.Job, a.Partition)
	case scheduler.JobSucceeded:
		return fmt.Sprintf("JobSucceeded job=%d", a.Job)
	case scheduler.JobFailed:
		return fmt.Sprintf("JobFailed job=%d err=%q", a.Job, errString(a.Err))
	}
	return fmt.Sprintf("%T %+v", a, a)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
