package wire

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Handler receives what a Reader decodes. The payload slices are valid only during the call.
type Handler interface {
	// OnMessage gets one complete data message (text messages are valid UTF-8).
	OnMessage(op ws.OpCode, payload []byte) error
	// OnControl gets a ping, pong or close frame (close payloads are checked already).
	OnControl(op ws.OpCode, payload []byte) error
}

// CloseError is a protocol failure with the close code the connection must be failed with.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string { return e.Reason }

// Failures, each with the RFC 6455 close code it maps to.
var (
	ErrTooBig      = &CloseError{Code: ws.StatusMessageTooBig, Reason: "message too big"}
	ErrInvalidUTF8 = &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid utf-8"}
)

func protocolError(err error) *CloseError {
	return &CloseError{Code: ws.StatusProtocolError, Reason: err.Error()}
}

// maxHeader is the largest client frame header: 2 + 8 (length) + 4 (mask).
const maxHeader = 14

// Reader reassembles client frames into messages. Its zero value is not usable: set
// MaxMessage. Not safe for concurrent use; the event loop gives each connection one reader at
// a time. An idle Reader holds no buffer.
type Reader struct {
	// MaxMessage is the largest message, in bytes, across all its fragments.
	MaxMessage int

	pending []byte // an incomplete frame carried over to the next Feed; nil when none
	msg     []byte // fragments of the message being assembled; nil when none
	msgOp   ws.OpCode
	checked int // bytes of msg already known to be valid UTF-8
	frag    bool
}

// Reset drops any partial state (after a failure, or to reuse the Reader).
func (r *Reader) Reset() {
	r.pending, r.msg, r.checked, r.frag = nil, nil, 0, false
}

// Buffered reports how many bytes the reader holds between calls (for memory accounting).
func (r *Reader) Buffered() int { return cap(r.pending) + cap(r.msg) }

// Feed consumes p, which the caller may overwrite once Feed returns (payloads are unmasked in
// place). A returned *CloseError says how to fail the connection; any other error came from
// the Handler and is returned unchanged.
func (r *Reader) Feed(p []byte, h Handler) error {
	if len(r.pending) > 0 {
		// Complete the carried frame first, copying only the bytes it still needs.
		need, err := r.frameSize(r.pending)
		if err != nil {
			return err
		}
		if need < 0 { // the header itself is still incomplete
			take := min(len(p), maxHeader-len(r.pending))
			r.pending = append(r.pending, p[:take]...)
			p = p[take:]
			if need, err = r.frameSize(r.pending); err != nil {
				return err
			}
			if need < 0 {
				return nil
			}
		}
		if len(r.pending) > need { // header bytes taken past the frame's end go back
			p = r.unread(p, len(r.pending)-need)
			r.pending = r.pending[:need]
		}
		take := min(len(p), need-len(r.pending))
		r.pending = append(r.pending, p[:take]...)
		p = p[take:]
		if len(r.pending) < need {
			return nil
		}
		frame := r.pending
		r.pending = nil
		if err := r.frame(frame, h); err != nil {
			return err
		}
	}
	for len(p) > 0 {
		need, err := r.frameSize(p)
		if err != nil {
			return err
		}
		if need < 0 || len(p) < need {
			// Keep the partial frame; allocate its whole size once, never more than the limit allows.
			size := need
			if size < 0 {
				size = maxHeader
			}
			r.pending = append(make([]byte, 0, size), p...)
			return nil
		}
		if err := r.frame(p[:need], h); err != nil {
			return err
		}
		p = p[need:]
	}
	return nil
}

// unread returns the n bytes at the end of pending to the front of p. Only header lookahead
// is ever returned, so n < maxHeader and the copy is tiny.
func (r *Reader) unread(p []byte, n int) []byte {
	back := make([]byte, 0, n+len(p))
	back = append(back, r.pending[len(r.pending)-n:]...)
	return append(back, p...)
}

// frameSize parses the header at b and returns the whole frame's size, -1 when the header is
// incomplete, or the failure the header already proves (oversize, protocol violation).
func (r *Reader) frameSize(b []byte) (int, error) {
	h, hlen, ok := parseHeader(b)
	if !ok {
		return -1, nil
	}
	state := ws.StateServerSide
	if r.frag {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return 0, protocolError(err)
	}
	if h.Length > int64(r.MaxMessage) || (h.OpCode.IsData() || h.OpCode == ws.OpContinuation) && int64(len(r.msg))+h.Length > int64(r.MaxMessage) {
		return 0, ErrTooBig
	}
	return hlen + int(h.Length), nil
}

// frame handles one complete frame.
func (r *Reader) frame(b []byte, h Handler) error {
	hd, hlen, _ := parseHeader(b)
	payload := b[hlen:]
	ws.Cipher(payload, hd.Mask, 0)

	if hd.OpCode.IsControl() {
		if hd.OpCode == ws.OpClose {
			if err := checkClose(payload); err != nil {
				return err
			}
		}
		return h.OnControl(hd.OpCode, payload)
	}

	if hd.OpCode != ws.OpContinuation && hd.Fin { // the common case: a whole message in one frame
		if hd.OpCode == ws.OpText && !utf8.Valid(payload) {
			return ErrInvalidUTF8
		}
		return h.OnMessage(hd.OpCode, payload)
	}

	if hd.OpCode != ws.OpContinuation {
		r.frag, r.msgOp, r.checked = true, hd.OpCode, 0
		r.msg = make([]byte, 0, len(payload))
	}
	r.msg = append(r.msg, payload...)
	if r.msgOp == ws.OpText {
		// Fail fast on invalid UTF-8 in any fragment; only a rune split across fragments waits.
		n, ok := validPrefix(r.msg[r.checked:])
		if !ok {
			return ErrInvalidUTF8
		}
		r.checked += n
	}
	if !hd.Fin {
		return nil
	}
	msg, op := r.msg, r.msgOp
	r.msg, r.frag, r.checked = nil, false, 0
	if op == ws.OpText && !utf8.Valid(msg) {
		return ErrInvalidUTF8
	}
	return h.OnMessage(op, msg)
}

// validPrefix returns the length of b's longest prefix of whole valid runes, and false when
// b holds an invalid sequence that is not merely a rune cut off at the end.
func validPrefix(b []byte) (int, bool) {
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(b[i:]) && len(b)-i < utf8.UTFMax {
				return i, true
			}
			return i, false
		}
		i += size
	}
	return i, true
}

var (
	errCloseLen  = errors.New("close frame payload of one byte")
	errCloseCode = errors.New("close frame with an invalid status code")
)

func checkClose(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return protocolError(errCloseLen)
	}
	code := ws.StatusCode(binary.BigEndian.Uint16(p))
	reason := p[2:]
	if err := ws.CheckCloseFrameData(code, ""); err != nil {
		return protocolError(errCloseCode)
	}
	if !utf8.Valid(reason) {
		return ErrInvalidUTF8
	}
	return nil
}

// parseHeader decodes a client frame header from b without allocating (ws.ReadHeader reads
// from an io.Reader and allocates per call, which the event loop cannot afford).
func parseHeader(b []byte) (h ws.Header, n int, ok bool) {
	if len(b) < 2 {
		return h, 0, false
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, false
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, false
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u > 1<<62 { // the RFC reserves the top bit; anything near it is oversize anyway
			u = 1 << 62
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, false
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, true
}
