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
//
// A frame that arrives whole in one Feed is handled in place, without a copy. Otherwise only
// a header or a control frame (at most 139 bytes) is carried over in pending, while a data
// frame's payload is unmasked straight into the message buffer as it arrives: so the reader
// never holds more than MaxMessage plus one control frame, and invalid UTF-8 fails the
// connection as soon as it arrives, not when its frame ends.
type Reader struct {
	// MaxMessage is the largest message, in bytes, across all its fragments.
	MaxMessage int

	pending []byte // an incomplete header or control frame carried over; nil when none
	msg     []byte // the data message being assembled; nil when none
	msgOp   ws.OpCode
	checked int  // bytes of msg already known to be valid UTF-8
	frag    bool // a fragmented message is open: the next data frame must continue it

	// The data frame whose payload is arriving (left > 0).
	left int     // payload bytes still to come
	off  int     // payload bytes already unmasked: the mask's phase
	mask [4]byte // its mask
	fin  bool    // whether it ends its message
}

// Reset drops any partial state (after a failure, or to reuse the Reader).
func (r *Reader) Reset() {
	limit := r.MaxMessage
	*r = Reader{MaxMessage: limit}
}

// Buffered reports how many bytes the reader holds between calls (for memory accounting):
// at most MaxMessage plus one control frame with its header.
func (r *Reader) Buffered() int { return cap(r.pending) + cap(r.msg) }

// Feed consumes p, which the caller may overwrite once Feed returns (payloads are unmasked in
// place). A returned *CloseError says how to fail the connection; any other error came from
// the Handler and is returned unchanged.
func (r *Reader) Feed(p []byte, h Handler) error {
	for {
		switch {
		case r.left > 0:
			n := min(len(p), r.left)
			if err := r.stream(p[:n], h); err != nil {
				return err
			}
			p = p[n:]
			if r.left > 0 {
				return nil // p is used up
			}
			continue
		case len(r.pending) > 0:
			var done bool
			var err error
			if p, done, err = r.fill(p, h); !done || err != nil {
				return err
			}
			continue
		case len(p) == 0:
			return nil
		}
		hd, hlen, ok := parseHeader(p)
		if !ok {
			r.pending = append(make([]byte, 0, maxHeader), p...)
			return nil
		}
		if err := r.check(hd); err != nil {
			return err
		}
		need := hlen + int(hd.Length)
		if len(p) >= need { // the common case: the whole frame is here
			if err := r.frame(hd, p[hlen:need], h); err != nil {
				return err
			}
			p = p[need:]
			continue
		}
		if hd.OpCode.IsControl() {
			r.pending = append(make([]byte, 0, need), p...)
			return nil
		}
		r.begin(hd)
		p = p[hlen:]
	}
}

// fill completes the carried header or control frame from p. done is false while it is still
// incomplete (p is then used up); otherwise rest is what p holds after it.
func (r *Reader) fill(p []byte, h Handler) (rest []byte, done bool, err error) {
	// Complete the header first, taking exactly its bytes: nothing of the payload or of the
	// next frame may end up in pending. pending always has room for a whole header.
	for hl := headerSize(r.pending); len(r.pending) < hl; hl = headerSize(r.pending) {
		if len(p) == 0 {
			return nil, false, nil
		}
		take := min(len(p), hl-len(r.pending))
		r.pending = append(r.pending, p[:take]...)
		p = p[take:]
	}
	hd, hlen, _ := parseHeader(r.pending)
	if err := r.check(hd); err != nil {
		return nil, false, err
	}
	if !hd.OpCode.IsControl() && hd.Length > 0 {
		r.pending = nil
		r.begin(hd)
		return p, true, nil
	}
	need := hlen + int(hd.Length)
	if cap(r.pending) < need {
		// Grow once to the frame's exact size (a control frame: at most 139 bytes).
		grown := make([]byte, len(r.pending), need)
		copy(grown, r.pending)
		r.pending = grown
	}
	take := min(len(p), need-len(r.pending))
	r.pending = append(r.pending, p[:take]...)
	p = p[take:]
	if len(r.pending) < need {
		return nil, false, nil
	}
	frame := r.pending
	r.pending = nil
	return p, true, r.frame(hd, frame[hlen:], h)
}

// headerSize is the size of the header that starts with b, as far as b tells: 2 until the
// length byte is known.
func headerSize(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// check fails a header that breaks the protocol, or that announces a message over the limit:
// an oversize message is refused before any of its payload is read.
func (r *Reader) check(hd ws.Header) error {
	state := ws.StateServerSide
	if r.frag {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(hd, state); err != nil {
		return protocolError(err)
	}
	if hd.Length > int64(r.MaxMessage) || !hd.OpCode.IsControl() && int64(len(r.msg))+hd.Length > int64(r.MaxMessage) {
		return ErrTooBig
	}
	return nil
}

// frame handles one complete frame whose header is checked; payload is still masked.
func (r *Reader) frame(hd ws.Header, payload []byte, h Handler) error {
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
		r.open(hd.OpCode, len(payload))
	}
	r.msg = r.appendMsg(payload)
	if err := r.checkText(); err != nil {
		return err
	}
	return r.end(hd.Fin, h)
}

// begin starts a data frame whose payload has not all arrived: it will be unmasked into msg.
func (r *Reader) begin(hd ws.Header) {
	if hd.OpCode != ws.OpContinuation {
		// The whole message when it is one frame, its first fragment otherwise.
		r.open(hd.OpCode, int(hd.Length))
	}
	r.left, r.off, r.mask, r.fin = int(hd.Length), 0, hd.Mask, hd.Fin
}

// open starts assembling a message.
func (r *Reader) open(op ws.OpCode, size int) {
	r.msgOp, r.checked = op, 0
	r.msg = make([]byte, 0, size)
}

// stream takes the next bytes of the arriving data frame's payload.
func (r *Reader) stream(chunk []byte, h Handler) error {
	ws.Cipher(chunk, r.mask, r.off)
	r.off += len(chunk)
	r.left -= len(chunk)
	r.msg = r.appendMsg(chunk)
	if err := r.checkText(); err != nil {
		return err
	}
	if r.left > 0 {
		return nil
	}
	return r.end(r.fin, h)
}

// checkText fails fast on invalid UTF-8 in a text message; only a rune cut off at the end of
// what has arrived waits for more.
func (r *Reader) checkText() error {
	if r.msgOp != ws.OpText {
		return nil
	}
	n, ok := validPrefix(r.msg[r.checked:])
	if !ok {
		return ErrInvalidUTF8
	}
	r.checked += n
	return nil
}

// end closes a data frame of the message being assembled, delivering it after its last.
func (r *Reader) end(fin bool, h Handler) error {
	if !fin {
		r.frag = true
		return nil
	}
	msg, op, checked := r.msg, r.msgOp, r.checked
	r.msg, r.frag, r.checked = nil, false, 0
	if op == ws.OpText && checked != len(msg) { // a rune cut off by the end of the message
		return ErrInvalidUTF8
	}
	return h.OnMessage(op, msg)
}

// appendMsg appends payload bytes to the message. check has made sure that the result fits
// MaxMessage; growth is capped there too, so that Buffered stays within it.
func (r *Reader) appendMsg(p []byte) []byte {
	n := len(r.msg) + len(p)
	if n > cap(r.msg) {
		size := min(max(2*cap(r.msg), n), max(r.MaxMessage, n))
		grown := make([]byte, len(r.msg), size)
		copy(grown, r.msg)
		r.msg = grown
	}
	return append(r.msg, p...)
}

// validPrefix returns the length of b's longest prefix of whole valid runes, and false when
// b holds an invalid sequence that is not merely a rune cut off at the end.
func validPrefix(b []byte) (int, bool) {
	if utf8.Valid(b) { // the common case, on utf8's word-at-a-time ASCII path
		return len(b), true
	}
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
	if !validCloseCode(binary.BigEndian.Uint16(p)) {
		return protocolError(errCloseCode)
	}
	if !utf8.Valid(p[2:]) {
		return ErrInvalidUTF8
	}
	return nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 §7.4 and the IANA registry):
// the defined codes 1000–1014 except the reserved 1004–1006, and the application and private
// ranges 3000–4999. ws.CheckCloseFrameData is not used because it lets codes of 5000 and above
// through and refuses the registered 1012–1014.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1014:
		return code < 1004 || code > 1006
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
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
