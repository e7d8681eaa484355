package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

const testMax = 1 << 17 // 128 KiB: room for the 64 KiB + 1 cases

type readerCase struct {
	name   string
	input  []byte
	max    int // MaxMessage; 0 means testMax
	events []event
	code   ws.StatusCode // expected CloseError code; 0 for none
}

// validCases are streams a Reader must accept.
func validCases() []readerCase {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536}
	var cs []readerCase
	for _, n := range sizes {
		text := strings.Repeat("é", n/2) + strings.Repeat("a", n%2) // n bytes of valid UTF-8
		cs = append(cs,
			readerCase{name: "text" + itoa(n), input: masked(ws.OpText, []byte(text)), events: []event{textEv(text)}},
			readerCase{name: "binary" + itoa(n), input: masked(ws.OpBinary, binaryPayload(n)), events: []event{msgEv(ws.OpBinary, string(binaryPayload(n)))}},
		)
	}
	ping125 := strings.Repeat("p", 125)
	cs = append(cs, []readerCase{
		{name: "message at the limit", max: 300, input: masked(ws.OpText, bytes.Repeat([]byte("x"), 300)), events: []event{textEv(strings.Repeat("x", 300))}},
		{name: "several frames in one read", input: concat(masked(ws.OpText, []byte("one")), masked(ws.OpBinary, []byte{0, 1}), masked(ws.OpText, []byte("three"))),
			events: []event{textEv("one"), msgEv(ws.OpBinary, "\x00\x01"), textEv("three")}},
		{name: "ping pong", input: concat(masked(ws.OpPing, []byte("hi")), masked(ws.OpPong, nil), masked(ws.OpPing, []byte(ping125))),
			events: []event{ctlEv(ws.OpPing, "hi"), ctlEv(ws.OpPong, ""), ctlEv(ws.OpPing, ping125)}},
		{name: "empty close", input: masked(ws.OpClose, nil), events: []event{ctlEv(ws.OpClose, "")}},
		{name: "close with code and reason", input: masked(ws.OpClose, closeBody(1000, "bye ✓")), events: []event{closeEv(1000, "bye ✓")}},
		{name: "close with 123-byte reason", input: masked(ws.OpClose, closeBody(4999, strings.Repeat("r", 123))), events: []event{closeEv(4999, strings.Repeat("r", 123))}},
		{name: "fragmented text", input: concat(fragment(ws.OpText, "Hel", false), fragment(ws.OpContinuation, "lo, ", false), fragment(ws.OpContinuation, "world", true)),
			events: []event{textEv("Hello, world")}},
		{name: "fragmented binary", input: concat(fragment(ws.OpBinary, "\x00\xff", false), fragment(ws.OpContinuation, "\xfe", true)),
			events: []event{msgEv(ws.OpBinary, "\x00\xff\xfe")}},
		{name: "fragments with empty parts", input: concat(fragment(ws.OpText, "", false), fragment(ws.OpContinuation, "", false), fragment(ws.OpContinuation, "x", false), fragment(ws.OpContinuation, "", true)),
			events: []event{textEv("x")}},
		{name: "fragments with control frames interleaved", input: concat(
			fragment(ws.OpText, "frag", false),
			masked(ws.OpPing, []byte("p1")),
			fragment(ws.OpContinuation, "ment", false),
			masked(ws.OpPong, []byte("p2")),
			masked(ws.OpPing, nil),
			fragment(ws.OpContinuation, "ed", true),
			masked(ws.OpText, []byte("after")),
		), events: []event{ctlEv(ws.OpPing, "p1"), ctlEv(ws.OpPong, "p2"), ctlEv(ws.OpPing, ""), textEv("fragmented"), textEv("after")}},
		{name: "close interleaved in a fragmented message", input: concat(fragment(ws.OpText, "a", false), masked(ws.OpClose, closeBody(1000, ""))),
			events: []event{closeEv(1000, "")}},
		{name: "multi-byte runes split across fragments", input: concat(
			fragment(ws.OpText, "κό\xcf", false), // σ = cf 83
			fragment(ws.OpContinuation, "\x83\xe1", false),
			fragment(ws.OpContinuation, "\xbd", false),
			fragment(ws.OpContinuation, "\xb9\xf0\x9f\x98", false), // ό = e1 bd b9, 😀 = f0 9f 98 80
			fragment(ws.OpContinuation, "\x80!", true),
		), events: []event{textEv("κόσό😀!")}},
		{name: "fragmented message at the limit", max: 10, input: concat(fragment(ws.OpText, "12345", false), fragment(ws.OpContinuation, "67890", true)),
			events: []event{textEv("1234567890")}},
		{name: "valid close codes", input: concat(masked(ws.OpClose, closeBody(1001, "")), masked(ws.OpClose, closeBody(1011, "")), masked(ws.OpClose, closeBody(1012, "")),
			masked(ws.OpClose, closeBody(1014, "")), masked(ws.OpClose, closeBody(3000, "")), masked(ws.OpClose, closeBody(3999, "")), masked(ws.OpClose, closeBody(4000, ""))),
			events: []event{closeEv(1001, ""), closeEv(1011, ""), closeEv(1012, ""), closeEv(1014, ""), closeEv(3000, ""), closeEv(3999, ""), closeEv(4000, "")}},
	}...)
	return cs
}

// failingCases are streams a Reader must fail, with the events that precede the failure.
func failingCases() []readerCase {
	hello := masked(ws.OpText, []byte("hello"))
	helloEv := textEv("hello")
	cs := []readerCase{
		{name: "rsv1", input: concat(hello, clientFrame(ws.OpText, []byte("x"), frameOpts{rsv: 4})), events: []event{helloEv}, code: ws.StatusProtocolError},
		{name: "rsv2", input: clientFrame(ws.OpBinary, []byte("x"), frameOpts{rsv: 2}), code: ws.StatusProtocolError},
		{name: "rsv3", input: clientFrame(ws.OpText, nil, frameOpts{rsv: 1}), code: ws.StatusProtocolError},
		{name: "rsv on ping", input: clientFrame(ws.OpPing, []byte("x"), frameOpts{rsv: 7}), code: ws.StatusProtocolError},
		{name: "rsv on continuation", input: concat(fragment(ws.OpText, "a", false), clientFrame(ws.OpContinuation, []byte("b"), frameOpts{rsv: 4})), code: ws.StatusProtocolError},
		{name: "unmasked text", input: concat(hello, clientFrame(ws.OpText, []byte("x"), frameOpts{unmasked: true})), events: []event{helloEv}, code: ws.StatusProtocolError},
		{name: "unmasked ping", input: clientFrame(ws.OpPing, nil, frameOpts{unmasked: true}), code: ws.StatusProtocolError},
		{name: "unmasked close", input: clientFrame(ws.OpClose, closeBody(1000, ""), frameOpts{unmasked: true}), code: ws.StatusProtocolError},
		{name: "fragmented ping", input: clientFrame(ws.OpPing, []byte("x"), frameOpts{notFin: true}), code: ws.StatusProtocolError},
		{name: "fragmented close", input: clientFrame(ws.OpClose, nil, frameOpts{notFin: true}), code: ws.StatusProtocolError},
		{name: "ping of 126 bytes", input: masked(ws.OpPing, bytes.Repeat([]byte("p"), 126)), code: ws.StatusProtocolError},
		{name: "ping of 126 bytes, header only", input: headerOnly(ws.OpPing, true, 126), code: ws.StatusProtocolError},
		{name: "close of 126 bytes", input: masked(ws.OpClose, closeBody(1000, strings.Repeat("r", 124))), code: ws.StatusProtocolError},
		{name: "continuation without start", input: concat(hello, fragment(ws.OpContinuation, "x", true)), events: []event{helloEv}, code: ws.StatusProtocolError},
		{name: "non-final continuation without start", input: fragment(ws.OpContinuation, "x", false), code: ws.StatusProtocolError},
		{name: "text while fragmented", input: concat(fragment(ws.OpText, "a", false), masked(ws.OpText, []byte("b"))), code: ws.StatusProtocolError},
		{name: "binary while fragmented", input: concat(fragment(ws.OpText, "a", false), masked(ws.OpPing, nil), fragment(ws.OpBinary, "b", false)),
			events: []event{ctlEv(ws.OpPing, "")}, code: ws.StatusProtocolError},
		{name: "continuation after a complete fragmented message", input: concat(fragment(ws.OpText, "a", false), fragment(ws.OpContinuation, "b", true), fragment(ws.OpContinuation, "c", true)),
			events: []event{textEv("ab")}, code: ws.StatusProtocolError},

		{name: "oversize frame", max: 100, input: masked(ws.OpText, bytes.Repeat([]byte("x"), 101)), code: ws.StatusMessageTooBig},
		{name: "oversize header only (16-bit length)", max: 1000, input: concat(hello, headerOnly(ws.OpBinary, true, 1001)), events: []event{helloEv}, code: ws.StatusMessageTooBig},
		{name: "oversize header only (64-bit length)", input: headerOnly(ws.OpText, true, 32<<20), code: ws.StatusMessageTooBig},
		{name: "oversize header only (2^63-1)", input: headerOnly(ws.OpBinary, true, 1<<63-1), code: ws.StatusMessageTooBig},
		{name: "oversize across fragments", max: 10, input: concat(fragment(ws.OpText, "123456", false), headerOnly(ws.OpContinuation, true, 5)), code: ws.StatusMessageTooBig},
		{name: "oversize first fragment header", max: 10, input: headerOnly(ws.OpText, false, 11), code: ws.StatusMessageTooBig},

		{name: "invalid utf-8", input: concat(hello, masked(ws.OpText, []byte("abc\xffdef"))), events: []event{helloEv}, code: ws.StatusInvalidFramePayloadData},
		{name: "surrogate half", input: masked(ws.OpText, []byte("\xed\xa0\x80")), code: ws.StatusInvalidFramePayloadData},
		{name: "overlong encoding", input: masked(ws.OpText, []byte("\xc0\xaf")), code: ws.StatusInvalidFramePayloadData},
		{name: "truncated rune at the end", input: masked(ws.OpText, []byte("ab\xe2\x82")), code: ws.StatusInvalidFramePayloadData},
		{name: "invalid utf-8 in the first fragment fails fast", input: concat(fragment(ws.OpText, "a\xffb", false)), code: ws.StatusInvalidFramePayloadData},
		{name: "invalid utf-8 in a middle fragment fails fast", input: concat(fragment(ws.OpText, "ok", false), fragment(ws.OpContinuation, "\xce\xba\xf4\x90\x80\x80", false)), code: ws.StatusInvalidFramePayloadData},
		{name: "invalid sequence split across fragments", input: concat(fragment(ws.OpText, "\xed", false), fragment(ws.OpContinuation, "\xa0\x80", true)), code: ws.StatusInvalidFramePayloadData},
		{name: "truncated rune at the end of fragments", input: concat(fragment(ws.OpText, "ok\xf0\x9f", false), fragment(ws.OpContinuation, "\x98", true)), code: ws.StatusInvalidFramePayloadData},
		{name: "binary may hold anything", input: concat(masked(ws.OpBinary, []byte("\xff\xfe")), masked(ws.OpText, []byte("\xff"))),
			events: []event{msgEv(ws.OpBinary, "\xff\xfe")}, code: ws.StatusInvalidFramePayloadData},

		{name: "close of one byte", input: masked(ws.OpClose, []byte{0x03}), code: ws.StatusProtocolError},
		{name: "close with invalid utf-8 reason", input: masked(ws.OpClose, closeBody(1000, "ok\xce")), code: ws.StatusInvalidFramePayloadData},
	}
	for _, code := range []uint16{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, readerCase{name: "close code " + itoa(int(code)), input: masked(ws.OpClose, closeBody(code, "")), code: ws.StatusProtocolError})
	}
	for _, op := range []ws.OpCode{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cs = append(cs,
			readerCase{name: "reserved opcode " + itoa(int(op)), input: concat(hello, masked(op, []byte("x"))), events: []event{helloEv}, code: ws.StatusProtocolError},
			readerCase{name: "reserved opcode while fragmented " + itoa(int(op)), input: concat(fragment(ws.OpText, "a", false), masked(op, nil)), code: ws.StatusProtocolError},
		)
	}
	return cs
}

// TestReaderSplits feeds every case whole, byte by byte, split at every offset and split at
// random, and requires the same messages and the same failure each time.
func TestReaderSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range append(validCases(), failingCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.max
			if limit == 0 {
				limit = testMax
			}
			want := result{events: tc.events, code: tc.code}
			for plan, cuts := range splitPlans(rng, len(tc.input)) {
				h := &recorder{t: t, maxMessage: limit}
				got := feed(limit, tc.input, cuts, h, func(r *Reader) {
					// One frame in flight and one message being assembled, no more.
					if b := r.Buffered(); b > limit+ws.MaxControlFramePayloadSize+maxHeader {
						t.Fatalf("%s: Buffered() = %d with MaxMessage %d", plan, b, limit)
					}
				})
				if got.err != nil && got.code == 0 {
					t.Fatalf("%s: non-close error %v", plan, got.err)
				}
				if !got.equal(want) {
					t.Fatalf("%s: got events %v code %d (%v), want %v code %d", plan, got.events, got.code, got.err, want.events, want.code)
				}
			}
		})
	}
}

// TestReaderOversizeFromHeader checks that an oversize message is refused as soon as its
// header is complete: nothing of its payload is needed, and nothing is buffered for it.
func TestReaderOversizeFromHeader(t *testing.T) {
	for _, claim := range []int64{65537, 1 << 20, 32 << 20, 1 << 40} {
		hdr := headerOnly(ws.OpBinary, true, claim)
		r := &Reader{MaxMessage: 64 << 10}
		h := &recorder{}
		var err error
		for i := range hdr {
			if err = r.Feed([]byte{hdr[i]}, h); err != nil {
				if i != len(hdr)-1 {
					t.Fatalf("claim %d: failed after %d of %d header bytes", claim, i+1, len(hdr))
				}
				break
			}
			if r.Buffered() > maxHeader {
				t.Fatalf("claim %d: %d bytes buffered for a header", claim, r.Buffered())
			}
		}
		if !errors.Is(err, ErrTooBig) {
			t.Fatalf("claim %d: err = %v, want ErrTooBig", claim, err)
		}
	}
}

// TestReaderBufferedBound feeds the largest allowed messages in small pieces and checks that
// the reader never holds more than the message plus one header: growth must not overshoot.
func TestReaderBufferedBound(t *testing.T) {
	const limit = 10000
	single := masked(ws.OpBinary, bytes.Repeat([]byte{7}, limit))
	var frags [][]byte
	for i := 0; i < 10; i++ {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		frags = append(frags, fragment(op, strings.Repeat("y", limit/10), i == 9))
	}
	for name, input := range map[string][]byte{"single frame": single, "ten fragments": concat(frags...)} {
		for _, chunk := range []int{1, 7, 100, 1000} {
			r := &Reader{MaxMessage: limit}
			h := &recorder{t: t, maxMessage: limit}
			peak := 0
			for off := 0; off < len(input); off += chunk {
				if err := r.Feed(bytes.Clone(input[off:min(off+chunk, len(input))]), h); err != nil {
					t.Fatalf("%s/%d: %v", name, chunk, err)
				}
				peak = max(peak, r.Buffered())
			}
			if peak > limit+maxHeader {
				t.Errorf("%s in %d-byte reads: peak Buffered() = %d, want <= %d", name, chunk, peak, limit+maxHeader)
			}
			if r.Buffered() != 0 {
				t.Errorf("%s in %d-byte reads: an idle reader holds %d bytes", name, chunk, r.Buffered())
			}
			if len(h.events) != 1 || len(h.events[0].payload) != limit {
				t.Errorf("%s in %d-byte reads: events %v", name, chunk, h.events)
			}
		}
	}
}

// TestReaderHandlerError checks that a handler's error stops the stream and comes back
// unchanged.
func TestReaderHandlerError(t *testing.T) {
	boom := errors.New("boom")
	input := concat(masked(ws.OpText, []byte("a")), masked(ws.OpPing, nil), masked(ws.OpText, []byte("b")))
	for _, failAt := range []int{1, 2} {
		h := &recorder{failAt: failAt, failErr: boom}
		r := &Reader{MaxMessage: 100}
		if err := r.Feed(input, h); err != boom {
			t.Fatalf("failAt %d: err = %v, want the handler's error", failAt, err)
		}
		if len(h.events) != failAt {
			t.Fatalf("failAt %d: %d events after the failure", failAt, len(h.events))
		}
	}
}

// TestReaderReset checks that Reset drops a partial frame and a partial message.
func TestReaderReset(t *testing.T) {
	r := &Reader{MaxMessage: 100}
	h := &recorder{}
	part := concat(fragment(ws.OpText, "abc", false), masked(ws.OpText, []byte("xyz"))[:4])
	if err := r.Feed(part, h); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 {
		t.Fatal("a partial frame and message should be buffered")
	}
	r.Reset()
	if r.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after Reset", r.Buffered())
	}
	if err := r.Feed(masked(ws.OpText, []byte("fresh")), h); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
	if len(h.events) != 1 || h.events[0] != textEv("fresh") {
		t.Fatalf("events %v", h.events)
	}
}

// TestCloseErrorCodes checks the exported failures' codes.
func TestCloseErrorCodes(t *testing.T) {
	if ErrTooBig.Code != ws.StatusMessageTooBig || ErrInvalidUTF8.Code != ws.StatusInvalidFramePayloadData {
		t.Fatalf("codes: %d %d", ErrTooBig.Code, ErrInvalidUTF8.Code)
	}
	if ErrTooBig.Error() == "" || ErrInvalidUTF8.Error() == "" {
		t.Fatal("empty reason")
	}
}

func TestValidPrefix(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		ok   bool
		name string
	}{
		{"", 0, true, "empty"},
		{"abc", 3, true, "ascii"},
		{"aé", 3, true, "two-byte"},
		{"a\xc3", 1, true, "cut two-byte"},
		{"a\xe2\x82", 1, true, "cut three-byte"},
		{"a\xf0\x9f\x98", 1, true, "cut four-byte"},
		{"a\xff", 1, false, "invalid byte"},
		{"a\xed\xa0", 1, false, "surrogate prefix"},
		{"a\xc3a", 1, false, "broken two-byte"},
		{"a\xf4\x90", 1, false, "above U+10FFFF"},
		{strings.Repeat("κόσμε", 20) + "\xe2", len(strings.Repeat("κόσμε", 20)), true, "long with cut rune"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := validPrefix([]byte(tc.in))
			if n != tc.n || ok != tc.ok {
				t.Fatalf("validPrefix(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
			}
		})
	}
}

func binaryPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestReaderStreamsPayload checks that a data frame arriving in pieces is not held twice:
// its payload goes straight into the message, and invalid UTF-8 fails the connection when it
// arrives rather than when the frame ends.
func TestReaderStreamsPayload(t *testing.T) {
	t.Run("invalid byte fails before the frame ends", func(t *testing.T) {
		payload := []byte(strings.Repeat("a", 10) + "\xff" + strings.Repeat("b", 1000))
		frame := masked(ws.OpText, payload)
		r := &Reader{MaxMessage: 4096}
		h := &recorder{}
		hdr := len(frame) - len(payload)
		if err := r.Feed(bytes.Clone(frame[:hdr+5]), h); err != nil {
			t.Fatalf("first part: %v", err)
		}
		if err := r.Feed(bytes.Clone(frame[hdr+5:hdr+20]), h); !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("second part: err = %v, want ErrInvalidUTF8 at once", err)
		}
	})
	t.Run("invalid byte in a fragment fails before the fragment ends", func(t *testing.T) {
		input := concat(fragment(ws.OpText, "ok", false), fragment(ws.OpContinuation, "x\xc0"+strings.Repeat("y", 500), true))
		r := &Reader{MaxMessage: 4096}
		if err := r.Feed(bytes.Clone(input[:len(input)-400]), &recorder{}); !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("err = %v, want ErrInvalidUTF8", err)
		}
	})
	t.Run("partial frame is held once", func(t *testing.T) {
		const n = 50000
		frame := masked(ws.OpBinary, bytes.Repeat([]byte{1}, n))
		r := &Reader{MaxMessage: 1 << 20}
		h := &recorder{}
		if err := r.Feed(bytes.Clone(frame[:n/2]), h); err != nil {
			t.Fatal(err)
		}
		if b := r.Buffered(); b != n {
			t.Fatalf("Buffered() = %d for a %d-byte message in flight, want exactly %d", b, n, n)
		}
		if err := r.Feed(bytes.Clone(frame[n/2:]), h); err != nil {
			t.Fatal(err)
		}
		if len(h.events) != 1 || h.events[0].payload != string(bytes.Repeat([]byte{1}, n)) || r.Buffered() != 0 {
			t.Fatalf("events %d, Buffered %d", len(h.events), r.Buffered())
		}
	})
}
