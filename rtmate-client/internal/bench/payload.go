package bench

import (
	"bytes"
	"strconv"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// A bench publication's data is {"t":<unix ns at send>,"s":<seq from 1>,"k":<source>,"p":"<padding>"},
// padded so that the data is Config.Size bytes. The keys are unique within a server
// envelope (whose own keys are code, message, event, data, channel, from, offset, id and
// traceId), so finding `"t":` needs no JSON parsing.

var (
	keyT    = []byte(`"t":`)
	keyS    = []byte(`"s":`)
	keyK    = []byte(`"k":`)
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

// appendData appends the publication's data, padded to size bytes when it is shorter.
func appendData(dst []byte, t int64, seq uint64, source int, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"s":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"k":`...)
	dst = strconv.AppendInt(dst, int64(source), 10)
	dst = append(dst, `,"p":"`...)
	pad := size - (len(dst) - start) - 2 // the closing `"}`
	for range max(pad, 0) {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
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
const benchHead = `","data":{"t":`

// parsePush classifies one server text message, reading only the fields the tool needs.
// It never allocates and never panics, whatever the bytes.
func parsePush(p []byte) frameInfo {
	if fi, ok := parseFast(p); ok {
		return fi
	}
	return parseSlow(p)
}

// parseFast reads a push laid out exactly as this server writes it, with no searching;
// ok is false for anything else (parseSlow then decides).
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
	rest = rest[len(benchHead):]
	t, n := scanInt(rest)
	if n == 0 || !bytes.HasPrefix(rest[n:], []byte(`,"s":`)) {
		return frameInfo{}, false
	}
	rest = rest[n+len(`,"s":`):]
	s, n := scanInt(rest)
	if n == 0 || !bytes.HasPrefix(rest[n:], []byte(`,"k":`)) {
		return frameInfo{}, false
	}
	rest = rest[n+len(`,"k":`):]
	k, n := scanInt(rest)
	if n == 0 || s <= 0 || k < 0 || k > int64(^uint(0)>>1) {
		return frameInfo{}, false
	}
	return frameInfo{Kind: kindPush, T: t, Seq: uint64(s), Source: int(k)}, true
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
	if i := bytes.Index(p, keyT); i >= 0 {
		rest := p[i+len(keyT):]
		t, ok1 := leadingInt(rest)
		j := bytes.Index(rest, keyS)
		if j < 0 {
			return frameInfo{}
		}
		rest = rest[j+len(keyS):]
		s, ok2 := leadingInt(rest)
		j = bytes.Index(rest, keyK)
		if j < 0 {
			return frameInfo{}
		}
		k, ok3 := leadingInt(rest[j+len(keyK):])
		if !ok1 || !ok2 || !ok3 || s <= 0 || k < 0 || k > int64(^uint(0)>>1) {
			return frameInfo{}
		}
		return frameInfo{Kind: kindPush, T: t, Seq: uint64(s), Source: int(k)}
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
