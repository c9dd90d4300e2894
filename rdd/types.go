package rdd

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"

	"github.com/sluicehq/sluice/internal/codec"
)

// Every element type of a lineage, every key type that a by-key operation
// groups by and every Func argument must survive encoding exactly, since
// any of them may cross to another process or be cached as bytes: an
// action checks them all before it runs anything (codec.Check has the
// rules). Types are checked whether or not this lineage happens to encode
// them, as Beam checks every PCollection's coder: a Map's output that a
// task only pipelines today is cached, collected or shuffled tomorrow.

// rddPackage prefixes the names of this package's functions, whose frames
// a call site skips.
var rddPackage = reflect.TypeFor[node]().PkgPath() + "."

// sitePCs records where in the user's code a node was made, cheaply:
// frames are resolved only when an error names the site.
type sitePCs struct {
	pcs [12]uintptr
	n   int
}

// callers records the stack above the caller of callers.
func callers() sitePCs {
	var s sitePCs
	s.n = runtime.Callers(3, s.pcs[:])
	return s
}

// here records the stack from the caller of here: in an action, the
// action and the user's call to it.
func here() sitePCs {
	var s sitePCs
	s.n = runtime.Callers(2, s.pcs[:])
	return s
}

// String returns "file.go:line" of the first frame outside this package:
// the user's call that made the node, however many of this package's
// functions (Distinct calls Map, which calls newRDD) lie between.
func (s sitePCs) String() string {
	frames := runtime.CallersFrames(s.pcs[:s.n])
	for {
		f, more := frames.Next()
		if f.Function != "" && (!strings.HasPrefix(f.Function, rddPackage) || strings.HasSuffix(f.File, "_test.go")) {
			return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
		}
		if !more {
			return "an unknown line"
		}
	}
}

// call returns the function of this package that the user's code called
// and where: ("Collect", "main.go:42"), for a job's name.
func (s sitePCs) call() (fn, site string) {
	frames := runtime.CallersFrames(s.pcs[:s.n])
	for {
		f, more := frames.Next()
		if f.Function != "" && (!strings.HasPrefix(f.Function, rddPackage) || strings.HasSuffix(f.File, "_test.go")) {
			return fn, fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
		}
		if name, ok := strings.CutPrefix(f.Function, rddPackage); ok {
			name, _, _ = strings.Cut(name, "[")
			fn = name[strings.LastIndex(name, ".")+1:]
		}
		if !more {
			return fn, "an unknown line"
		}
	}
}

// jobName names a job after the action the user called and where.
func jobName(s sitePCs) string {
	fn, site := s.call()
	if fn == "" {
		fn = "job"
	}
	return fn + " at " + site
}

// pairType is implemented by every Pair, whose key and value are encoded
// apart and checked apart.
var pairType = reflect.TypeFor[pairCodecer]()

// checkTypes returns an error naming the first node, parents first, whose
// element type or key type would not survive encoding.
func checkTypes(nodes []*node) error {
	for _, n := range nodes {
		if err := checkElem(n.elem); err != nil {
			return fmt.Errorf("rdd: %s at %v: %w", n.name, n.site, err)
		}
		if n.key != nil {
			if err := codec.CheckKey(n.key); err != nil {
				return fmt.Errorf("rdd: %s at %v: %w", n.name, n.site, roled(err, "key"))
			}
		}
	}
	return nil
}

func checkElem(t reflect.Type) error {
	if t == nil {
		return nil
	}
	if t.Kind() == reflect.Struct && t.Implements(pairType) {
		if err := codec.Check(t.Field(0).Type); err != nil {
			return roled(err, "key")
		}
		if err := codec.Check(t.Field(1).Type); err != nil {
			return roled(err, "value")
		}
		return nil
	}
	return roled(codec.Check(t), "element")
}

// roled says what part of an element a type is, when the error is about
// the type itself rather than one of its fields.
func roled(err error, role string) error {
	var te *codec.TypeError
	if errors.As(err, &te) && te.Path == "" {
		return fmt.Errorf("the %s type %v %s", role, te.Type, te.Problem)
	}
	return err
}
