// Package textfmt formats values as text output lines do: strings and
// bytes as they are, numbers as strconv does, anything else as fmt's %v.
// rdd's SaveAsTextFile and mapreduce's TextOutput share it, so the two
// APIs write the same text for the same records.
package textfmt

import (
	"fmt"
	"strconv"
)

// Append appends v's text to dst.
func Append(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(dst, x...)
	case []byte:
		return append(dst, x...)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	}
	return fmt.Append(dst, v)
}
