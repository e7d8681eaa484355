package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gobwas/ws"
)

// testMask is the mask of every test frame: no zero byte, so a payload left masked shows.
var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frameOpts describe a client frame; the zero value is a final, masked frame without RSV bits.
type frameOpts struct {
	notFin   bool
	rsv      byte
	unmasked bool
}

// clientFrame builds a client frame with gobwas/ws's header writer and cipher, so the
// frames under test do not come from the code under test.
func clientFrame(op ws.OpCode, payload []byte, o frameOpts) []byte {
	var buf bytes.Buffer
	h := ws.Header{Fin: !o.notFin, Rsv: o.rsv, OpCode: op, Masked: !o.unmasked, Length: int64(len(payload))}
	if h.Masked {
		h.Mask = testMask
	}
	if err := ws.WriteHeader(&buf, h); err != nil {
		panic(err)
	}
	p := bytes.Clone(payload)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	buf.Write(p)
	return buf.Bytes()
}

// masked is a final masked frame.
func masked(op ws.OpCode, payload []byte) []byte { return clientFrame(op, payload, frameOpts{}) }

// fragment is a masked frame with fin as given.
func fragment(op ws.OpCode, payload string, fin bool) []byte {
	return clientFrame(op, []byte(payload), frameOpts{notFin: !fin})
}

// headerOnly is the header of a masked frame that claims length payload bytes.
func headerOnly(op ws.OpCode, fin bool, length int64) []byte {
	var buf bytes.Buffer
	if err := ws.WriteHeader(&buf, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: testMask, Length: length}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func closeBody(code uint16, reason string) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	return append(b, reason...)
}

func concat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// event is one thing a Reader reported.
type event struct {
	control bool
	op      ws.OpCode
	payload string
}

func (e event) String() string {
	p := e.payload
	if len(p) > 40 {
		p = fmt.Sprintf("%.20q…(%d bytes)", p, len(p))
	} else {
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("{ctl=%v op=%v %s}", e.control, e.op, p)
}

func msgEv(op ws.OpCode, p string) event  { return event{op: op, payload: p} }
func ctlEv(op ws.OpCode, p string) event  { return event{control: true, op: op, payload: p} }
func textEv(p string) event               { return msgEv(ws.OpText, p) }
func closeEv(code uint16, r string) event { return ctlEv(ws.OpClose, string(closeBody(code, r))) }

// recorder is a Handler that copies what it gets (payloads are only valid during the call)
// and can fail after a number of calls.
type recorder struct {
	events  []event
	failAt  int // fail the failAt-th call (1-based); 0 never
	failErr error
	// maxMessage, when set, makes the recorder check the Reader's promises on every call.
	maxMessage int
	t          testing.TB
}

func (r *recorder) record(e event, n int) error {
	if r.t != nil {
		if e.control && n > ws.MaxControlFramePayloadSize {
			r.t.Errorf("control payload of %d bytes", n)
		}
		if !e.control && n > r.maxMessage {
			r.t.Errorf("message of %d bytes beyond MaxMessage %d", n, r.maxMessage)
		}
	}
	r.events = append(r.events, e)
	if r.failAt > 0 && len(r.events) == r.failAt {
		return r.failErr
	}
	return nil
}

func (r *recorder) OnMessage(op ws.OpCode, p []byte) error {
	return r.record(event{op: op, payload: string(p)}, len(p))
}

func (r *recorder) OnControl(op ws.OpCode, p []byte) error {
	return r.record(event{control: true, op: op, payload: string(p)}, len(p))
}

// result is what feeding an input produced.
type result struct {
	events []event
	code   ws.StatusCode // 0: no CloseError
	err    error
}

func (a result) equal(b result) bool {
	return a.code == b.code && slices.Equal(a.events, b.events)
}

// feed runs input through a fresh Reader in chunks ending at the cut offsets (ascending,
// inside input). Each chunk is a fresh copy that is overwritten after Feed, as the event loop
// reuses its read buffer. check is called after every Feed.
func feed(maxMsg int, input []byte, cuts []int, h *recorder, check func(r *Reader)) result {
	r := &Reader{MaxMessage: maxMsg}
	scratch := make([]byte, 0, len(input))
	prev := 0
	var err error
	for i := 0; i <= len(cuts) && err == nil; i++ {
		end := len(input)
		if i < len(cuts) {
			end = cuts[i]
		}
		chunk := append(scratch[:0], input[prev:end]...)
		prev = end
		err = r.Feed(chunk, h)
		for j := range chunk {
			chunk[j] = 0xAA // the caller's buffer is reused after Feed returns
		}
		if check != nil {
			check(r)
		}
	}
	res := result{events: h.events, err: err}
	var ce *CloseError
	if errors.As(err, &ce) {
		res.code = ce.Code
	}
	return res
}

// everyByte cuts after every byte.
func everyByte(n int) []int {
	cuts := make([]int, 0, n)
	for i := 1; i < n; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}

// randomCuts cuts input at up to k random places.
func randomCuts(rng *rand.Rand, n, k int) []int {
	if n < 2 {
		return nil
	}
	cuts := make([]int, 0, k)
	for i := 0; i < k; i++ {
		cuts = append(cuts, 1+rng.IntN(n-1))
	}
	slices.Sort(cuts)
	return slices.Compact(cuts)
}

// splitPlans lists the ways each input is cut: whole, byte by byte, every two-way split
// (for inputs small enough), and random multi-way splits (fewer for large inputs, which cost
// much under the race detector).
func splitPlans(rng *rand.Rand, n int) map[string][]int {
	plans := map[string][]int{"whole": nil, "bytewise": everyByte(n)}
	randoms := 20
	if n <= 600 {
		for i := 1; i < n; i++ {
			plans[fmt.Sprintf("at%d", i)] = []int{i}
		}
	} else {
		for _, i := range []int{1, 2, 3, 4, 5, 6, 9, 10, 13, 14, 15, n / 2, n - 1} {
			plans[fmt.Sprintf("at%d", i)] = []int{i}
		}
		randoms = 3
	}
	for i := 0; i < randoms; i++ {
		plans[fmt.Sprintf("random%d", i)] = randomCuts(rng, n, 1+rng.IntN(8))
	}
	return plans
}
