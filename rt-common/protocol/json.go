package protocol

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// A small JSON scanner: the request decoder must not reflect or allocate on the hot path, and
// it must validate every byte it forwards, because a published `data` value is relayed to
// subscribers byte for byte. Values are returned as sub-slices of the input.

// maxDepth bounds nesting so a hostile "[[[[…" cannot grow the stack without limit.
const maxDepth = 512

var (
	errSyntax   = errors.New("json: syntax error")
	errTooDeep  = errors.New("json: nesting too deep")
	errNotObj   = errors.New("json: not an object")
	errWantStr  = errors.New("json: want a string")
	errWantNum  = errors.New("json: want a non-negative integer")
	errWantBool = errors.New("json: want a boolean")
)

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at b[i] (no leading space).
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return 0, errSyntax
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, errSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, errSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipString validates the string starting at b[i] == '"' and reports whether it has escapes.
// Bytes >= 0x80 must form valid UTF-8. This is stricter than encoding/json.Valid, which
// accepts any byte >= 0x20 in a string: a value we relay byte for byte ends up in a WebSocket
// text frame, and a frame with invalid UTF-8 makes a browser drop the connection (1007).
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, false, errSyntax
				}
				i += 6
			default:
				return 0, false, errSyntax
			}
		case c < 0x20:
			return 0, false, errSyntax
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, errSyntax
			}
			i += size
		}
	}
	return 0, false, errSyntax
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errTooDeep
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := skipValue(b, i, depth)
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

func skipObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errTooDeep
	}
	it := ObjectIter{b: b, i: i + 1, depth: depth}
	for {
		_, _, ok, err := it.Next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return it.i, nil
		}
	}
}

// ObjectIter walks the members of one JSON object without allocating. Keys are raw (still
// quoted, escapes intact: compare with KeyIs); values are raw JSON. Not safe for concurrent use.
type ObjectIter struct {
	b     []byte
	i     int
	depth int
	n     int
	done  bool
}

// NewObjectIter starts iterating the object raw, which may carry surrounding white space.
func NewObjectIter(raw []byte) (ObjectIter, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return ObjectIter{}, errNotObj
	}
	return ObjectIter{b: raw, i: i + 1, depth: 1}, nil
}

// Next returns the next member; ok is false after the closing brace.
func (it *ObjectIter) Next() (key, val []byte, ok bool, err error) {
	if it.done {
		return nil, nil, false, nil
	}
	i := skipSpace(it.b, it.i)
	if i >= len(it.b) {
		return nil, nil, false, errSyntax
	}
	if it.n == 0 {
		if it.b[i] == '}' {
			it.i, it.done = i+1, true
			return nil, nil, false, nil
		}
	} else {
		switch it.b[i] {
		case '}':
			it.i, it.done = i+1, true
			return nil, nil, false, nil
		case ',':
			i = skipSpace(it.b, i+1)
		default:
			return nil, nil, false, errSyntax
		}
	}
	if i >= len(it.b) || it.b[i] != '"' {
		return nil, nil, false, errSyntax
	}
	kEnd, _, err := skipString(it.b, i)
	if err != nil {
		return nil, nil, false, err
	}
	key = it.b[i:kEnd]
	i = skipSpace(it.b, kEnd)
	if i >= len(it.b) || it.b[i] != ':' {
		return nil, nil, false, errSyntax
	}
	i = skipSpace(it.b, i+1)
	vEnd, err := skipValue(it.b, i, it.depth)
	if err != nil {
		return nil, nil, false, err
	}
	it.i = vEnd
	it.n++
	return key, it.b[i:vEnd], true, nil
}

// KeyIs reports whether the raw quoted key equals name; escaped keys are decoded first (rare).
func KeyIs(rawKey []byte, name string) bool {
	if len(rawKey) == len(name)+2 && string(rawKey[1:len(rawKey)-1]) == name {
		return true
	}
	for _, c := range rawKey {
		if c == '\\' {
			var s string
			return json.Unmarshal(rawKey, &s) == nil && s == name
		}
	}
	return false
}

// StringValue decodes a raw JSON string. Without escapes it aliases raw; with escapes it
// allocates (rare for the fields RTMate reads).
func StringValue(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, errWantStr
	}
	end, escaped, err := skipString(raw, 0)
	if err != nil || end != len(raw) {
		return nil, errWantStr
	}
	if !escaped {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errWantStr
	}
	return []byte(s), nil
}

// Uint64Value decodes a raw non-negative JSON integer; a sign, a fraction, an exponent, a
// leading zero or a value above math.MaxUint64 is an error.
func Uint64Value(raw []byte) (uint64, error) {
	if len(raw) == 0 || len(raw) > 20 || (raw[0] == '0' && len(raw) > 1) {
		return 0, errWantNum
	}
	var n uint64
	for _, c := range raw {
		if !isDigit(c) {
			return 0, errWantNum
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, errWantNum
		}
		n = n*10 + d
	}
	return n, nil
}

// BoolValue decodes a raw JSON boolean.
func BoolValue(raw []byte) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errWantBool
}

// Valid reports whether raw is exactly one JSON value, surrounding white space allowed. It
// agrees with encoding/json.Valid except that strings must be valid UTF-8 and nesting deeper
// than 512 arrays/objects is refused.
func Valid(raw []byte) bool {
	i := skipSpace(raw, 0)
	end, err := skipValue(raw, i, 0)
	return err == nil && skipSpace(raw, end) == len(raw)
}

const hexDigits = "0123456789abcdef"

// safeByte marks ASCII bytes that need no escaping inside a JSON string.
var safeByte = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD and U+2028/U+2029 are
// escaped, so the output is safe to embed in JavaScript too.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

// AppendStringBytes is AppendString for a byte slice. It exists so that fields decoded as
// []byte (an escaped event name, a traceId) are encoded without a string conversion, which
// would allocate for values longer than 32 bytes.
func AppendStringBytes(dst, s []byte) []byte { return appendString(dst, s) }

func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeByte[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// At most UTFMax bytes are converted, so the conversion stays on the stack.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
