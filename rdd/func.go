package rdd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/codec"
	"github.com/sluicehq/sluice/internal/sentinel"

	"github.com/sluicehq/sluice/internal/task"
)

// ErrUnknownFunc is returned when an invocation names a Func that this
// binary does not register: the driver and executor run different code.
var ErrUnknownFunc = errors.New("rdd: unknown Func")

// FuncOf is a registered lineage builder; see Func.
type FuncOf[A, T any] struct {
	key  string
	fn   func(A) *RDD[T]
	args codec.Codec[A]
	// argErr says why A would not survive encoding; Invoke returns it.
	argErr error
}

type registered struct {
	key    string
	sig    string
	invoke func(args []byte) (anyRDD, error)
}

// registry is the one global the design needs: every copy of a binary
// registers the same Funcs at init, in the same order.
var registry struct {
	sync.Mutex
	byKey  map[string]*registered
	keys   []string
	sealed bool
}

// funcRule is the rule that Func's panics name.
const funcRule = "register Funcs at package level: in a var declaration or init"

// Func registers fn, which builds a lineage from an argument, and returns
// a handle whose Invoke builds it. Go cannot ship closures, so Sluice ships
// the binary instead: call Func only to initialize a package-level variable
// (or in init), so that every process running this binary registers the
// same Funcs before main starts, and executors rebuild the driver's lineage
// from (key, argument). The argument must survive encoding exactly (no
// unexported fields, interfaces or funcs: see the package doc), or the first
// action on what Invoke returns is an error naming this call; fn must build
// the same lineage from the same argument every time.
//
// Func panics, naming that rule and the call, when called once main has
// started: when main.main (or a function literal in it) is on the calling
// goroutine's stack, or once a lineage has been invoked. An executor never
// runs the code inside driver.Main's function, so a Func registered there
// would exist only in the driver.
func Func[A, T any](fn func(A) *RDD[T]) *FuncOf[A, T] {
	if inMain() {
		_, file, line, _ := runtime.Caller(1)
		panic(fmt.Sprintf("rdd: Func called at %s:%d after main started: %s", file, line, funcRule))
	}
	pc, file, line, _ := runtime.Caller(1)
	name := "unknown"
	if f := runtime.FuncForPC(pc); f != nil {
		name = f.Name()
	}
	key := fmt.Sprintf("%s:%d", name, line)
	if file == "" {
		key = name
	}
	f := &FuncOf[A, T]{fn: fn, args: codec.For[A]()}
	if err := codec.Check(reflect.TypeFor[A]()); err != nil {
		site := fmt.Sprintf("%s:%d", filepath.Base(file), line)
		if r := roled(err, "argument"); r != err {
			f.argErr = fmt.Errorf("rdd: Func at %s: %w", site, r)
		} else {
			f.argErr = fmt.Errorf("rdd: Func at %s: its argument: %w", site, err)
		}
	}
	sig := reflect.TypeOf(fn).String()

	registry.Lock()
	defer registry.Unlock()
	if registry.sealed {
		panic(fmt.Sprintf("rdd: Func called at %s:%d after a lineage was invoked: %s", file, line, funcRule))
	}
	if registry.byKey == nil {
		registry.byKey = make(map[string]*registered)
	}
	for base, i := key, 2; registry.byKey[key] != nil; i++ {
		key = fmt.Sprintf("%s#%d", base, i)
	}
	f.key = key
	registry.byKey[key] = &registered{key: key, sig: sig, invoke: func(b []byte) (anyRDD, error) {
		a, err := f.args.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("rdd: decoding the argument of Func %s: %w", key, err)
		}
		return f.call(a), nil
	}}
	registry.keys = append(registry.keys, key)
	return f
}

// inMain reports whether main.main, or a function literal declared in
// it, is on the calling goroutine's stack. Package initialization (var
// declarations, init) runs before main.main is called, from the runtime;
// a test runs in a goroutine of its own (TestMain, though, is called from
// the test binary's main.main).
func inMain() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if f.Function == "main.main" || strings.HasPrefix(f.Function, "main.main.") {
			return true
		}
		if !more {
			return false
		}
	}
}

// Key returns f's registry key.
func (f *FuncOf[A, T]) Key() string { return f.key }

// Invoke builds the lineage for args. Executors rebuild it from the
// encoded argument, so Invoke runs fn on the decoded copy too: what the
// driver plans is exactly what executors run.
func (f *FuncOf[A, T]) Invoke(args A) *RDD[T] {
	registry.Lock()
	registry.sealed = true
	registry.Unlock()

	if f.argErr != nil {
		r := newRDD[T]("Invoke", 0, nil)
		r.n.err = f.argErr
		return r
	}
	b, err := encodeValue(f.args, args)
	var a A
	if err == nil {
		a, err = f.args.Decode(b)
	}
	if err != nil {
		r := newRDD[T]("Invoke", 0, nil)
		r.n.err = fmt.Errorf("rdd: the argument of Func %s does not survive encoding: %w", f.key, err)
		return r
	}
	r := f.call(a)
	r.inv = &task.Invocation{Key: f.key, Args: b}
	return r
}

// call runs fn and returns a fresh handle on its result, so that two
// invocations never share graph state even if fn returns a shared RDD.
func (f *FuncOf[A, T]) call(a A) *RDD[T] {
	r := f.fn(a)
	if r == nil {
		r = newRDD[T]("Invoke", 0, nil)
		r.n.err = fmt.Errorf("rdd: Func %s returned a nil RDD", f.key)
		return r
	}
	return &RDD[T]{n: r.n, compute: r.compute, codec: r.codec}
}

// The runtimes reach the registry through package task: rdd installs its
// hooks before any program code runs.
func init() {
	task.Install(task.Hooks{Rebuild: rebuild, RegistryDigest: registryDigest, GraphOf: graphOf})
}

// registryDigest returns a digest of every registered Func's key and type,
// every Accumulator's key and type and every registered error's key
// (RegisterError), which executors
// compare with the driver's before running anything.
func registryDigest() string {
	registry.Lock()
	defer registry.Unlock()
	h := sha256.New()
	keys := slices.Clone(registry.keys)
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s %s\n", k, registry.byKey[k].sig)
	}
	for _, a := range accumulatorSigs() {
		fmt.Fprintf(h, "accumulator %s\n", a)
	}
	errs := sentinel.Keys()
	slices.Sort(errs)
	for _, k := range errs {
		fmt.Fprintf(h, "error %s\n", k)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// rebuild rebuilds the lineage that inv names, on an executor.
func rebuild(inv task.Invocation) (*task.Graph, error) {
	registry.Lock()
	reg := registry.byKey[inv.Key]
	registry.sealed = true
	registry.Unlock()
	if reg == nil {
		return nil, fmt.Errorf("%w %q: the executor's binary differs from the driver's", ErrUnknownFunc, inv.Key)
	}
	r, err := reg.invoke(inv.Args)
	if err != nil {
		return nil, err
	}
	g, err := newGraph(r.base(), inv)
	if err != nil {
		return nil, err
	}
	return g.pub, nil
}

// graphOf returns the graph of r, an *RDD[T] that Invoke returned.
func graphOf(r any) (*task.Graph, error) {
	gr, ok := r.(interface{ graph() (*graph, error) })
	if !ok {
		return nil, fmt.Errorf("rdd: graph of a %T, which is not an *RDD", r)
	}
	g, err := gr.graph()
	if err != nil {
		return nil, err
	}
	return g.pub, nil
}
