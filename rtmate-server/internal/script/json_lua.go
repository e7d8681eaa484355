package script

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// maxJSONDepth bounds nesting both ways between JSON and Lua: a hostile "[[[[…" or a
// self-referencing table cannot grow the Go stack without limit.
const maxJSONDepth = 64

var (
	errJSONSyntax = errors.New("invalid JSON")
	errJSONDepth  = fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
)

// luaJSON converts between JSON text and the Lua values of one state. JSON arrays become
// tables with arrayMT as metatable, so that an empty array encodes back as [] and not {};
// null becomes the state's null sentinel.
type luaJSON struct {
	L       *lua.LState
	arrayMT *lua.LTable
	null    *lua.LUserData
}

// decode turns one JSON value into a Lua value. The input comes from clients: anything
// malformed is an error, never a panic.
func (j *luaJSON) decode(b []byte) (lua.LValue, error) {
	d := jsonDecoder{j: j, b: b}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return lua.LNil, err
	}
	d.space()
	if d.i != len(d.b) {
		return lua.LNil, errJSONSyntax
	}
	return v, nil
}

type jsonDecoder struct {
	j *luaJSON
	b []byte
	i int
}

func (d *jsonDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (lua.LValue, error) {
	if d.i >= len(d.b) {
		return lua.LNil, errJSONSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		s, err := d.str()
		return lua.LString(s), err
	case c == 't':
		return lua.LTrue, d.literal("true")
	case c == 'f':
		return lua.LFalse, d.literal("false")
	case c == 'n':
		return d.j.null, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return lua.LNil, errJSONSyntax
}

func (d *jsonDecoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return errJSONSyntax
	}
	d.i += len(lit)
	return nil
}

func (d *jsonDecoder) number() (lua.LValue, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return lua.LNil, errJSONSyntax
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return lua.LNil, errJSONSyntax
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return lua.LNil, errJSONSyntax
		}
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		// Out of float64's range: JSON allows it, Lua cannot hold it.
		return lua.LNil, fmt.Errorf("number %s: %w", d.b[start:d.i], errJSONSyntax)
	}
	return lua.LNumber(f), nil
}

// str decodes a JSON string at d.i; strings without escapes are converted in one copy.
func (d *jsonDecoder) str() (string, error) {
	d.i++ // opening quote
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return "", errJSONSyntax
			}
			return string(s), nil
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", errJSONSyntax
		}
		d.i++
	}
	return "", errJSONSyntax
}

func (d *jsonDecoder) escaped(start int) (string, error) {
	buf := append([]byte(nil), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(buf) {
				return "", errJSONSyntax
			}
			return string(buf), nil
		case c < 0x20:
			return "", errJSONSyntax
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", errJSONSyntax
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", errJSONSyntax
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					d.i += 2
					lo, ok := d.hex4()
					if !ok {
						return "", errJSONSyntax
					}
					r2 = utf16.DecodeRune(r, lo)
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errJSONSyntax
		}
	}
	return "", errJSONSyntax
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	d.i += 4
	return r, true
}

func (d *jsonDecoder) object(depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return lua.LNil, errJSONDepth
	}
	d.i++
	t := d.j.L.CreateTable(0, 4)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return t, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return lua.LNil, errJSONSyntax
		}
		k, err := d.str()
		if err != nil {
			return lua.LNil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return lua.LNil, errJSONSyntax
		}
		d.i++
		d.space()
		v, err := d.value(depth)
		if err != nil {
			return lua.LNil, err
		}
		t.RawSetString(k, v)
		d.space()
		if d.i >= len(d.b) {
			return lua.LNil, errJSONSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return t, nil
		default:
			return lua.LNil, errJSONSyntax
		}
	}
}

func (d *jsonDecoder) array(depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return lua.LNil, errJSONDepth
	}
	d.i++
	t := d.j.L.CreateTable(4, 0)
	t.Metatable = d.j.arrayMT
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return t, nil
	}
	for n := 1; ; n++ {
		d.space()
		v, err := d.value(depth)
		if err != nil {
			return lua.LNil, err
		}
		t.RawSetInt(n, v)
		d.space()
		if d.i >= len(d.b) {
			return lua.LNil, errJSONSyntax
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return t, nil
		default:
			return lua.LNil, errJSONSyntax
		}
	}
}

// encode appends v as JSON to dst; the result may not exceed limit bytes. A table whose keys
// are exactly 1..n is an array; an empty table is {} unless it came from a JSON array.
func (j *luaJSON) encode(dst []byte, v lua.LValue, limit int) ([]byte, error) {
	e := jsonEncoder{j: j, limit: len(dst) + limit}
	out, err := e.value(dst, v, 0)
	if err == nil && len(out) > e.limit {
		err = errTooLarge(limit)
	}
	return out, err
}

func errTooLarge(limit int) error { return fmt.Errorf("data over %d bytes", limit) }

type jsonEncoder struct {
	j     *luaJSON
	limit int
}

func (e *jsonEncoder) value(dst []byte, v lua.LValue, depth int) ([]byte, error) {
	if len(dst) > e.limit {
		return dst, errTooLarge(e.limit)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return append(dst, "null"...), nil
	case lua.LBool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case lua.LNumber:
		return appendNumber(dst, float64(x))
	case lua.LString:
		return protocol.AppendString(dst, string(x)), nil
	case *lua.LUserData:
		if x == e.j.null {
			return append(dst, "null"...), nil
		}
	case *lua.LTable:
		if depth >= maxJSONDepth {
			return dst, errJSONDepth
		}
		return e.table(dst, x, depth+1)
	}
	return dst, fmt.Errorf("a %s cannot be JSON", v.Type())
}

func appendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, errors.New("NaN and infinity cannot be JSON")
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10), nil
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
}

func (e *jsonEncoder) table(dst []byte, t *lua.LTable, depth int) ([]byte, error) {
	n := t.MaxN()
	keys := 0
	t.ForEach(func(lua.LValue, lua.LValue) { keys++ })
	if keys == n && (n > 0 || t.Metatable == e.j.arrayMT) {
		dst = append(dst, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = e.value(dst, t.RawGetInt(i), depth); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	dst = append(dst, '{')
	first := true
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		switch key := k.(type) {
		case lua.LString:
			dst = protocol.AppendString(dst, string(key))
		case lua.LNumber:
			dst = append(dst, '"')
			dst, err = appendNumber(dst, float64(key))
			dst = append(dst, '"')
		default:
			err = fmt.Errorf("a %s key cannot be JSON", k.Type())
			return
		}
		dst = append(dst, ':')
		dst, err = e.value(dst, v, depth)
	})
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}
