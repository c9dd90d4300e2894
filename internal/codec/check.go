package codec

import (
	"encoding"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// TypeError says why values of a type would not survive encoding exactly,
// and where in the type the problem is.
type TypeError struct {
	Type    reflect.Type // the type that was checked
	Path    string       // where in Type: "Stats.count", "Items[i]", "Attrs[key]"; empty for Type itself
	Problem string       // what is wrong and what to do about it
}

func (e *TypeError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("type %v %s", e.Type, e.Problem)
	}
	noun := "field"
	switch {
	case strings.HasSuffix(e.Path, "[key]"):
		noun = "map key"
	case strings.HasSuffix(e.Path, "]"):
		noun = "element"
	}
	return fmt.Sprintf("%s %s of %v %s", noun, e.Path, e.Type, e.Problem)
}

// Check reports whether every value of t survives Append and Decode
// exactly: nil error, or a *TypeError naming the first part of t that
// would not. The rules, and why:
//
//   - Unexported struct fields are refused: nothing outside their package
//     can set them, so they would come back zero. Blank (_) fields and
//     unexported fields of zero size carry nothing and are skipped, and an
//     embedded unexported struct is encoded like an exported field.
//   - A type whose encoding is a method pair that msgpack calls
//     (EncodeMsgpack/DecodeMsgpack, MarshalMsgpack/UnmarshalMsgpack,
//     MarshalBinary/UnmarshalBinary, MarshalText/UnmarshalText) encodes
//     itself: its fields are not inspected, and its methods are trusted to
//     round-trip and to write the same bytes for equal values. Half a pair,
//     or an encoder and a decoder of different pairs, is refused. Methods
//     that a struct only inherits from an embedded field (a struct
//     embedding time.Time has MarshalBinary) would encode that field alone:
//     they are ignored, and the struct is encoded field by field.
//   - Interface types are refused: a decoded interface holds whatever
//     dynamic type msgpack picks (an int comes back as int8), so the
//     element type of data must be concrete.
//   - func, chan, unsafe.Pointer, uintptr and complex types are refused:
//     the codec has no encoding for them.
//   - A pointer to a pointer, slice or map is refused: a non-nil pointer to
//     a nil one would come back as a nil pointer. Pointers elsewhere are
//     followed: the value they point to travels, their sharing does not.
//   - Map keys that are or hold pointers are refused: such keys compare by
//     address, which no encoding keeps.
//   - A field tagged msgpack:"-" is refused: it would be lost. Other
//     msgpack tags only rename fields; two fields under one name are
//     refused.
//   - time.Time keeps its instant and its location (see the package doc),
//     not its monotonic clock reading.
//
// Values of a type that passes also encode canonically: map entries in
// key order, so equal values have equal bytes.
func Check(t reflect.Type) error {
	_, err := compile(t, false)
	return err
}

// CheckKey is Check for the key type of a by-key operation, which groups
// and partitions keys by their encoding: it also refuses keys that are or
// hold pointers, whose equality is their address.
func CheckKey(t reflect.Type) error {
	if err := Check(t); err != nil {
		return err
	}
	if p, path := findPointer(t, map[reflect.Type]bool{}); p != nil {
		te := &TypeError{Type: t, Path: path}
		if path == "" {
			te.Problem = "is a pointer and cannot be a key: keys are grouped by the value they encode, while Go compares pointers by address; use the value type"
		} else {
			te.Problem = fmt.Sprintf("has type %v, a pointer, so the type cannot be a key: keys are grouped by the value they encode, while Go compares pointers by address", p)
		}
		return te
	}
	return nil
}

// findPointer returns the first pointer type in t outside the parts that
// encode themselves, and its path.
func findPointer(t reflect.Type, seen map[reflect.Type]bool) (reflect.Type, string) {
	if seen[t] || t == timeType || selfEncoding(t) {
		return nil, ""
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer:
		return t, ""
	case reflect.Array:
		if p, path := findPointer(t.Elem(), seen); p != nil {
			return p, "[i]" + path
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p, path := findPointer(f.Type, seen); p != nil {
				return p, joinPath(f.Name, path)
			}
		}
	}
	return nil, ""
}

func joinPath(field, rest string) string {
	if rest == "" || rest[0] == '[' {
		return field + rest
	}
	return field + "." + rest
}

// How msgpack encodes or decodes a type through one of its methods.
type viaMethod int

const (
	viaKind viaMethod = iota
	viaCustom
	viaMarshaler
	viaBinary
	viaText
)

var (
	encoderIfaces = [...]reflect.Type{
		viaCustom:    reflect.TypeFor[msgpack.CustomEncoder](),
		viaMarshaler: reflect.TypeFor[msgpack.Marshaler](),
		viaBinary:    reflect.TypeFor[encoding.BinaryMarshaler](),
		viaText:      reflect.TypeFor[encoding.TextMarshaler](),
	}
	decoderIfaces = [...]reflect.Type{
		viaCustom:    reflect.TypeFor[msgpack.CustomDecoder](),
		viaMarshaler: reflect.TypeFor[msgpack.Unmarshaler](),
		viaBinary:    reflect.TypeFor[encoding.BinaryUnmarshaler](),
		viaText:      reflect.TypeFor[encoding.TextUnmarshaler](),
	}
	encoderNames = [...]string{viaCustom: "EncodeMsgpack", viaMarshaler: "MarshalMsgpack", viaBinary: "MarshalBinary", viaText: "MarshalText"}
	decoderNames = [...]string{viaCustom: "DecodeMsgpack", viaMarshaler: "UnmarshalMsgpack", viaBinary: "UnmarshalBinary", viaText: "UnmarshalText"}
)

// methodOf returns the interface of ifaces that msgpack uses for t: the
// first that t implements, else the first that *t implements.
func methodOf(t reflect.Type, ifaces *[5]reflect.Type) viaMethod {
	for m := viaCustom; m <= viaText; m++ {
		if t.Implements(ifaces[m]) {
			return m
		}
	}
	if t.Kind() != reflect.Pointer {
		p := reflect.PointerTo(t)
		for m := viaCustom; m <= viaText; m++ {
			if p.Implements(ifaces[m]) {
				return m
			}
		}
	}
	return viaKind
}

// selfEncoding reports whether the exact codec hands t to the library,
// which encodes it through its methods, rather than encoding it by kind.
func selfEncoding(t reflect.Type) bool {
	self, _ := methodCodec(t)
	return self
}

// methodCodec decides whether t encodes itself through a method pair that
// msgpack calls, and returns the problem, if any, with its methods. A
// struct's methods that it only inherits from embedded fields are
// ignored: they would encode that field alone, so such a struct is
// encoded field by field.
func methodCodec(t reflect.Type) (self bool, problem string) {
	if t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer {
		return false, ""
	}
	enc, dec := methodOf(t, &encoderIfaces), methodOf(t, &decoderIfaces)
	if enc == viaKind && dec == viaKind {
		return false, ""
	}
	if t.Kind() == reflect.Struct {
		encInherited := enc != viaKind && promoted(t, encoderNames[enc])
		decInherited := dec != viaKind && promoted(t, decoderNames[dec])
		switch {
		case (enc == viaKind || encInherited) && (dec == viaKind || decInherited):
			return false, ""
		case encInherited:
			return true, fmt.Sprintf("declares %s but inherits %s from an embedded field, which would encode that field alone; declare %[2]s too", decoderNames[dec], encoderNames[enc])
		case decInherited:
			return true, fmt.Sprintf("declares %s but inherits %s from an embedded field, which would decode that field alone; declare %[2]s too", encoderNames[enc], decoderNames[dec])
		}
	}
	switch {
	case dec == viaKind:
		return true, fmt.Sprintf("has %s but no %s, so it would not decode; add %[2]s", encoderNames[enc], decoderNames[enc])
	case enc == viaKind:
		return true, fmt.Sprintf("has %s but no %s, so it would not encode the way it decodes; add %[2]s", decoderNames[dec], encoderNames[dec])
	case enc != dec:
		return true, fmt.Sprintf("encodes with %s but decodes with %s; give it %s or %s", encoderNames[enc], decoderNames[dec], decoderNames[enc], encoderNames[dec])
	}
	return true, ""
}

// promoted reports whether t's method name comes from an embedded field:
// the compiler generates a wrapper for it.
func promoted(t reflect.Type, name string) bool {
	m, ok := t.MethodByName(name)
	if !ok {
		m, ok = reflect.PointerTo(t).MethodByName(name)
	}
	if !ok {
		return false
	}
	f := runtime.FuncForPC(m.Func.Pointer())
	if f == nil {
		return false
	}
	file, _ := f.FileLine(f.Entry())
	return file == "<autogenerated>"
}

// tagName returns the name msgpack gives a field, and whether its tag
// drops it.
func tagName(f reflect.StructField) (name string, dropped bool) {
	tag, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
	switch tag {
	case "-":
		return f.Name, true
	case "":
		return f.Name, false
	}
	return tag, false
}
