package worker

import "testing"

func TestFuncPackage(t *testing.T) {
	for fn, want := range map[string]string{
		"main.main.func1":                                    "main",
		"main.(*T).M":                                        "main",
		"runtime.gopanic":                                    "runtime",
		"encoding/json.Marshal":                              "encoding/json",
		"github.com/a/b.(*T).M.func1":                        "github.com/a/b",
		"gopkg.in/yaml%2ev3.Unmarshal":                       "gopkg.in/yaml%2ev3",
		"github.com/sluicehq/sluice/rdd.Map[...].func1":      "github.com/sluicehq/sluice/rdd",
		"github.com/sluicehq/sluice/rdd.Map[go.shape.int]":   "github.com/sluicehq/sluice/rdd",
		"myapp/internal/parse.Line":                          "myapp/internal/parse",
		"github.com/sluicehq/sluice/driver_test.TestX.func2": "github.com/sluicehq/sluice/driver_test",
	} {
		if got := funcPackage(fn); got != want {
			t.Errorf("funcPackage(%q) = %q, want %q", fn, got, want)
		}
	}
}

func TestIsStd(t *testing.T) {
	modules := []string{"myapp", "github.com/sluicehq/sluice", "golang.org/x/sys"}
	for pkg, want := range map[string]bool{
		"runtime":                        true,
		"strings":                        true,
		"internal/poll":                  true,
		"myapp":                          false, // a module without a dot is the user's
		"myapp/internal/parse":           false,
		"myapplication":                  true, // not under myapp
		"golang.org/x/sys/unix":          false,
		"github.com/sluicehq/sluice/rdd": false,
	} {
		if got := isStd(pkg, modules); got != want {
			t.Errorf("isStd(%q) = %v, want %v", pkg, got, want)
		}
	}
}
