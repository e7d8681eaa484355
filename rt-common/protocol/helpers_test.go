package protocol_test

import "unsafe"

// within reports whether inner lies inside outer's memory, i.e. is a sub-slice of it and not a
// copy. An empty inner counts as within.
func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	return p >= lo && p+uintptr(len(inner)) <= lo+uintptr(len(outer))
}

// depth is the maximum nesting of arrays and objects in b, counting brackets outside strings.
// It is only meaningful for inputs that are otherwise well-formed enough to matter.
func depth(b []byte) int {
	d, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			d++
			if d > max {
				max = d
			}
		case c == ']' || c == '}':
			d--
		}
	}
	return max
}
