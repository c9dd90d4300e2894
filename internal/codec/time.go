package codec

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// msgpack extension types for time.Time: the standard timestamp, which
// the library also writes, for times in UTC; and, for any other location,
// one that also carries the location's name, the zone's abbreviation and
// its offset.
const (
	extTimestamp = 0xff // -1
	extZonedTime = 'Z'
)

// maxZones bounds the locations a time plan remembers, whatever its input
// names.
const maxZones = 256

// timePlan encodes a time.Time as its instant and its location. A UTC time
// decodes as UTC and a Local one as Local when this process's Local has
// the same zone at that instant, so both compare == to what was encoded
// (less the monotonic clock reading, which no encoding keeps). A time in
// another location decodes in the location of that name when this process
// has it and it agrees on the zone, else in a fixed zone of the same
// abbreviation and offset: Equal, and formatted the same, in every case.
func (b *builder) timePlan(p *plan) {
	z := &zones{}
	p.enc = func(dst []byte, v reflect.Value, _ int) []byte {
		return appendTime(dst, v.Interface().(time.Time))
	}
	p.dec = func(b []byte, pos int, v reflect.Value) (int, error) {
		end, err := skipValue(b, pos, "time.Time")
		if err != nil {
			return pos, err
		}
		t, err := z.decode(b[pos:end])
		if err == nil {
			v.Set(reflect.ValueOf(t))
		}
		return end, err
	}
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.Location() == time.UTC {
		// What msgpack's own encoder writes.
		secs := uint64(t.Unix())
		if secs>>34 == 0 {
			data := uint64(t.Nanosecond())<<34 | secs
			if data&0xffffffff00000000 == 0 {
				return binary.BigEndian.AppendUint32(append(dst, codeFixExt4, extTimestamp), uint32(data))
			}
			return binary.BigEndian.AppendUint64(append(dst, codeFixExt8, extTimestamp), data)
		}
		dst = append(dst, codeExt8, 12, extTimestamp)
		dst = binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
		return binary.BigEndian.AppendUint64(dst, secs)
	}
	abbr, offset := t.Zone()
	name := t.Location().String()
	if len(name) > 255 {
		name = "" // decodes as a fixed zone
	}
	n := 8 + 4 + 4 + 1 + len(name) + len(abbr)
	switch {
	case n <= 0xff:
		dst = append(dst, codeExt8, byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, codeExt16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, codeExt32), uint32(n))
	}
	dst = append(dst, extZonedTime)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(int32(offset)))
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return append(dst, abbr...)
}

// zones remembers the locations that decoded times named.
type zones struct {
	m sync.Map // zoneKey -> *time.Location
	n atomic.Int32
}

type zoneKey struct {
	name, abbr string
	offset     int
}

func (z *zones) decode(b []byte) (time.Time, error) {
	h, size, typ, err := extHeader(b)
	if err != nil {
		return time.Time{}, err
	}
	payload := b[h : h+size]
	switch {
	case typ == extTimestamp && (size == 4 || size == 8 || size == 12):
		var sec, nsec int64
		switch size {
		case 4:
			sec = int64(binary.BigEndian.Uint32(payload))
		case 8:
			data := binary.BigEndian.Uint64(payload)
			sec, nsec = int64(data&(1<<34-1)), int64(data>>34)
		case 12:
			nsec = int64(binary.BigEndian.Uint32(payload))
			sec = int64(binary.BigEndian.Uint64(payload[4:]))
		}
		if nsec >= 1e9 {
			return time.Time{}, fmt.Errorf("%w: time.Time: %d nanoseconds", ErrDecode, nsec)
		}
		return time.Unix(sec, nsec).UTC(), nil
	case typ == extZonedTime && size >= 17 && size >= 17+int(payload[16]):
		sec := int64(binary.BigEndian.Uint64(payload))
		nsec := int64(binary.BigEndian.Uint32(payload[8:]))
		offset := int(int32(binary.BigEndian.Uint32(payload[12:])))
		nameLen := int(payload[16])
		name, abbr := payload[17:17+nameLen], payload[17+nameLen:]
		if nsec >= 1e9 {
			return time.Time{}, fmt.Errorf("%w: time.Time: %d nanoseconds", ErrDecode, nsec)
		}
		t := time.Unix(sec, nsec)
		return t.In(z.location(string(name), string(abbr), offset, t)), nil
	}
	return time.Time{}, fmt.Errorf("%w: time.Time: extension type %d of %d bytes", ErrDecode, int8(typ), size)
}

// location returns the location that name stands for, if it has the zone
// (abbr, offset) at t, else a fixed zone of that abbreviation and offset.
func (z *zones) location(name, abbr string, offset int, t time.Time) *time.Location {
	key := zoneKey{name, abbr, offset}
	if l, ok := z.m.Load(key); ok {
		loc := l.(*time.Location)
		if a, o := t.In(loc).Zone(); a == abbr && o == offset {
			return loc
		}
		return time.FixedZone(abbr, offset)
	}
	var loc *time.Location
	switch name {
	case "Local":
		loc = time.Local
	case "UTC":
		loc = time.UTC
	case "":
	default:
		loc, _ = time.LoadLocation(name)
	}
	if loc != nil {
		if a, o := t.In(loc).Zone(); a != abbr || o != offset {
			loc = nil
		}
	}
	if loc == nil {
		loc = time.FixedZone(abbr, offset)
	}
	if z.n.Add(1) <= maxZones {
		z.m.Store(key, loc)
	}
	return loc
}

// extHeader parses the header of the extension value that is all of b.
func extHeader(b []byte) (h, size int, typ byte, err error) {
	if len(b) == 0 {
		return 0, 0, 0, truncated("time.Time", 1, 0)
	}
	switch c := b[0]; {
	case c >= codeFixExt1 && c <= codeFixExt16:
		h, size = 2, 1<<(c-codeFixExt1)
	case c == codeExt8 && len(b) >= 3:
		h, size = 3, int(b[1])
	case c == codeExt16 && len(b) >= 4:
		h, size = 4, int(binary.BigEndian.Uint16(b[1:]))
	case c == codeExt32 && len(b) >= 6:
		h, size = 6, int(binary.BigEndian.Uint32(b[1:]))
	default:
		return 0, 0, 0, wrongType("time.Time", c)
	}
	if len(b) != h+size {
		return 0, 0, 0, sizeErr("time.Time", h+size, len(b))
	}
	return h, size, b[h-1], nil
}
