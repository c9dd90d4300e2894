package rdd

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sluicehq/sluice/internal/task"
)

// Actions that run functions on executors (Reduce, Aggregate, Top, ...)
// send a task.Action of kind ActFunc. It names a partRunner, an empty
// generic struct type of this package instantiated for the action's types
// (reduceRunner[T], aggregateRunner[T, U]), whose method computes one
// partition's result, and the user's functions it applies. In the
// driver's process (local mode) the Action carries the values themselves
// in Local; otherwise it carries references to them (shipfunc.go): to the
// runner's type descriptor, which is static, and to the functions, which
// only functions that capture no variables have. Runners are types, not
// functions, because a generic function instantiated inside generic code
// is a closure over the caller's dictionary, made at run time, while its
// type descriptor is in the binary.

// partRunner computes the result of a task of an ActFunc action: r is the
// *RDD[T] the task computes, fns the action's functions, arg its argument.
type partRunner interface {
	run(ctx context.Context, tc *task.Context, r anyRDD, part int, fns fnSet, arg []byte) ([]byte, error)
}

// fnSet is an action's functions as a task sees them: values in the
// driver's process, references elsewhere.
type fnSet struct {
	local []any
	refs  []funcRef
}

// fnAt returns the i-th function of fs, of type F.
func fnAt[F any](fs fnSet, i int) (F, error) {
	var f F
	switch {
	case fs.local != nil:
		if i >= len(fs.local) {
			return f, fmt.Errorf("rdd: action function %d of %d", i, len(fs.local))
		}
		f, ok := fs.local[i].(F)
		if !ok {
			return f, fmt.Errorf("rdd: action function %d is a %T, not a %T", i, fs.local[i], f)
		}
		return f, nil
	case i < len(fs.refs):
		return resolve[F](fs.refs[i])
	}
	return f, fmt.Errorf("rdd: action function %d of %d", i, len(fs.refs))
}

// localFuncs is Action.Local of an ActFunc action.
type localFuncs struct {
	run partRunner
	fns []any
}

// shippedFuncs is the encoding of Action.Funcs.
type shippedFuncs struct {
	Run typeRef
	Fns []funcRef
}

// inProcesser is implemented by a Runner whose tasks run in the driver's
// process (driver.Session in local mode). A Runner without it counts as
// running tasks elsewhere.
type inProcesser interface{ InProcess() bool }

func runsInProcess(run Runner) bool {
	ip, ok := run.(inProcesser)
	return ok && ip.InProcess()
}

// notShippable is returned by funcAction when a function captures
// variables and the tasks run in other processes.
type notShippable struct {
	index int // which of the action's functions
}

func (e *notShippable) Error() string {
	if e.index < 0 {
		return "rdd: this platform cannot send an action's code to executors in other processes: it needs Linux's /proc/self/maps"
	}
	return fmt.Sprintf("rdd: the action's function %d captures variables", e.index)
}

// funcAction returns the ActFunc action that runs runner with fns and arg,
// or a *notShippable error when run's tasks run in other processes and one
// of fns captures variables.
func funcAction(run Runner, runner partRunner, arg []byte, fns ...any) (task.Action, error) {
	a := task.Action{Kind: task.ActFunc, Arg: arg}
	if runsInProcess(run) {
		a.Local = &localFuncs{run: runner, fns: fns}
		return a, nil
	}
	var sf shippedFuncs
	var err error
	if sf.Run, err = typeRefOf(runner); err != nil {
		// Type descriptors are always static on Linux; elsewhere nothing
		// can be shipped.
		return a, &notShippable{index: -1}
	}
	for i, f := range fns {
		ref, err := refOf(f)
		if err != nil {
			return a, &notShippable{index: i}
		}
		sf.Fns = append(sf.Fns, ref)
	}
	if a.Funcs, err = msgpack.Marshal(&sf); err != nil {
		return a, fmt.Errorf("rdd: encoding function references: %w", err)
	}
	return a, nil
}

// runFunc runs an ActFunc action's task.
func runFunc(ctx context.Context, tc *task.Context, r anyRDD, part int, a task.Action) ([]byte, error) {
	if l, ok := a.Local.(*localFuncs); ok {
		return l.run.run(ctx, tc, r, part, fnSet{local: l.fns}, a.Arg)
	}
	var sf shippedFuncs
	if err := msgpack.Unmarshal(a.Funcs, &sf); err != nil {
		return nil, Permanent(fmt.Errorf("rdd: decoding the action's function references: %w", err))
	}
	v, err := resolveType(sf.Run)
	if err != nil {
		return nil, Permanent(err)
	}
	run, ok := v.(partRunner)
	if !ok {
		return nil, Permanent(fmt.Errorf("rdd: the driver sent %s as the action's runner, which is not one", sf.Run.Name))
	}
	return run.run(ctx, tc, r, part, fnSet{refs: sf.Fns}, a.Arg)
}

// rddAs returns r as an *RDD[T], or an error naming what it is.
func rddAs[T any](r anyRDD) (*RDD[T], error) {
	t, ok := r.(*RDD[T])
	if !ok {
		return nil, Permanent(fmt.Errorf("rdd: the action expects %T, the task computes %T", t, r))
	}
	return t, nil
}

// shipError is the error of an action whose function must run on
// executors but captures variables: it names the action, the user's call
// and what to change.
func shipError(op, site string) error {
	return fmt.Errorf("rdd: %s at %s: its function captures variables, so it cannot run on executors in other processes (a cluster or --local-cluster); use a function that captures none (a top-level function, or a literal that uses only its parameters, package-level names and constants), and pass driver data through a Broadcast", op, site)
}

// isNotShippable reports whether err says a function cannot be shipped.
func isNotShippable(err error) bool {
	var ns *notShippable
	return errors.As(err, &ns)
}
