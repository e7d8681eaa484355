package bench

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// A bench publication's data is {"b":"<stamp>","p":"<padding>"}, padded so that the data is
// Config.Size bytes. The stamp is three zero-padded decimal fields of fixed width: the send
// time in unix ns (stampT digits), the sequence number from 1 (stampS) and the source
// (stampK). Fixed widths put every digit at a known offset, so the receiver converts eight
// at a time without looking for where a number ends: at ~1.8M deliveries/s, scanning
// variable-length numbers a digit at a time was an eighth of the tool's CPU. Strings
// rather than numbers because JSON numbers cannot carry leading zeros. The key is unique
// within a server envelope (whose own keys are code, message, event, data, channel, from,
// offset, id and traceId), so finding `"b":"` needs no JSON parsing.
const (
	stampT      = 19 // any non-negative int64
	stampS      = 16
	stampK      = 8
	stampDigits = stampT + stampS + stampK
)

var (
	keyB    = []byte(`"b":"`)
	keyCode = []byte(`"code":`)
	keyID   = []byte(`"id":`)
)

// appendPublish appends a messageSend request with the given id.
func appendPublish(dst []byte, channel string, id uint64, t int64, seq uint64, source int, size int) []byte {
	dst = append(dst, `{"event":"messageSend","id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"payload":{"channel":`...)
	dst = protocol.AppendString(dst, channel)
	dst = append(dst, `,"data":`...)
	dst = appendData(dst, t, seq, source, size)
	return append(dst, "}}"...)
}

// appendData appends the publication's data, padded to size bytes when it is shorter. A
// value too wide for its field (a negative one included) is written in full, which makes
// the stamp unreadable: receivers count such a publication as other, never as a wrong one.
func appendData(dst []byte, t int64, seq uint64, source int, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"b":"`...)
	dst = appendFixed(dst, uint64(t), stampT)
	dst = appendFixed(dst, seq, stampS)
	dst = appendFixed(dst, uint64(source), stampK)
	dst = append(dst, `","p":"`...)
	pad := size - (len(dst) - start) - 2 // the closing `"}`
	for range max(pad, 0) {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// appendFixed appends v in decimal, zero-padded to width digits.
func appendFixed(dst []byte, v uint64, width int) []byte {
	var b [20]byte
	digits := strconv.AppendUint(b[:0], v, 10)
	for range width - len(digits) {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// frameKind classifies a server message for the tool.
type frameKind uint8

const (
	kindOther    frameKind = iota // join/leave pushes, foreign messages, anything unparsable
	kindPush                      // a bench publication: T, Seq and Source are set
	kindResponse                  // a response to a request: Code and ID are set
)

// frameInfo is what the tool reads from one server message.
type frameInfo struct {
	Kind   frameKind
	T      int64
	Seq    uint64
	Source int
	Code   int
	ID     uint64
}

// pushHead is how the server starts every message push (rt-common's AppendMessagePush);
// the channel name follows, and it holds no quote or backslash (protocol.ValidChannel).
const pushHead = `{"code":200,"message":"success","event":"message","data":{"channel":"`

// benchHead follows the channel name when the publication is the tool's own.
const benchHead = `","data":{"b":"`

// parsePush classifies one server text message, reading only the fields the tool needs.
// It never allocates and never panics, whatever the bytes.
func parsePush(p []byte) frameInfo {
	if fi, ok := parseFast(p); ok {
		return fi
	}
	return parseSlow(p)
}

// parseFast reads a push laid out exactly as this server writes it, with no searching
// beyond the end of the channel name; ok is false for anything else (parseSlow then decides).
func parseFast(p []byte) (frameInfo, bool) {
	if len(p) < len(pushHead) || string(p[:len(pushHead)]) != pushHead {
		return frameInfo{}, false
	}
	rest := p[len(pushHead):]
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return frameInfo{}, false
	}
	rest = rest[q:]
	if len(rest) < len(benchHead) || string(rest[:len(benchHead)]) != benchHead {
		return frameInfo{}, false
	}
	st, ok := parseStamp(rest[len(benchHead):])
	return st.info(), ok
}

// stamp is what a bench publication's stamp holds. Small enough to travel in registers,
// unlike frameInfo, on the path every delivery takes (parseOwn).
type stamp struct {
	t      int64
	seq    uint64
	source int
}

// info is the push's frameInfo; the zero stamp (unreadable) is kindOther.
func (st stamp) info() frameInfo {
	if st.seq == 0 {
		return frameInfo{}
	}
	return frameInfo{Kind: kindPush, T: st.t, Seq: st.seq, Source: st.source}
}

// parseStamp reads a stamp (see appendData) and its closing quote at the start of b.
func parseStamp(b []byte) (stamp, bool) {
	if len(b) <= stampDigits || b[stampDigits] != '"' {
		return stamp{}, false
	}
	// Six little-endian words of eight digits; the time's 19 are read as 8, 8 and an 8
	// that overlaps the second by five, of which only the last three count.
	le := binary.LittleEndian
	t1, t2, t3 := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[stampT-8:])
	s1, s2, k := le.Uint64(b[stampT:]), le.Uint64(b[stampT+8:]), le.Uint64(b[stampT+stampS:])
	if notDigits(t1)|notDigits(t2)|notDigits(t3)|notDigits(s1)|notDigits(s2)|notDigits(k) != 0 {
		return stamp{}, false
	}
	t := digits8(t1)*1e11 + digits8(t2)*1e3 + digits8(t3)%1e3 // below 10^19: no overflow
	seq := digits8(s1)*1e8 + digits8(s2)
	if t > math.MaxInt64 || seq == 0 {
		return stamp{}, false
	}
	return stamp{int64(t), seq, int(digits8(k))}, true
}

// SWAR constants: a byte's worth in every byte of a word.
const (
	ones        = 0x0101010101010101
	highNibbles = 0xf0 * ones
	zeros       = '0' * ones
)

// notDigits is zero when each of the eight bytes of x is an ASCII digit, 0x30–0x39: high
// nibble 3, and still 3 after adding 6 (0x3a–0x3f carry into 4; no byte exceeds 0x3f+6,
// so nothing carries into its neighbour). One test for six words instead of a branch each.
func notDigits(x uint64) uint64 {
	return (x&highNibbles ^ zeros) | ((x+6*ones)&highNibbles ^ zeros)
}

// digits8 converts eight ASCII digits (notDigits(x) == 0), read little-endian so that the
// first digit sits in the lowest byte, in three multiplications: pairs, quads, halves.
func digits8(x uint64) uint64 {
	x &= 0x0f * ones
	x = ((x * (10<<8 + 1)) >> 8) & 0x00ff00ff00ff00ff
	x = ((x * (100<<16 + 1)) >> 16) & 0x0000ffff0000ffff
	return (x * (10000<<32 + 1)) >> 32
}

// scanInt parses the optionally signed decimal integer at the start of b and returns the
// bytes consumed (0: none, or an overflow).
func scanInt(b []byte) (int64, int) {
	i := 0
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64
	// 19 digits always fit in a uint64, so no overflow test is needed in the loop (a
	// division per digit showed up in profiles).
	for i < len(b) && i-start < 19 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	if i == start || (i < len(b) && b[i] >= '0' && b[i] <= '9') || n > 1<<63-1 {
		return 0, 0
	}
	if neg {
		return -int64(n), i
	}
	return int64(n), i
}

// parseSlow finds the fields anywhere in the message.
func parseSlow(p []byte) frameInfo {
	if i := bytes.Index(p, keyB); i >= 0 {
		st, _ := parseStamp(p[i+len(keyB):])
		return st.info()
	}
	i := bytes.Index(p, keyID)
	if i < 0 {
		return frameInfo{}
	}
	id, ok := leadingInt(p[i+len(keyID):])
	if !ok || id < 0 {
		return frameInfo{}
	}
	i = bytes.Index(p, keyCode)
	if i < 0 {
		return frameInfo{}
	}
	code, ok := leadingInt(p[i+len(keyCode):])
	if !ok {
		return frameInfo{}
	}
	return frameInfo{Kind: kindResponse, Code: int(code), ID: uint64(id)}
}

// leadingInt is scanInt after optional spaces; ok is false when there is no integer.
func leadingInt(b []byte) (int64, bool) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	v, n := scanInt(b[i:])
	return v, n > 0
}

// pushHeadFor is how a push on channel ch starts, up to the stamp, when it is the tool's own.
func pushHeadFor(ch string) string { return pushHead + ch + benchHead }

// parseOwn is parseFast for a connection that knows its channel: one comparison with
// head (pushHeadFor) instead of a search for the end of the channel name.
func parseOwn(p []byte, head string) (stamp, bool) {
	if len(p) < len(head) || string(p[:len(head)]) != head {
		return stamp{}, false
	}
	return parseStamp(p[len(head):])
}
