package wsframe

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// MinBufferSize is the smallest bufio.Reader size Reader accepts: any control frame
// (125 bytes of payload) must fit in it.
const MinBufferSize = 256

// Errors for frames a server must never send.
var (
	ErrMasked          = errors.New("wsframe: server frame is masked")
	ErrRsv             = errors.New("wsframe: reserved bits set without a negotiated extension")
	ErrOpCode          = errors.New("wsframe: reserved opcode")
	ErrControl         = errors.New("wsframe: fragmented or oversized control frame")
	ErrContinuation    = errors.New("wsframe: continuation frame without a message to continue")
	ErrInterleaved     = errors.New("wsframe: new data frame inside a fragmented message")
	ErrMessageTooLarge = errors.New("wsframe: message larger than the limit")
)

// largeScratch is the reassembly buffer capacity above which the buffer is dropped after
// use instead of kept, so that one huge message does not pin memory for the connection's life.
const largeScratch = 1 << 20

// Reader reads the frames a server sends: unmasked, without extensions. Not safe for
// concurrent use; one goroutine reads a connection.
type Reader struct {
	br      *bufio.Reader
	maxSize int64
	skip    int       // bytes of the last payload still in br (it was peeked, not read)
	fragOp  ws.OpCode // opcode of the fragmented message being joined; 0 when none
	msg     []byte    // joined fragments, or a message larger than br's buffer
	hdr     [ws.MaxHeaderSize]byte
}

// NewReader reads frames from br, whose size must be at least MinBufferSize. maxSize bounds
// one message (all fragments together); 0 means no bound.
func NewReader(br *bufio.Reader, maxSize int64) (*Reader, error) {
	if br.Size() < MinBufferSize {
		return nil, fmt.Errorf("wsframe: bufio.Reader of %d bytes, need at least %d", br.Size(), MinBufferSize)
	}
	return &Reader{br: br, maxSize: maxSize}, nil
}

// Next returns the next complete data message (text or binary, fragments joined) or the
// next control frame (ping, pong, close; possibly between the fragments of a message).
// The payload is valid only until the following call. At a clean end of stream between
// frames the error is io.EOF; inside a frame it is io.ErrUnexpectedEOF.
func (r *Reader) Next() (ws.OpCode, []byte, error) {
	if r.skip > 0 {
		// The bytes were peeked, so Discard cannot fail.
		_, _ = r.br.Discard(r.skip)
		r.skip = 0
	}
	if r.fragOp == 0 && cap(r.msg) > largeScratch {
		r.msg = nil
	}
	for {
		h, err := ws.ReadHeaderBuffer(r.br, r.hdr[:])
		if err != nil {
			return 0, nil, err
		}
		if err := r.check(h); err != nil {
			return 0, nil, err
		}
		n := int(h.Length)
		switch {
		case h.OpCode.IsControl():
			p, err := r.peek(n)
			return h.OpCode, p, err
		case h.OpCode == ws.OpContinuation:
			if r.fragOp == 0 {
				return 0, nil, ErrContinuation
			}
		case r.fragOp != 0:
			return 0, nil, ErrInterleaved
		case h.Fin && n <= r.br.Size():
			p, err := r.peek(n)
			return h.OpCode, p, err
		default:
			r.fragOp = h.OpCode
			r.msg = r.msg[:0]
		}
		if err := r.appendPayload(n); err != nil {
			return 0, nil, err
		}
		if h.Fin {
			op := r.fragOp
			r.fragOp = 0
			return op, r.msg, nil
		}
	}
}

func (r *Reader) check(h ws.Header) error {
	switch {
	case h.Masked:
		return ErrMasked
	case h.Rsv != 0:
		return ErrRsv
	case h.OpCode.IsReserved():
		return ErrOpCode
	case h.OpCode.IsControl() && (!h.Fin || h.Length > ws.MaxControlFramePayloadSize):
		return ErrControl
	case h.OpCode.IsControl():
		return nil
	}
	var have int64
	if h.OpCode == ws.OpContinuation {
		have = int64(len(r.msg))
	}
	if r.maxSize > 0 && h.Length > r.maxSize-have {
		return ErrMessageTooLarge
	}
	return nil
}

// peek returns the next n bytes without copying them; they are discarded on the next call.
func (r *Reader) peek(n int) ([]byte, error) {
	p, err := r.br.Peek(n)
	if err != nil {
		return nil, unexpected(err)
	}
	r.skip = n
	return p, nil
}

// appendPayload reads n bytes into r.msg, growing it as bytes arrive rather than trusting
// the declared length for one allocation.
func (r *Reader) appendPayload(n int) error {
	for n > 0 {
		chunk := min(n, 64<<10)
		start := len(r.msg)
		r.msg = append(r.msg, make([]byte, chunk)...)
		if _, err := io.ReadFull(r.br, r.msg[start:]); err != nil {
			r.msg = r.msg[:start]
			return unexpected(err)
		}
		n -= chunk
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
