package wire

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FuzzReader feeds arbitrary bytes in arbitrary splits. The Reader must never panic, never
// hand over a message beyond MaxMessage or a control payload beyond 125 bytes, never deliver
// invalid UTF-8 as text or an invalid close payload, never buffer more than MaxMessage plus
// one control frame, and reach the same messages and the same failure however the bytes
// were split.
func FuzzReader(f *testing.F) {
	for _, tc := range append(validCases(), failingCases()...) {
		if len(tc.input) <= 4096 {
			limit := tc.max
			if limit == 0 {
				limit = 4096
			}
			f.Add(tc.input, uint64(len(tc.input)), uint16(limit))
		}
	}
	f.Add(concat(fragment(ws.OpText, "a", false), masked(ws.OpPing, []byte("x")), fragment(ws.OpContinuation, "é", true)), uint64(7), uint16(3))
	f.Add(headerOnly(ws.OpBinary, true, 1<<40), uint64(1), uint16(100))

	f.Fuzz(func(t *testing.T, data []byte, seed uint64, maxMsg uint16) {
		limit := int(maxMsg)
		bound := limit + ws.MaxControlFramePayloadSize + maxHeader
		check := func(r *Reader) {
			if b := r.Buffered(); b > bound {
				t.Fatalf("Buffered() = %d with MaxMessage %d", b, limit)
			}
		}
		whole := feed(limit, data, nil, &recorder{t: t, maxMessage: limit}, check)
		if whole.err != nil && whole.code == 0 {
			t.Fatalf("non-close error %v", whole.err)
		}
		for _, e := range whole.events {
			switch {
			case e.control && e.op == ws.OpClose:
				if len(e.payload) == 1 || len(e.payload) >= 2 && (!validCloseCode(uint16(e.payload[0])<<8|uint16(e.payload[1])) || !utf8.ValidString(e.payload[2:])) {
					t.Fatalf("invalid close payload %q delivered", e.payload)
				}
			case !e.control && e.op == ws.OpText && !utf8.ValidString(e.payload):
				t.Fatalf("invalid UTF-8 text delivered: %q", e.payload)
			case !e.control && e.op != ws.OpText && e.op != ws.OpBinary, e.control && !e.op.IsControl():
				t.Fatalf("unexpected event %v", e)
			}
		}

		rng := rand.New(rand.NewPCG(seed, uint64(len(data))))
		plans := [][]int{randomCuts(rng, len(data), 1+rng.IntN(16)), randomCuts(rng, len(data), 1+rng.IntN(4))}
		if len(data) <= 4096 {
			plans = append(plans, everyByte(len(data)))
		}
		for _, cuts := range plans {
			got := feed(limit, data, cuts, &recorder{t: t, maxMessage: limit}, check)
			if !got.equal(whole) {
				t.Fatalf("cuts %v: got %v code %d (%v), whole gave %v code %d (%v)", cuts, got.events, got.code, got.err, whole.events, whole.code, whole.err)
			}
		}
	})
}
