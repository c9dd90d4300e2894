package codec

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"unsafe"
)

// The exact codec: an encoder and a decoder compiled once per type from
// reflection, for every type that Check accepts. It writes msgpack, as the
// library does for the same value (structs as maps from field name to
// value, []byte and [N]byte as bin), except where the library would lose
// or reorder something: every map in the order of its encoded keys, embedded
// structs under their own name rather than inlined, time.Time with its
// location. Types that encode themselves are handed to the library.

// encFunc appends the encoding of v. depth counts the containers above v,
// to stop a cycle of pointers (which always passes through a struct, a
// slice, a map or an array: Check refuses pointers to pointers) before it
// exhausts the stack.
type encFunc func(dst []byte, v reflect.Value, depth int) []byte

// decFunc decodes the value that starts at b[pos] into v, which is
// settable and zero, and returns where the value ends. b has passed
// validate, so every length it declares lies within it.
type decFunc func(b []byte, pos int, v reflect.Value) (int, error)

type plan struct {
	enc encFunc
	dec decFunc
}

// exactFor returns the exact codec of T, or an error from Check's rules.
// canon makes the encoding of every float canonical (-0 as +0, every NaN
// as one NaN): for keys, which are grouped by their bytes.
func exactFor[T any](t reflect.Type, canon bool) (Codec[T], error) {
	x, err := newExact(t, canon)
	if err != nil {
		return Codec[T]{}, err
	}
	return Codec[T]{
		Append: func(dst []byte, v T) []byte {
			return x.append(dst, reflect.ValueOf(&v).Elem())
		},
		Decode: func(b []byte) (v T, err error) {
			err = x.decode(b, reflect.ValueOf(&v).Elem())
			if err != nil {
				var zero T
				return zero, err
			}
			return v, nil
		},
	}, nil
}

// exact is the exact codec of one type, on reflect.Values.
type exact struct {
	p    *plan
	what string
}

func newExact(t reflect.Type, canon bool) (*exact, error) {
	p, err := compile(t, canon)
	if err != nil {
		return nil, err
	}
	return &exact{p: p, what: t.String()}, nil
}

func (x *exact) append(dst []byte, v reflect.Value) []byte { return x.p.enc(dst, v, 0) }

// decode decodes all of b into v, which must be settable and zero.
func (x *exact) decode(b []byte, v reflect.Value) (err error) {
	if err := validate(b, x.what); err != nil {
		return err
	}
	defer func() {
		// A panic in a user's decoding method is an error like any other.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: panic while decoding: %v", ErrDecode, x.what, r)
		}
	}()
	end, err := x.p.dec(b, 0, v)
	if err == nil && end != len(b) {
		err = trailing(x.what, len(b)-end)
	}
	return err
}

// compile builds the plan for t, or returns the first reason why values of
// t would not survive encoding.
func compile(t reflect.Type, canon bool) (*plan, error) {
	b := &builder{root: t, canon: canon, plans: map[reflect.Type]*plan{}}
	return b.build(t, "")
}

type builder struct {
	root  reflect.Type
	canon bool
	plans map[reflect.Type]*plan // done or in progress, for recursive types
	lib   *libCodec
}

func (b *builder) fail(path, problem string, args ...any) error {
	return &TypeError{Type: b.root, Path: path, Problem: fmt.Sprintf(problem, args...)}
}

// subject names the part at path for a problem: nothing at the root, whose
// type the error names already.
func subject(path string, t reflect.Type) string {
	if path == "" {
		return ""
	}
	return fmt.Sprintf(" (%v)", t)
}

func (b *builder) build(t reflect.Type, path string) (*plan, error) {
	if p, ok := b.plans[t]; ok {
		return p, nil
	}
	p := &plan{}
	b.plans[t] = p
	if err := b.fill(p, t, path); err != nil {
		return nil, err
	}
	return p, nil
}

func (b *builder) fill(p *plan, t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Interface:
		return b.fail(path, "is an interface type%s: a decoded value would not keep its dynamic type (an int comes back as int8); use a concrete type", subject(path, t))
	case reflect.Func, reflect.Chan:
		return b.fail(path, "is a %v%s, which cannot be encoded: it means nothing in another process", t.Kind(), subject(path, t))
	case reflect.UnsafePointer:
		return b.fail(path, "is an unsafe.Pointer, which cannot be encoded: it means nothing in another process")
	case reflect.Uintptr:
		return b.fail(path, "is a uintptr%s, which the codec does not encode; use uint64", subject(path, t))
	case reflect.Complex64, reflect.Complex128:
		return b.fail(path, "is a complex number%s, which the codec does not encode; use two float fields", subject(path, t))
	case reflect.Pointer:
		switch e := t.Elem(); e.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			return b.fail(path, "is a pointer to a %v%s: a pointer to a nil %[1]v would come back as a nil pointer; use %[3]v itself", e.Kind(), subject(path, t), e)
		}
		return b.pointer(p, t, path)
	}
	if t == timeType {
		b.timePlan(p)
		return nil
	}
	if self, problem := methodCodec(t); problem != "" {
		return b.fail(path, "%s", problem)
	} else if self {
		b.delegate(p, t)
		return nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		*p = scalarPlan(t.Kind(), b.canon)
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !selfEncoding(t.Elem()) {
			*p = plan{encByteSlice, decByteSlice}
			return nil
		}
		return b.slice(p, t, path)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && !selfEncoding(t.Elem()) {
			*p = plan{encByteArray, decByteArray}
			return nil
		}
		return b.array(p, t, path)
	case reflect.Map:
		return b.mapPlan(p, t, path)
	case reflect.Struct:
		return b.structPlan(p, t, path)
	}
	return b.fail(path, "is a %v%s, which the codec does not encode", t.Kind(), subject(path, t))
}

// checkDepth stops a cycle of pointers, which would otherwise recurse
// until the stack ran out: decoding refuses nesting deeper than maxDepth,
// so encoding it would be no use anyway. A container at depth d is the
// d+1st level of nesting.
func checkDepth(v reflect.Value, depth int) {
	if depth >= maxDepth {
		panic(fmt.Errorf("%w: %v: nesting deeper than %d levels (a cycle of pointers?)", ErrEncode, v.Type(), maxDepth))
	}
}

func (b *builder) pointer(p *plan, t reflect.Type, path string) error {
	elem, err := b.build(t.Elem(), path)
	if err != nil {
		return err
	}
	et := t.Elem()
	p.enc = func(dst []byte, v reflect.Value, depth int) []byte {
		if v.IsNil() {
			return append(dst, codeNil)
		}
		return elem.enc(dst, v.Elem(), depth)
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		if b[pos] == codeNil {
			return pos + 1, nil
		}
		e := reflect.New(et)
		end, err := elem.dec(b, pos, e.Elem())
		if err == nil {
			v.Set(e)
		}
		return end, err
	}
	return nil
}

func (b *builder) slice(p *plan, t reflect.Type, path string) error {
	elem, err := b.build(t.Elem(), path+"[i]")
	if err != nil {
		return err
	}
	what, size := t.String(), t.Elem().Size()
	p.enc = func(dst []byte, v reflect.Value, depth int) []byte {
		if v.IsNil() {
			return append(dst, codeNil)
		}
		checkDepth(v, depth)
		n := v.Len()
		dst = appendArrayHeader(dst, n)
		for i := range n {
			dst = elem.enc(dst, v.Index(i), depth+1)
		}
		return dst
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		n, pos, isNil, err := arrayHeader(b, pos, what)
		if err != nil || isNil {
			return pos, err
		}
		// Each element takes at least a byte, so n is bounded by the
		// input; but not its memory, when elements are large.
		c := n
		if limit := max(1<<20, 64*(len(b)-pos)); uintptr(n)*size > uintptr(limit) {
			c = limit / int(max(size, 1))
		}
		s := reflect.MakeSlice(t, min(n, c), c)
		for i := range n {
			if i == s.Len() {
				s = reflect.Append(s, reflect.Zero(t.Elem()))
			}
			if pos, err = elem.dec(b, pos, s.Index(i)); err != nil {
				return pos, err
			}
		}
		v.Set(s)
		return pos, nil
	}
	return nil
}

func (b *builder) array(p *plan, t reflect.Type, path string) error {
	n, what := t.Len(), t.String()
	if n == 0 {
		*p = plan{
			enc: func(dst []byte, _ reflect.Value, _ int) []byte { return appendArrayHeader(dst, 0) },
			dec: func(b []byte, pos int, _ reflect.Value) (int, error) {
				got, pos, _, err := arrayHeader(b, pos, what)
				if err == nil && got != 0 {
					err = fmt.Errorf("%w: %s: %d elements, want 0", ErrDecode, what, got)
				}
				return pos, err
			},
		}
		return nil
	}
	elem, err := b.build(t.Elem(), path+"[i]")
	if err != nil {
		return err
	}
	p.enc = func(dst []byte, v reflect.Value, depth int) []byte {
		checkDepth(v, depth)
		dst = appendArrayHeader(dst, n)
		for i := range n {
			dst = elem.enc(dst, v.Index(i), depth+1)
		}
		return dst
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		got, pos, isNil, err := arrayHeader(b, pos, what)
		if err == nil && (isNil || got != n) {
			err = fmt.Errorf("%w: %s: %d elements, want %d", ErrDecode, what, got, n)
		}
		for i := 0; err == nil && i < n; i++ {
			pos, err = elem.dec(b, pos, v.Index(i))
		}
		return pos, err
	}
	return nil
}

func (b *builder) mapPlan(p *plan, t reflect.Type, path string) error {
	kt, vt := t.Key(), t.Elem()
	if ptr, ppath := findPointer(kt, map[reflect.Type]bool{}); ptr != nil {
		if ppath == "" {
			return b.fail(path+"[key]", "is a pointer (%v): pointer keys compare by address, which no encoding keeps; use a value type", kt)
		}
		return b.fail(path+"[key]", "has type %v, whose %s is a pointer (%v): such keys compare by address, which no encoding keeps; use a value type", kt, ppath, ptr)
	}
	key, err := b.build(kt, path+"[key]")
	if err != nil {
		return err
	}
	val, err := b.build(vt, path+"[k]")
	if err != nil {
		return err
	}
	what := t.String()
	compareKeys := bytes.Compare
	if kt.Kind() == reflect.String && !selfEncoding(kt) {
		// Strings in byte order, as the library sorts them.
		compareKeys = func(a, b []byte) int { return bytes.Compare(a[strPrefix(a):], b[strPrefix(b):]) }
	}
	p.enc = func(dst []byte, v reflect.Value, depth int) []byte {
		if v.IsNil() {
			return append(dst, codeNil)
		}
		checkDepth(v, depth)
		n := v.Len()
		dst = appendMapHeader(dst, n)
		if n == 0 {
			return dst
		}
		// Encode the entries in Go's order after dst, then rewrite them
		// in the order of their key bytes (value bytes for equal keys,
		// which only NaN keys have).
		start := len(dst)
		ends := make([]int, 2*n) // end of key i, end of value i
		k, e := reflect.New(kt).Elem(), reflect.New(vt).Elem()
		it := v.MapRange()
		for i := 0; it.Next(); i++ {
			k.SetIterKey(it)
			e.SetIterValue(it)
			dst = key.enc(dst, k, depth+1)
			ends[2*i] = len(dst) - start
			dst = val.enc(dst, e, depth+1)
			ends[2*i+1] = len(dst) - start
		}
		region := slices.Clone(dst[start:])
		entry := func(i int) (kb, vb []byte) {
			from := 0
			if i > 0 {
				from = ends[2*i-1]
			}
			return region[from:ends[2*i]], region[ends[2*i]:ends[2*i+1]]
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(i, j int) int {
			ki, vi := entry(i)
			kj, vj := entry(j)
			if c := compareKeys(ki, kj); c != 0 {
				return c
			}
			return bytes.Compare(vi, vj)
		})
		dst = dst[:start]
		for _, i := range order {
			kb, vb := entry(i)
			dst = append(append(dst, kb...), vb...)
		}
		return dst
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		n, pos, isNil, err := mapHeader(b, pos, what)
		if err != nil || isNil {
			return pos, err
		}
		m := reflect.MakeMapWithSize(t, min(n, 1024))
		k, e := reflect.New(kt).Elem(), reflect.New(vt).Elem()
		for range n {
			k.SetZero()
			e.SetZero()
			if pos, err = key.dec(b, pos, k); err != nil {
				return pos, err
			}
			if pos, err = val.dec(b, pos, e); err != nil {
				return pos, err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return pos, nil
	}
	return nil
}

// field is one encoded struct field.
type field struct {
	index  int
	name   string
	plan   *plan
	hidden bool // an embedded unexported struct, reached through unsafe
}

// get returns field f of v, which is addressable. Values reached through
// an unexported field are read-only to reflect, though their exported
// fields are not; going through the field's address lifts that, so that
// its methods can run and it can be set.
func (f *field) get(v reflect.Value) reflect.Value {
	fv := v.Field(f.index)
	if f.hidden {
		fv = reflect.NewAt(fv.Type(), unsafe.Pointer(fv.UnsafeAddr())).Elem()
	}
	return fv
}

func (b *builder) structPlan(p *plan, t reflect.Type, path string) error {
	var fields []field
	byName := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		fpath := joinPath(f.Name, "")
		if path != "" {
			fpath = path + "." + f.Name
		}
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			if f.Name == "_" || f.Type.Size() == 0 {
				continue // carries nothing
			}
			return b.fail(fpath, "is unexported and would be lost; export it, or give %v methods that encode it (MarshalMsgpack and UnmarshalMsgpack)", t)
		}
		name, dropped := tagName(f)
		if dropped {
			return b.fail(fpath, "has the tag msgpack:\"-\" and would be lost; remove the tag")
		}
		if j, dup := byName[name]; dup {
			return b.fail(fpath, "encodes under the name %q, as field %s does; rename one of them", name, t.Field(fields[j].index).Name)
		}
		fp, err := b.build(f.Type, fpath)
		if err != nil {
			return err
		}
		byName[name] = len(fields)
		fields = append(fields, field{index: i, name: name, plan: fp, hidden: !f.IsExported()})
	}
	what, nameWhat := t.String(), t.String()+" field name"
	// The field names' encodings, laid out once.
	names := make([][]byte, len(fields))
	for i, f := range fields {
		names[i] = appendString(nil, f.name)
	}
	p.enc = func(dst []byte, v reflect.Value, depth int) []byte {
		checkDepth(v, depth)
		if !v.CanAddr() {
			c := reflect.New(t).Elem()
			c.Set(v)
			v = c
		}
		dst = appendMapHeader(dst, len(fields))
		for i := range fields {
			dst = append(dst, names[i]...)
			dst = fields[i].plan.enc(dst, fields[i].get(v), depth+1)
		}
		return dst
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		n, pos, isNil, err := mapHeader(b, pos, what)
		if err == nil && isNil {
			err = wrongType(what, codeNil)
		}
		if err != nil {
			return pos, err
		}
		for range n {
			end, err := scalarEnd(b, pos)
			if err != nil {
				return pos, err
			}
			h, size, err := strHeader(b[pos:end], nameWhat)
			if err != nil {
				return pos, err
			}
			name := b[pos+h : pos+h+size]
			pos = end
			j, ok := byName[string(name)]
			if !ok {
				// Written by another version of the type: skip, as the
				// library does.
				if pos, err = skipValue(b, pos, what); err != nil {
					return pos, err
				}
				continue
			}
			if pos, err = fields[j].plan.dec(b, pos, fields[j].get(v)); err != nil {
				return pos, err
			}
		}
		return pos, nil
	}
	return nil
}

// delegate hands a self-encoding type to the library, which calls its
// methods. Values are made addressable first, so that pointer-receiver
// methods run.
func (b *builder) delegate(p *plan, t reflect.Type) {
	if b.lib == nil {
		b.lib = newLibCodec()
	}
	lib := b.lib
	what := t.String()
	p.enc = func(dst []byte, v reflect.Value, _ int) []byte {
		if !v.CanAddr() {
			c := reflect.New(t).Elem()
			c.Set(v)
			v = c
		}
		return lib.append(dst, v, t)
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		end, err := skipValue(b, pos, what)
		if err != nil {
			return pos, err
		}
		return end, lib.decode(b[pos:end], v, t)
	}
}

// Scalars, by kind. Floats are read and written through their bits, so
// that a NaN keeps its payload (a float32 NaN would be quieted by the
// float64 conversion that reflect's Float and SetFloat make).

func scalarPlan(k reflect.Kind, canon bool) plan {
	switch k {
	case reflect.Bool:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendBool(dst, v.Bool()) },
			decodeBool, func(v reflect.Value, x bool) { v.SetBool(x) })
	case reflect.String:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendString(dst, v.String()) },
			decodeString, func(v reflect.Value, x string) { v.SetString(x) })
	case reflect.Int:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendInt(dst, int(v.Int())) },
			decodeInt, func(v reflect.Value, x int) { v.SetInt(int64(x)) })
	case reflect.Int8:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendInt8(dst, int8(v.Int())) },
			decodeInt8, func(v reflect.Value, x int8) { v.SetInt(int64(x)) })
	case reflect.Int16:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendInt16(dst, int16(v.Int())) },
			decodeInt16, func(v reflect.Value, x int16) { v.SetInt(int64(x)) })
	case reflect.Int32:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendInt32(dst, int32(v.Int())) },
			decodeInt32, func(v reflect.Value, x int32) { v.SetInt(int64(x)) })
	case reflect.Int64:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendInt64(dst, v.Int()) },
			decodeInt64, func(v reflect.Value, x int64) { v.SetInt(x) })
	case reflect.Uint:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendUint(dst, uint(v.Uint())) },
			decodeUint, func(v reflect.Value, x uint) { v.SetUint(uint64(x)) })
	case reflect.Uint8:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendUint8(dst, uint8(v.Uint())) },
			decodeUint8, func(v reflect.Value, x uint8) { v.SetUint(uint64(x)) })
	case reflect.Uint16:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendUint16(dst, uint16(v.Uint())) },
			decodeUint16, func(v reflect.Value, x uint16) { v.SetUint(uint64(x)) })
	case reflect.Uint32:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendUint32(dst, uint32(v.Uint())) },
			decodeUint32, func(v reflect.Value, x uint32) { v.SetUint(uint64(x)) })
	case reflect.Uint64:
		return scalar(func(dst []byte, v reflect.Value) []byte { return appendUint64(dst, v.Uint()) },
			decodeUint64, func(v reflect.Value, x uint64) { v.SetUint(x) })
	case reflect.Float32:
		return scalar(func(dst []byte, v reflect.Value) []byte {
			f := float32Of(v)
			if canon {
				f = canonical32(f)
			}
			return appendFloat32(dst, f)
		}, decodeFloat32, func(v reflect.Value, x float32) { *(*float32)(v.Addr().UnsafePointer()) = x })
	case reflect.Float64:
		return scalar(func(dst []byte, v reflect.Value) []byte {
			f := v.Float()
			if canon {
				f = canonical64(f)
			}
			return appendFloat64(dst, f)
		}, decodeFloat64, func(v reflect.Value, x float64) { v.SetFloat(x) })
	}
	panic("codec: scalarPlan of " + k.String())
}

func scalar[S any](enc func([]byte, reflect.Value) []byte, dec func([]byte) (S, error), set func(reflect.Value, S)) plan {
	return plan{
		enc: func(dst []byte, v reflect.Value, _ int) []byte { return enc(dst, v) },
		dec: func(b []byte, pos int, v reflect.Value) (int, error) {
			end, err := scalarEnd(b, pos)
			if err != nil {
				return pos, err
			}
			x, err := dec(b[pos:end])
			if err != nil {
				return pos, err
			}
			set(v, x)
			return end, nil
		},
	}
}

func float32Of(v reflect.Value) float32 {
	if v.CanAddr() {
		return *(*float32)(v.Addr().UnsafePointer())
	}
	return float32(v.Float())
}

// canonical64 and canonical32 map -0 to +0 and every NaN to one NaN, so
// that keys Go considers equal (and NaNs, which it never does) have one
// encoding.
func canonical64(f float64) float64 {
	switch {
	case f != f:
		return math.NaN()
	case f == 0:
		return 0
	}
	return f
}

func canonical32(f float32) float32 {
	switch {
	case f != f:
		return float32(math.NaN())
	case f == 0:
		return 0
	}
	return f
}

// scalarEnd returns where the scalar at b[pos] ends; a container there is
// a wrong type for whichever decoder reads it next, so it ends at once.
func scalarEnd(b []byte, pos int) (int, error) {
	c := b[pos]
	switch {
	case c <= codePosFixIntMax || c >= codeNegFixIntMin || c == codeNil || c == codeTrue || c == codeFalse:
		return pos + 1, nil
	case c&0xe0 == codeFixStr:
		return pos + 1 + int(c&0x1f), nil
	case c&0xf0 == codeFixMap || c&0xf0 == codeFixArray || c == codeNeverUsed:
		return pos + 1, nil
	}
	return skipValue(b, pos, "value")
}

func encByteSlice(dst []byte, v reflect.Value, _ int) []byte {
	if v.IsNil() {
		return append(dst, codeNil)
	}
	return appendBytes(dst, v.Bytes())
}

func decByteSlice(b []byte, pos int, v reflect.Value) (int, error) {
	end, err := scalarEnd(b, pos)
	if err != nil {
		return pos, err
	}
	x, err := decodeBytes(b[pos:end])
	if err != nil {
		return pos, err
	}
	if x != nil {
		s := reflect.MakeSlice(v.Type(), len(x), len(x))
		copy(s.Bytes(), x)
		v.Set(s)
	}
	return end, nil
}

func encByteArray(dst []byte, v reflect.Value, _ int) []byte {
	if !v.CanAddr() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	return appendBytes(dst, v.Bytes())
}

func decByteArray(b []byte, pos int, v reflect.Value) (int, error) {
	end, err := scalarEnd(b, pos)
	if err != nil {
		return pos, err
	}
	h, n, err := strHeader(b[pos:end], v.Type().String())
	if err != nil {
		return pos, err
	}
	if n != v.Len() {
		return pos, fmt.Errorf("%w: %v: %d bytes, want %d", ErrDecode, v.Type(), n, v.Len())
	}
	copy(v.Bytes(), b[pos+h:end])
	return end, nil
}

// strPrefix returns the length of the header of the string encoded in b.
func strPrefix(b []byte) int {
	switch c := b[0]; {
	case c&0xe0 == codeFixStr:
		return 1
	case c == codeStr8:
		return 2
	case c == codeStr16:
		return 3
	}
	return 5
}

// Container headers.

func appendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, codeFixArray|byte(n))
	case n <= math.MaxUint16:
		return append(dst, codeArray16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		return append(dst, codeArray32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	panic(fmt.Errorf("%w: %d elements exceed msgpack's limit", ErrEncode, n))
}

func appendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, codeFixMap|byte(n))
	case n <= math.MaxUint16:
		return append(dst, codeMap16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		return append(dst, codeMap32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	panic(fmt.Errorf("%w: %d map entries exceed msgpack's limit", ErrEncode, n))
}

// arrayHeader parses an array header or nil at b[pos].
func arrayHeader(b []byte, pos int, what string) (n, next int, isNil bool, err error) {
	return header(b, pos, what, codeFixArray, codeArray16, codeArray32)
}

func mapHeader(b []byte, pos int, what string) (n, next int, isNil bool, err error) {
	return header(b, pos, what, codeFixMap, codeMap16, codeMap32)
}

func header(b []byte, pos int, what string, fix, c16, c32 byte) (n, next int, isNil bool, err error) {
	c := b[pos]
	switch {
	case c == codeNil:
		return 0, pos + 1, true, nil
	case c&0xf0 == fix:
		return int(c & 0x0f), pos + 1, false, nil
	case c == c16 && len(b)-pos >= 3:
		return int(b[pos+1])<<8 | int(b[pos+2]), pos + 3, false, nil
	case c == c32 && len(b)-pos >= 5:
		u := uint32(b[pos+1])<<24 | uint32(b[pos+2])<<16 | uint32(b[pos+3])<<8 | uint32(b[pos+4])
		return int(u), pos + 5, false, nil
	}
	return 0, pos, false, wrongType(what, c)
}
