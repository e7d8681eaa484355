package bench

import (
	"encoding/binary"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rtmate-client/internal/wsframe"
)

// maxMessage bounds one server message, all its fragments together: a bench message is a
// few hundred bytes, and a declared length near this is a broken stream.
const maxMessage = 64 << 20

// largeBuffer is the capacity above which a connection's carry or reassembly buffer is
// dropped after use, so that one huge message does not pin memory for the connection's life.
const largeBuffer = 1 << 20

// frameHeader is the header of one server frame.
type frameHeader struct {
	fin    bool
	op     ws.OpCode
	length int64
}

// parseFrameHeader reads the frame header at the start of b; n is its size, 0 when b holds
// only part of it. It rejects what a server must never send (as wsframe.Reader does):
// masked frames, reserved bits or opcodes, fragmented or oversized control frames.
func parseFrameHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h = frameHeader{fin: b[0]&0x80 != 0, op: ws.OpCode(b[0] & 0x0f)}
	switch {
	case b[1]&0x80 != 0:
		return h, 0, wsframe.ErrMasked
	case b[0]&0x70 != 0:
		return h, 0, wsframe.ErrRsv
	case h.op.IsReserved():
		return h, 0, wsframe.ErrOpCode
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.length, n = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v>>63 != 0 {
			return h, 0, ws.ErrHeaderLengthMSB
		}
		h.length, n = int64(v), 10
	default:
		h.length, n = int64(l), 2
	}
	if h.op.IsControl() && (!h.fin || h.length > ws.MaxControlFramePayloadSize) {
		return h, 0, wsframe.ErrControl
	}
	return h, n, nil
}

// frameSink takes a connection's messages (fragments joined) and control frames, with the
// time their last bytes were read (unix ns). p is valid only during the call. Returning
// false stops the scan: the frames after this one stay in the receiver.
type frameSink interface {
	onFrame(op ws.OpCode, p []byte, now int64) bool
}

// wsReceiver parses what a server sends on one connection in place, in whatever buffer the
// bytes were read into, so that a buffer can serve many connections in turn. It keeps only
// what cannot be handed on yet: the first bytes of an incomplete frame (or frames a sink
// stopped before) and the fragments of an unfinished message.
type wsReceiver struct {
	carry  []byte
	need   int // size of the incomplete frame at the start of carry, once its header is in
	fragOp ws.OpCode
	msg    []byte
}

// receive reads once with read, after the carried bytes, and hands every complete message
// to sink. buf is the caller's read buffer; nothing refers to it afterwards. read follows
// io.Reader, except that (0, nil) means nothing to read now. n is the bytes read; full
// reports that they filled the room they were given, so more may be waiting.
func (r *wsReceiver) receive(buf []byte, read func([]byte) (int, error), sink frameSink) (n int, full bool, err error) {
	var data []byte
	if r.need > len(buf)/2 || len(r.carry) > len(buf)/2 {
		// A frame too large for buf to hold with room to spare: it grows in carry as its
		// bytes arrive (never by trusting its declared length), copied once each.
		n, err = read(buf)
		full = n == len(buf)
		r.carry = append(r.carry, buf[:max(n, 0)]...)
		data = r.carry
	} else {
		k := copy(buf, r.carry)
		n, err = read(buf[k:])
		full = n == len(buf)-k
		data = buf[:k+max(n, 0)]
	}
	if n > 0 {
		rest, serr := r.scan(data, sink, time.Now().UnixNano())
		r.keep(rest)
		if serr != nil {
			return n, false, serr
		}
	}
	return max(n, 0), full && err == nil, err
}

// drain hands on the complete frames already in carry: what a sink stopped before, or what
// arrived with the handshake.
func (r *wsReceiver) drain(sink frameSink) error {
	if len(r.carry) == 0 {
		return nil
	}
	rest, err := r.scan(r.carry, sink, time.Now().UnixNano())
	r.keep(rest)
	return err
}

// keep makes rest, which may lie in carry itself, the new carry.
func (r *wsReceiver) keep(rest []byte) {
	if len(rest) == len(r.carry) && (len(rest) == 0 || &rest[0] == &r.carry[0]) {
		return // nothing consumed: a large frame still arriving stays where it is, uncopied
	}
	if cap(r.carry) > largeBuffer && len(rest) <= largeBuffer/2 {
		r.carry = append([]byte(nil), rest...)
		return
	}
	r.carry = append(r.carry[:0], rest...)
}

// scan hands the complete frames at the start of data to sink and returns the rest: an
// incomplete frame, whose size it notes in need once the header is in, or what follows
// the frame the sink stopped at.
func (r *wsReceiver) scan(data []byte, sink frameSink, now int64) ([]byte, error) {
	r.need = 0
	for len(data) > 0 {
		h, n, err := parseFrameHeader(data)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if err := r.check(h); err != nil {
			return nil, err
		}
		if h.length > int64(len(data)-n) {
			r.need = n + int(h.length)
			break
		}
		end := n + int(h.length)
		op, msg, complete := r.message(h, data[n:end])
		data = data[end:]
		if !complete {
			continue
		}
		more := sink.onFrame(op, msg, now)
		if r.fragOp == 0 && cap(r.msg) > largeBuffer {
			r.msg = nil
		}
		if !more {
			break
		}
	}
	return data, nil
}

// check refuses, on its header alone, a data frame that does not fit the message being
// joined or would make it too large.
func (r *wsReceiver) check(h frameHeader) error {
	var have int64
	switch {
	case h.op.IsControl():
		return nil
	case h.op == ws.OpContinuation && r.fragOp == 0:
		return wsframe.ErrContinuation
	case h.op == ws.OpContinuation:
		have = int64(len(r.msg))
	case r.fragOp != 0:
		return wsframe.ErrInterleaved
	}
	if h.length > maxMessage-have {
		return wsframe.ErrMessageTooLarge
	}
	return nil
}

// message turns a complete frame that passed check into a message: control frames and
// unfragmented data frames as they are, fragments joined in msg. complete is false while a
// fragmented message is unfinished.
func (r *wsReceiver) message(h frameHeader, p []byte) (op ws.OpCode, msg []byte, complete bool) {
	switch {
	case h.op.IsControl() || (h.fin && h.op != ws.OpContinuation):
		return h.op, p, true
	case h.op != ws.OpContinuation:
		r.fragOp, r.msg = h.op, r.msg[:0]
	}
	r.msg = append(r.msg, p...)
	if !h.fin {
		return 0, nil, false
	}
	op, r.fragOp = r.fragOp, 0
	return op, r.msg, true
}
