package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// MaxTokenLen bounds a token in bytes, so that a hostile client cannot make the server
// base64-decode megabytes; a token with a few hundred channel patterns still fits.
const MaxTokenLen = 16 << 10

// maxNumericDate is 9999-12-31T23:59:59Z. Bounding exp/nbf/iat keeps time arithmetic far from
// int64 overflow, where a huge exp could wrap around into the past or the future.
const maxNumericDate = 253402300799

// b64 is the JWS encoding: base64url without padding, rejecting non-zero trailing bits so that
// each token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// splitToken cuts a compact JWS into its three parts without copying.
func splitToken(tok []byte) (hdr, payload, sig []byte, ok bool) {
	i := bytes.IndexByte(tok, '.')
	if i < 0 {
		return nil, nil, nil, false
	}
	j := bytes.IndexByte(tok[i+1:], '.')
	if j < 0 {
		return nil, nil, nil, false
	}
	j += i + 1
	if bytes.IndexByte(tok[j+1:], '.') >= 0 {
		return nil, nil, nil, false
	}
	return tok[:i], tok[i+1 : j], tok[j+1:], true
}

// decodeInto base64url-decodes src into scratch when it fits, else into a new buffer.
func decodeInto(scratch []byte, src []byte) ([]byte, error) {
	dst := scratch
	if n := b64.DecodedLen(len(src)); n > len(dst) {
		dst = make([]byte, n)
	}
	n, err := b64.Decode(dst, src)
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

var (
	errHdrNotObject = errors.New("header is not a JSON object")
	errHdrNoAlg     = errors.New(`header has no "alg"`)
	errHdrAlgType   = errors.New(`header "alg" is not a string`)
	errHdrKidType   = errors.New(`header "kid" is not a string`)
	errHdrDup       = errors.New("header repeats a parameter")
	errHdrCrit      = errors.New(`header has "crit" or "b64": JWS extensions are not supported`)
)

// parseHeader reads the two header parameters that matter, alg and kid, as sub-slices of h.
// Everything else is ignored except crit/b64, which would change how the token must be
// verified and are therefore refused rather than silently misread.
func parseHeader(h []byte) (algName, kid []byte, err error) {
	m, err := newMembers(h)
	if err != nil {
		return nil, nil, errHdrNotObject
	}
	var haveAlg, haveKid bool
	for {
		name, v, ok, err := m.next()
		if err != nil {
			return nil, nil, errHdrNotObject
		}
		if !ok {
			break
		}
		switch string(name) {
		case "alg":
			if haveAlg {
				return nil, nil, errHdrDup
			}
			haveAlg = true
			if algName, err = stringValue(v); err != nil {
				return nil, nil, errHdrAlgType
			}
		case "kid":
			if haveKid {
				return nil, nil, errHdrDup
			}
			haveKid = true
			if kid, err = stringValue(v); err != nil {
				return nil, nil, errHdrKidType
			}
		case "crit", "b64":
			return nil, nil, errHdrCrit
		}
	}
	if !haveAlg {
		return nil, nil, errHdrNoAlg
	}
	return algName, kid, nil
}

var errNotObject = errors.New("not exactly one JSON object")

// members walks the members of a JSON object with rt-common's scanner, which validates each
// key and value as it goes, and checks at the end that nothing but white space follows the
// object: one pass over the bytes instead of a validation pass plus a walk.
type members struct {
	it  protocol.ObjectIter
	b   []byte
	end int // offset just past the last value returned (or the opening brace)
}

func newMembers(b []byte) (members, error) {
	i := skipWS(b, 0)
	it, err := protocol.NewObjectIter(b)
	if err != nil {
		return members{}, errNotObject
	}
	return members{it: it, b: b, end: i + 1}, nil
}

// next returns the next member's decoded name and raw value; ok is false at the end.
func (m *members) next() (name, val []byte, ok bool, err error) {
	k, v, ok, err := m.it.Next()
	if err != nil {
		return nil, nil, false, errNotObject
	}
	if !ok {
		i := skipWS(m.b, m.end)
		if i >= len(m.b) || m.b[i] != '}' || skipWS(m.b, i+1) != len(m.b) {
			return nil, nil, false, errNotObject
		}
		return nil, nil, false, nil
	}
	// v is a sub-slice of m.b, so its offset follows from the capacities.
	m.end = cap(m.b) - cap(v) + len(v)
	if name, err = stringValue(k); err != nil {
		return nil, nil, false, errNotObject
	}
	return name, v, true, nil
}

// stringValue decodes a JSON string the scanner has already validated: without escapes it
// aliases v (the common case, found with one IndexByte), with escapes it is decoded.
func stringValue(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' {
		return nil, errWantString
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	return protocol.StringValue(v)
}

var errWantString = errors.New("not a string")

// isNone reports whether name is "none" in any letter case; some libraries once compared it
// case-insensitively, so every spelling is treated as the unsigned-token attack it is.
func isNone(name []byte) bool { return len(name) == 4 && bytes.EqualFold(name, []byte("none")) }

func parseAlgBytes(b []byte) alg {
	switch string(b) {
	case "HS256":
		return algHS256
	case "RS256":
		return algRS256
	case "ES256":
		return algES256
	case "EdDSA":
		return algEdDSA
	}
	return algInvalid
}

// rawClaims is the verified payload: strings still as raw bytes of the decoded payload, so
// that app_id can be compared without allocating.
type rawClaims struct {
	appID               []byte
	sub                 []byte
	exp, iat, nbf       int64
	hasAppID, hasExp    bool
	hasSub, hasIat      bool
	hasNbf, hasChannels bool
	channels            []string
}

var (
	errClaimsNotObject = errors.New("payload is not a JSON object")
	errClaimDup        = errors.New("payload repeats a claim")
	errAppIDType       = errors.New(`"app_id" is not a string`)
	errSubType         = errors.New(`"sub" is not a string`)
	errChannelsType    = errors.New(`"channels" is not an array of strings`)
	errExpType         = errors.New(`"exp" is not a NumericDate (seconds between 0 and year 9999)`)
	errIatType         = errors.New(`"iat" is not a NumericDate (seconds between 0 and year 9999)`)
	errNbfType         = errors.New(`"nbf" is not a NumericDate (seconds between 0 and year 9999)`)
	errNoAppID         = errors.New(`missing "app_id"`)
	errNoExp           = errors.New(`missing "exp"`)
)

// parseClaims decodes the claims RTMate uses with exact, case-sensitive names (unlike
// encoding/json's case-insensitive matching, "APP_ID" is not app_id) and strict types;
// unknown claims are ignored and null counts as absent. The scanner allocates nothing; the
// strings it returns alias p.
func parseClaims(p []byte, c *rawClaims) error {
	m, err := newMembers(p)
	if err != nil {
		return errClaimsNotObject
	}
	for {
		name, v, ok, err := m.next()
		if err != nil {
			return errClaimsNotObject
		}
		if !ok {
			break
		}
		if string(v) == "null" {
			continue
		}
		switch string(name) {
		case "app_id":
			if c.hasAppID {
				return errClaimDup
			}
			c.hasAppID = true
			if c.appID, err = stringValue(v); err != nil {
				return errAppIDType
			}
		case "sub":
			if c.hasSub {
				return errClaimDup
			}
			c.hasSub = true
			if c.sub, err = stringValue(v); err != nil {
				return errSubType
			}
		case "exp":
			if c.hasExp {
				return errClaimDup
			}
			c.hasExp = true
			if c.exp, ok = numericDate(v); !ok {
				return errExpType
			}
		case "iat":
			if c.hasIat {
				return errClaimDup
			}
			c.hasIat = true
			if c.iat, ok = numericDate(v); !ok {
				return errIatType
			}
		case "nbf":
			if c.hasNbf {
				return errClaimDup
			}
			c.hasNbf = true
			if c.nbf, ok = numericDate(v); !ok {
				return errNbfType
			}
		case "channels":
			if c.hasChannels {
				return errClaimDup
			}
			c.hasChannels = true
			if string(v) == "null" { // the same as absent: every channel
				continue
			}
			if c.channels, err = stringArray(v); err != nil {
				return errChannelsType
			}
		}
	}
	if !c.hasAppID {
		return errNoAppID
	}
	if !c.hasExp {
		return errNoExp
	}
	return nil
}

// stringArray decodes a JSON array of strings (v has been validated by the scanner) into a
// non-nil slice, with two allocations whatever its length: the slice, and one string that all
// elements share.
func stringArray(v []byte) ([]string, error) {
	n, size := 0, 0
	for it := (arrayIter{b: v}); ; {
		s, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		n, size = n+1, size+len(s)
	}
	out := make([]string, 0, n)
	if size == 0 {
		for range n {
			out = append(out, "")
		}
		return out, nil
	}
	var all strings.Builder
	all.Grow(size)
	for it := (arrayIter{b: v}); ; {
		s, ok, _ := it.next()
		if !ok {
			break
		}
		all.Write(s)
	}
	joined, off := all.String(), 0
	for it := (arrayIter{b: v}); ; {
		s, ok, _ := it.next()
		if !ok {
			break
		}
		out = append(out, joined[off:off+len(s)])
		off += len(s)
	}
	return out, nil
}

// arrayIter walks the string elements of a valid JSON array.
type arrayIter struct {
	b []byte
	i int
}

var errNotStringArray = errors.New("not an array of strings")

func (it *arrayIter) next() (s []byte, ok bool, err error) {
	b, i := it.b, it.i
	if i == 0 {
		if len(b) == 0 || b[0] != '[' {
			return nil, false, errNotStringArray
		}
		i = skipWS(b, 1)
		if i < len(b) && b[i] == ']' {
			it.i = len(b)
			return nil, false, nil
		}
	} else {
		if i >= len(b) || b[i] == ']' {
			it.i = len(b)
			return nil, false, nil
		}
		if b[i] != ',' {
			return nil, false, errNotStringArray
		}
		i = skipWS(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, false, errNotStringArray
	}
	// The array was validated by the scanner, so the string ends at the first quote that
	// is not escaped.
	j := i + 1
	for j < len(b) && b[j] != '"' {
		if b[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(b) {
		return nil, false, errNotStringArray
	}
	if s, err = stringValue(b[i : j+1]); err != nil {
		return nil, false, errNotStringArray
	}
	it.i = skipWS(b, j+1)
	return s, true, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// numericDate reads a JWT NumericDate: seconds as a JSON number, fractions (allowed by
// RFC 7519) rounded down.
func numericDate(v []byte) (int64, bool) {
	if u, err := protocol.Uint64Value(v); err == nil {
		return int64(u), u <= maxNumericDate
	}
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, false
	}
	return int64(math.Floor(f)), true
}
