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

// parsePush classifies one server text message, reading only the fields the tool needs.
// It never allocates and never panics, whatever the bytes.
func parsePush(p []byte) frameInfo {
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

// leadingInt parses the optionally signed decimal integer at the start of b (after
// optional spaces); ok is false when there is none or it overflows int64.
func leadingInt(b []byte) (int64, bool) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := int64(b[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		i++
	}
	if i == start || i-start > 19 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
