package rdd_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rdd"
)

// A Func registered once a lineage was invoked (so main had started)
// panics at that call, naming the rule and the call.
func TestFuncAfterInvokePanicsNamingTheRule(t *testing.T) {
	sizedF.Invoke([]int{1})
	var msg string
	_, _, line, _ := runtime.Caller(0)
	func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		rdd.Func(func(n int) *rdd.RDD[int] { return rdd.Parallelize([]int{n}) }) // line+3
	}()
	for _, want := range []string{"register Funcs at package level: in a var declaration or init", fmt.Sprintf("func_test.go:%d", line+3)} {
		if !strings.Contains(msg, want) {
			t.Errorf("rdd.Func after Invoke: %q; want it to say %q", msg, want)
		}
	}
}
