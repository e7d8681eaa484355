package wsframe

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// AppendClientFrame appends to dst one final frame of kind op carrying payload, masked with
// a fresh random key as RFC 6455 requires of clients. payload is not modified.
func AppendClientFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	mask := ws.NewMask()
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// AppendClientClose appends a masked close frame with code and reason (cut to fit).
func AppendClientClose(dst []byte, code ws.StatusCode, reason string) []byte {
	return AppendClientFrame(dst, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}
