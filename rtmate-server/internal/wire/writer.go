package wire

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// HeaderReserve is the room to leave in front of a payload that FrameInPlace will frame:
// the largest unmasked server header.
const HeaderReserve = 10

// FrameInPlace writes a final, unmasked header for op in front of buf[HeaderReserve:] and
// returns the whole frame as a sub-slice of buf. Encoding the payload after a reserve and
// framing it in place saves one copy per push.
func FrameInPlace(buf []byte, op ws.OpCode) []byte {
	n := len(buf) - HeaderReserve
	start := HeaderReserve - headerLen(n)
	putHeader(buf[start:], op, n)
	return buf[start:]
}

// AppendFrame appends one final, unmasked frame carrying payload.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	var h [HeaderReserve]byte
	hl := headerLen(len(payload))
	putHeader(h[:hl], op, len(payload))
	dst = append(dst, h[:hl]...)
	return append(dst, payload...)
}

func headerLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

func putHeader(b []byte, op ws.OpCode, n int) {
	b[0] = 0x80 | byte(op)
	switch {
	case n <= 125:
		b[1] = byte(n)
	case n <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
}

// CloseFrame returns a close frame with code and reason (reason is cut to fit the 125-byte
// control payload limit, on a rune boundary: a peer fails a close reason of invalid UTF-8).
func CloseFrame(code ws.StatusCode, reason string) []byte {
	if len(reason) > 123 {
		cut := 123
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	return AppendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}
