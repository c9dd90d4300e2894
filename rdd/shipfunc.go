package rdd

// Shipping an action's functions to executors by reference.
//
// Go cannot send a function to another process, but every executor runs
// the same binary (checked by its sha256), and a function value that
// captures no variables is a pointer to a static closure record the linker
// put in the binary's read-only data: a top-level function, a method
// expression, an instantiated generic function, or a function literal that
// uses only its parameters, package-level names and constants. In another
// copy of the binary that record lies at the same offset from any other
// static record, so the driver sends the offset from an anchor of its own
// (anchorFunc's record), the code's symbol name and the function's type;
// the executor adds the offset to its own anchor and checks, before
// calling anything, that the address lies in the executable's read-only
// file mappings and that the code there has that name and the function
// that type. A mismatch is an error, never a call of the wrong function.
//
// An action's own code (a runner, see action_func.go) is named the same
// way by its type descriptor, which the linker also puts in read-only
// data: typeRef holds its offset from anchorType's descriptor and its
// name, and the executor makes an interface value of that type. Reading a
// descriptor trusts that the address holds one, which the worker's
// sha256 check of the binary ensures (an authenticated driver can run any
// code on a worker anyway); the checks here catch a mismatch, they are no
// defence against a hostile driver. A function reference is checked
// without that trust: only a code pointer is read at the address.
//
// A closure that captures variables (or a method value, which captures its
// receiver) lives on the heap and cannot be shipped: the action either
// computes in the driver or fails before any task runs (see action_func.go).
// Finding the mappings reads /proc/self/maps, so shipping works on Linux
// only; elsewhere no function counts as static.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// funcRef names a static function value in any copy of the binary.
type funcRef struct {
	Off  int64  // the closure record's offset from anchorFunc's
	Name string // the symbol of its code, as runtime.FuncForPC names it
	Type string // the function's type, as reflect prints it
}

// errNotStatic says a function value captures variables, so it has no
// place in the binary that another process could find.
var errNotStatic = errors.New("rdd: the function captures variables")

// anchorFunc is never called: its closure record is the origin of offsets.
func anchorFunc() {}

// typeRef names an empty struct type in any copy of the binary.
type typeRef struct {
	Off  int64  // the type descriptor's offset from anchorType's
	Name string // the type, as reflect prints it
}

// anchorType's descriptor is the origin of typeRef offsets.
type anchorType struct{}

// typePtr returns the type descriptor of v's dynamic type: an
// interface's first word.
func typePtr(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0]
}

// typeRefOf returns the reference to v's type, which must be an empty
// struct.
func typeRefOf(v any) (typeRef, error) {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Struct || t.Size() != 0 {
		return typeRef{}, fmt.Errorf("rdd: %v is not an empty struct type", t)
	}
	p := typePtr(v)
	if !inText(uintptr(p)) {
		return typeRef{}, errNotStatic
	}
	return typeRef{Off: int64(uintptr(p) - uintptr(typePtr(anchorType{}))), Name: t.String()}, nil
}

// emptyValue is where values of empty struct types made by resolveType
// point; it is never read.
var emptyValue struct{}

// resolveType returns a value of the empty struct type that ref names.
// The descriptor's address is checked against the executable's read-only
// mappings before it is read, and its name after; the worker runs only
// the driver's binary (by sha256), where every offset is the driver's.
func resolveType(ref typeRef) (any, error) {
	anchor := typePtr(anchorType{})
	addr := uintptr(anchor) + uintptr(ref.Off)
	if addr%unsafe.Alignof(uintptr(0)) != 0 || !inText(addr) {
		return nil, fmt.Errorf("rdd: the driver sent type %s at offset %d, outside this executor's read-only data: is it the driver's binary?", ref.Name, ref.Off)
	}
	var v any
	w := (*[2]unsafe.Pointer)(unsafe.Pointer(&v))
	w[0], w[1] = unsafe.Add(anchor, ref.Off), unsafe.Pointer(&emptyValue)
	t := reflect.TypeOf(v)
	if t.String() != ref.Name || t.Kind() != reflect.Struct || t.Size() != 0 {
		return nil, fmt.Errorf("rdd: the driver sent type %s at offset %d, where this executor has %v: is it the driver's binary?", ref.Name, ref.Off, t)
	}
	return v, nil
}

// closurePtr returns the closure record that the func value f points to.
// A func value is one pointer word, held directly in an interface's data
// word.
func closurePtr(f any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&f))[1]
}

// textMaps is the executable's read-only file mappings, read once.
var textMaps = sync.OnceValues(readTextMaps)

type addrRange struct{ lo, hi uintptr }

// readTextMaps returns the non-writable mappings of the file that holds
// anchorFunc's closure record.
func readTextMaps() ([]addrRange, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("rdd: reading the process's mappings: %w", err)
	}
	anchor := uintptr(closurePtr(anchorFunc))
	type mapping struct {
		r        addrRange
		writable bool
		path     string
	}
	var maps []mapping
	file := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		// lo-hi perms offset dev inode [path]
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[4] == "0" {
			continue // anonymous: no file behind it
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rdd: unexpected line in /proc/self/maps: %q", sc.Text())
		}
		m := mapping{addrRange{uintptr(l), uintptr(h)}, strings.Contains(f[1], "w"), strings.Join(f[5:], " ")}
		if !m.writable && m.r.lo <= anchor && anchor < m.r.hi {
			file = m.path
		}
		maps = append(maps, m)
	}
	if file == "" {
		return nil, errors.New("rdd: the executable's read-only data is not among the process's file mappings")
	}
	var out []addrRange
	for _, m := range maps {
		if m.path == file && !m.writable {
			out = append(out, m.r)
		}
	}
	return out, nil
}

// inText reports whether the pointer-sized word at p lies in the
// executable's read-only mappings.
func inText(p uintptr) bool {
	maps, err := textMaps()
	if err != nil {
		return false
	}
	for _, r := range maps {
		if r.lo <= p && p+unsafe.Sizeof(uintptr(0)) <= r.hi {
			return true
		}
	}
	return false
}

// codeName returns the symbol of the function whose entry the word at p
// holds, as a closure record's first word does; "" when it holds no
// function's entry.
func codeName(p unsafe.Pointer) string {
	pc := *(*uintptr)(p)
	fn := runtime.FuncForPC(pc)
	if fn == nil || fn.Entry() != pc {
		return ""
	}
	return fn.Name()
}

// refOf returns the reference to the func value f (a non-nil func), or
// errNotStatic when f captures variables.
func refOf(f any) (funcRef, error) {
	t := reflect.TypeOf(f)
	if t == nil || t.Kind() != reflect.Func || reflect.ValueOf(f).IsNil() {
		return funcRef{}, fmt.Errorf("rdd: %v is not a function", t)
	}
	p := closurePtr(f)
	if !inText(uintptr(p)) || codeName(p) == "" {
		return funcRef{}, errNotStatic
	}
	return funcRef{
		Off:  int64(uintptr(p) - uintptr(closurePtr(anchorFunc))),
		Name: codeName(p),
		Type: t.String(),
	}, nil
}

// resolve returns the function that ref names, which must have type F.
func resolve[F any](ref funcRef) (F, error) {
	var f F
	t := reflect.TypeFor[F]()
	if t.Kind() != reflect.Func {
		return f, fmt.Errorf("rdd: resolving %s as %v, which is not a function type", ref.Name, t)
	}
	if ref.Type != t.String() {
		return f, fmt.Errorf("rdd: the driver sent %s of type %s where this executor expects %v: is it the driver's binary?", ref.Name, ref.Type, t)
	}
	anchor := closurePtr(anchorFunc)
	addr := uintptr(anchor) + uintptr(ref.Off)
	if addr%unsafe.Alignof(uintptr(0)) != 0 || !inText(addr) {
		return f, fmt.Errorf("rdd: the driver sent %s at offset %d, outside this executor's read-only data: is it the driver's binary?", ref.Name, ref.Off)
	}
	p := unsafe.Add(anchor, ref.Off)
	if name := codeName(p); name == "" || name != ref.Name {
		return f, fmt.Errorf("rdd: the driver sent %s at offset %d, where this executor has %q: is it the driver's binary?", ref.Name, ref.Off, name)
	}
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = p
	return f, nil
}
