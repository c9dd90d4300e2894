package rdd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

// The seen cases of "Correct for every user program": each used to give a
// silently wrong answer, or to fail only once tasks ran. Each is now an
// error from the action, before any job runs, naming the operation, the
// user's line, the type and the field.

type (
	Stats struct{ count int }
	Row   struct {
		Word  string
		Stats Stats
	}
	// job is a Func argument with a field executors never see.
	job struct {
		Words  []string
		minLen int
	}
	withFunc struct {
		Name string
		Size func() int
	}
)

var (
	unexportedF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, Row]] {
		rows := rdd.Map(rdd.Parallelize([]string{"a", "b", "a"}, rdd.Partitions(n)), func(w string) rdd.Pair[string, Row] { // site:unexported
			return rdd.KV(w, Row{Word: w, Stats: Stats{count: 3}})
		})
		return rdd.ReduceByKey(rows, func(a, b Row) Row { return Row{a.Word, Stats{a.Stats.count + b.Stats.count}} })
	})
	funcArgF = rdd.Func(func(j job) *rdd.RDD[string] { // site:funcArg
		return rdd.Filter(rdd.Parallelize(j.Words), func(w string) bool { return len(w) >= j.minLen })
	})
	anyArgF = rdd.Func(func(a any) *rdd.RDD[int] { // site:anyArg
		return rdd.Parallelize([]int{1})
	})
	anyValueF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, []any]] {
		vals := rdd.Parallelize([]rdd.Pair[string, any]{rdd.KV[string, any]("a", 1), rdd.KV[string, any]("a", 2)}, rdd.Partitions(n)) // site:anyValue
		return rdd.GroupByKey(vals)
	})
	mapKeyF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[any, []int]] {
		var in []rdd.Pair[any, int]
		for i := range 64 {
			in = append(in, rdd.KV[any](any(map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9}), i))
		}
		return rdd.GroupByKey(rdd.Parallelize(in, rdd.Partitions(n))) // site:mapKey
	})
	unencodableF = rdd.Func(func(n int) *rdd.RDD[rdd.Pair[string, withFunc]] {
		named := rdd.Map(rdd.Parallelize([]string{"x", "y"}, rdd.Partitions(n)), func(s string) rdd.Pair[string, withFunc] { // site:unencodable
			return rdd.KV(s, withFunc{Name: s, Size: func() int { return len(s) }})
		})
		return rdd.PartitionBy(named, 2)
	})
)

// typeErrorBeforeAnyJob runs Collect through a Runner that records jobs
// and checks that it fails, with every wanted part in its message, and
// that no job ran.
func typeErrorBeforeAnyJob[T any](t *testing.T, r *rdd.RDD[T], want ...string) {
	t.Helper()
	log := &jobLog{run: newSession(t)}
	got, err := rdd.Collect(context.Background(), log, r)
	if err == nil {
		t.Fatalf("Collect = %v, nil; want an error", got)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n\tdoes not contain %q", err, w)
		}
	}
	if len(log.jobs) != 0 {
		t.Errorf("%d jobs ran before the error", len(log.jobs))
	}
}

// An unexported field used to come out of the shuffle zeroed (a count of
// 3 became 0).
func TestUnexportedFieldIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, unexportedF.Invoke(2),
		"rdd: Map at types_test.go:"+lineOf(t, "types_test.go", "unexported")+": field Stats.count of rdd_test.Row is unexported and would be lost")
}

// An unexported field of a Func's argument used to arrive empty, in every
// process: the driver plans with the decoded copy too.
func TestUnexportedFuncArgumentIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, funcArgF.Invoke(job{Words: []string{"short", "lengthy"}, minLen: 6}),
		"rdd: Func at types_test.go:"+lineOf(t, "types_test.go", "funcArg")+": its argument: field minLen of rdd_test.job is unexported and would be lost")
}

func TestInterfaceFuncArgumentIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, anyArgF.Invoke(7),
		"rdd: Func at types_test.go:"+lineOf(t, "types_test.go", "anyArg")+": the argument type interface {} is an interface type")
}

// An any value used to come back as another dynamic type (an int as int8):
// interface conversion panics in the user's code, or wrong answers.
func TestAnyValueIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, anyValueF.Invoke(2),
		"rdd: Parallelize at types_test.go:"+lineOf(t, "types_test.go", "anyValue")+": the value type interface {} is an interface type",
		"use a concrete type")
}

// A map inside an any key used to group 64 equal keys into groups of
// random sizes. A map as the static key type does not compile (see
// TestMapKeyDoesNotCompile).
func TestMapInAnyKeyIsAnError(t *testing.T) {
	typeErrorBeforeAnyJob(t, mapKeyF.Invoke(3),
		"rdd: Parallelize at types_test.go:"+lineOf(t, "types_test.go", "mapKey")+": the key type interface {} is an interface type")
}

// An unencodable type used to fail only when a task ran, and each task
// was retried.
func TestUnencodableTypeFailsBeforeAnyTask(t *testing.T) {
	typeErrorBeforeAnyJob(t, unencodableF.Invoke(2),
		"rdd: Map at types_test.go:"+lineOf(t, "types_test.go", "unencodable")+": field Size of rdd_test.withFunc is a func (func() int), which cannot be encoded")
}

// Err reports type errors too, so a program can check a lineage without
// running it.
func TestErrReportsTypeErrors(t *testing.T) {
	if err := unexportedF.Invoke(1).Err(); err == nil || !strings.Contains(err.Error(), "Stats.count") {
		t.Fatalf("Err() = %v, want the unexported field", err)
	}
}
