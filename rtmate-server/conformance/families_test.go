package conformance

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// conv is one conversation on a fresh connection to /ws/echo, named after the Autobahn
// cases it stands for.
type conv struct {
	name string
	run  func(c *rawConn)
}

// runConvs runs each conversation on its own connection, in parallel, and then checks that a
// fresh connection still works: a failure stays with the connection that caused it.
func runConvs(t *testing.T, srv *testserver.Server, path string, convs []conv) {
	t.Helper()
	for _, cv := range convs {
		t.Run(cv.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, srv, path)
			cv.run(c)
			c.finish()
			if path == "/ws/echo" {
				dial(t, srv, path).roundTrip()
			} else {
				dial(t, srv, path).pingEvent()
			}
		})
	}
}

// fails sends frames in one write and expects the server to fail the connection with code,
// after the echoes listed in before.
func fails(code ws.StatusCode, before []string, frames ...frame) func(c *rawConn) {
	return func(c *rawConn) {
		c.send(frames...)
		for _, s := range before {
			c.expectText(s)
		}
		c.expectClose(code)
	}
}

// echoes sends frames in one write and expects these text echoes.
func echoes(frames []frame, want ...string) func(c *rawConn) {
	return func(c *rawConn) {
		c.send(frames...)
		for _, s := range want {
			c.expectText(s)
		}
	}
}

// Family 1: framing — text and binary messages of every length class, whole and in pieces.
func TestFraming(t *testing.T) {
	srv := startEcho(t)
	var convs []conv
	for _, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		p := payloadOf(n)
		convs = append(convs,
			conv{"1.1 text " + strconv.Itoa(n), func(c *rawConn) { c.send(text(string(p))); c.expectText(string(p)) }},
			conv{"1.2 binary " + strconv.Itoa(n), func(c *rawConn) { c.send(binaryFrame(p)); c.expectBinary(p) }},
		)
	}
	big := payloadOf(65536)
	convs = append(convs,
		conv{"1.1.8 text 65536 in 997-byte writes", func(c *rawConn) { c.sendChunked(997, text(string(big))); c.expectText(string(big)) }},
		conv{"1.2.8 binary 65536 in 997-byte writes", func(c *rawConn) { c.sendChunked(997, binaryFrame(big)); c.expectBinary(big) }},
		conv{"binary with every byte value", func(c *rawConn) {
			p := make([]byte, 512)
			for i := range p {
				p[i] = byte(i)
			}
			c.send(binaryFrame(p))
			c.expectBinary(p)
		}},
		conv{"several messages in one write", echoes([]frame{text("one"), text(""), text("three")}, "one", "", "three")},
		conv{"header in 1-byte writes", func(c *rawConn) {
			p := payloadOf(300)
			c.sendChunked(1, text(string(p)))
			c.expectText(string(p))
		}},
	)
	runConvs(t, srv, "/ws/echo", convs)
}

// Family 2: pings and pongs.
func TestPingPong(t *testing.T) {
	srv := startEcho(t)
	p125 := string(payloadOf(125))
	binPing := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	convs := []conv{
		{"2.1 ping without payload", func(c *rawConn) { c.send(ping("")); c.expectPong("") }},
		{"2.2 ping with text payload", func(c *rawConn) { c.send(ping("Hello, world!")); c.expectPong("Hello, world!") }},
		{"2.3 ping with binary payload", func(c *rawConn) { c.send(ping(binPing)); c.expectPong(binPing) }},
		{"2.4 ping with 125-byte payload", func(c *rawConn) { c.send(ping(p125)); c.expectPong(p125) }},
		{"2.5 ping with 126-byte payload", fails(ws.StatusProtocolError, nil, ping(p125+"x"))},
		{"2.6 ping with 125-byte payload in 1-byte writes", func(c *rawConn) { c.sendChunked(1, ping(p125)); c.expectPong(p125) }},
		{"2.7 unsolicited pong without payload is ignored", func(c *rawConn) {
			c.send(pong(""))
			c.send(ping("after")) // the next frame must answer this, not the pong
			c.expectPong("after")
		}},
		{"2.8 unsolicited pong with payload is ignored", func(c *rawConn) {
			c.send(pong("unsolicited pong payload"), text("after"))
			c.expectText("after")
		}},
		{"2.9 unsolicited pong, then ping", func(c *rawConn) {
			c.send(pong("unsolicited"), ping("solicited"))
			c.expectPong("solicited")
		}},
		{"2.10 ten pings", func(c *rawConn) {
			var pings []frame
			for i := 0; i < 10; i++ {
				pings = append(pings, ping("payload-"+strconv.Itoa(i)))
			}
			c.send(pings...)
			for i := 0; i < 10; i++ {
				c.expectPong("payload-" + strconv.Itoa(i))
			}
		}},
		{"2.11 ten pings in 1-byte writes", func(c *rawConn) {
			var pings []frame
			for i := 0; i < 10; i++ {
				pings = append(pings, ping("payload-"+strconv.Itoa(i)))
			}
			c.sendChunked(1, pings...)
			for i := 0; i < 10; i++ {
				c.expectPong("payload-" + strconv.Itoa(i))
			}
		}},
		{"ping between messages keeps order", echoesAndPong()},
	}
	runConvs(t, srv, "/ws/echo", convs)
}

func echoesAndPong() func(c *rawConn) {
	return func(c *rawConn) {
		c.send(text("a"), ping("p"), text("b"))
		c.expectText("a")
		c.expectPong("p")
		c.expectText("b")
	}
}

// Family 3: reserved bits must be zero when no extension is negotiated.
func TestReservedBits(t *testing.T) {
	srv := startEcho(t)
	hello := []string{"Hello"}
	convs := []conv{
		{"3.1 rsv1 on text", fails(ws.StatusProtocolError, nil, frame{op: ws.OpText, payload: []byte("Hello"), rsv: 4})},
		{"3.2 rsv2 after a valid text, then ping", fails(ws.StatusProtocolError, hello, text("Hello"), frame{op: ws.OpText, payload: []byte("Hello"), rsv: 2}, ping(""))},
		{"3.3 rsv3 in 1-byte writes", func(c *rawConn) {
			c.sendChunked(1, text("Hello"), frame{op: ws.OpText, payload: []byte("Hello"), rsv: 1}, ping(""))
			c.expectText("Hello")
			c.expectClose(ws.StatusProtocolError)
		}},
		{"3.4 rsv1+rsv3 on text", fails(ws.StatusProtocolError, hello, text("Hello"), frame{op: ws.OpText, payload: []byte("x"), rsv: 5})},
		{"3.5 rsv1+rsv2 on binary", fails(ws.StatusProtocolError, nil, frame{op: ws.OpBinary, payload: []byte{0, 1, 2}, rsv: 6})},
		{"3.6 rsv on ping", fails(ws.StatusProtocolError, nil, frame{op: ws.OpPing, payload: []byte("Hello"), rsv: 3})},
		{"3.7 rsv on close", fails(ws.StatusProtocolError, nil, frame{op: ws.OpClose, payload: closeBody(1000, ""), rsv: 7})},
		{"rsv on a continuation", fails(ws.StatusProtocolError, nil, first(ws.OpText, "a"), frame{op: ws.OpContinuation, payload: []byte("b"), rsv: 4})},
	}
	runConvs(t, srv, "/ws/echo", convs)
}

// Family 4: reserved opcodes.
func TestOpcodes(t *testing.T) {
	srv := startEcho(t)
	var convs []conv
	for _, op := range []ws.OpCode{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		family := "4.1"
		if op > 7 {
			family = "4.2"
		}
		name := family + " opcode " + strconv.Itoa(int(op))
		convs = append(convs,
			conv{name, fails(ws.StatusProtocolError, nil, frame{op: op})},
			conv{name + " with payload after a valid text, then ping", fails(ws.StatusProtocolError, []string{"Hello"},
				text("Hello"), frame{op: op, payload: []byte("reserved")}, ping(""))},
		)
	}
	runConvs(t, srv, "/ws/echo", convs)
}

// Family 5: fragmentation.
func TestFragmentation(t *testing.T) {
	srv := startEcho(t)
	twoFrags := []frame{first(ws.OpText, "fragment1"), cont("fragment2", true)}
	withPing := []frame{first(ws.OpText, "fragment1"), ping("ping payload"), cont("fragment2", true)}
	convs := []conv{
		{"5.1 fragmented ping", fails(ws.StatusProtocolError, nil, frame{op: ws.OpPing, payload: []byte("frag1"), notFin: true}, cont("frag2", true))},
		{"5.2 fragmented pong", fails(ws.StatusProtocolError, nil, frame{op: ws.OpPong, payload: []byte("frag1"), notFin: true}, cont("frag2", true))},
		{"5.3 text in two fragments", echoes(twoFrags, "fragment1fragment2")},
		{"5.4 text in two fragments, in 1-byte writes", func(c *rawConn) {
			c.sendChunked(1, twoFrags...)
			c.expectText("fragment1fragment2")
		}},
		{"5.6 ping between fragments", func(c *rawConn) {
			c.send(withPing...)
			c.expectPong("ping payload")
			c.expectText("fragment1fragment2")
		}},
		{"5.7 ping between fragments, in 1-byte writes", func(c *rawConn) {
			c.sendChunked(1, withPing...)
			c.expectPong("ping payload")
			c.expectText("fragment1fragment2")
		}},
		{"5.8 ping between fragments, fragments in separate writes", func(c *rawConn) {
			c.send(first(ws.OpText, "fragment1"))
			c.send(ping("ping payload"))
			c.expectPong("ping payload") // answered while the message is still open
			c.send(cont("fragment2", true))
			c.expectText("fragment1fragment2")
		}},
		{"5.9 final continuation with nothing to continue", fails(ws.StatusProtocolError, nil, cont("fragment1", true), text("fragment2"), cont("fragment3", true))},
		{"5.10 non-final continuation with nothing to continue", fails(ws.StatusProtocolError, nil, cont("fragment1", false), text("fragment2"))},
		{"5.11 continuation with nothing to continue, in 1-byte writes", func(c *rawConn) {
			c.sendChunked(1, cont("fragment1", true), text("fragment2"))
			c.expectClose(ws.StatusProtocolError)
		}},
		{"5.15 continuation after a finished fragmented message", fails(ws.StatusProtocolError, []string{"fragment1fragment2"},
			first(ws.OpText, "fragment1"), cont("fragment2", true), cont("fragment3", false), cont("fragment4", true))},
		{"5.18 text message while a fragmented one is open", fails(ws.StatusProtocolError, nil, first(ws.OpText, "fragment1"), text("fragment2"))},
		{"5.18b binary fragment while a text one is open", fails(ws.StatusProtocolError, nil, first(ws.OpText, "fragment1"), first(ws.OpBinary, "fragment2"), cont("x", true))},
		{"5.19 fragments with pings in between, in separate writes", func(c *rawConn) {
			c.send(first(ws.OpText, "fragment1"))
			c.send(cont("fragment2", false))
			c.send(ping("pongme 1!"))
			c.expectPong("pongme 1!")
			c.send(cont("fragment3", false))
			c.send(cont("fragment4", false))
			c.send(ping("pongme 2!"))
			c.expectPong("pongme 2!")
			c.send(cont("fragment5", true))
			c.expectText("fragment1fragment2fragment3fragment4fragment5")
		}},
		{"binary in three fragments", func(c *rawConn) {
			c.send(frame{op: ws.OpBinary, payload: []byte{0, 1}, notFin: true}, frame{op: ws.OpContinuation, payload: []byte{2}, notFin: true}, frame{op: ws.OpContinuation, payload: []byte{3, 255}})
			c.expectBinary([]byte{0, 1, 2, 3, 255})
		}},
		{"6.1 empty fragments", echoes([]frame{first(ws.OpText, ""), cont("", false), cont("", true)}, "")},
		{"6.1.3 empty fragments around a payload", echoes([]frame{first(ws.OpText, ""), cont("middle", false), cont("", true)}, "middle")},
		{"many small fragments", func(c *rawConn) {
			frames := []frame{first(ws.OpText, "0")}
			want := "0"
			for i := 1; i < 200; i++ {
				s := strconv.Itoa(i % 10)
				frames = append(frames, cont(s, i == 199))
				want += s
			}
			c.send(frames...)
			c.expectText(want)
		}},
	}
	runConvs(t, srv, "/ws/echo", convs)
}

var validUTF8 = []struct{ name, s string }{
	{"mixed", "Hello-µ@ßöäüàá-UTF-8!!"},
	{"greek", "κόσμε"},
	{"U+0000", "\x00"},
	{"U+007F", "\x7f"},
	{"U+0080", "\u0080"},
	{"U+07FF", "\u07ff"},
	{"U+0800", "\u0800"},
	{"U+D7FF", "\ud7ff"},
	{"U+E000", "\ue000"},
	{"U+FFFD", "\ufffd"},
	{"U+FFFF", "\uffff"},
	{"U+10000", "\U00010000"},
	{"U+10FFFF", "\U0010ffff"},
	{"BOM", "\ufeff"},
	{"chinese", "实时消息"},
	{"emoji", "😀👍🏽"},
}

var invalidUTF8 = []struct{ name, s string }{
	{"surrogate in text (6.3.1)", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"},
	{"above U+10FFFF", "\xf4\x90\x80\x80"},
	{"lone continuation 0x80", "\x80"},
	{"lone continuation 0xbf", "\xbf"},
	{"overlong slash 2 bytes", "\xc0\xaf"},
	{"overlong slash 3 bytes", "\xe0\x80\xaf"},
	{"overlong slash 4 bytes", "\xf0\x80\x80\xaf"},
	{"overlong NUL", "\xc0\x80"},
	{"0xfe", "\xfe"},
	{"0xff", "\xff"},
	{"high surrogate", "\xed\xa0\x80"},
	{"low surrogate", "\xed\xbf\xbf"},
	{"surrogate pair", "\xed\xa0\x80\xed\xb0\x80"},
	{"5-byte sequence", "\xf8\x88\x80\x80\x80"},
	{"truncated 2-byte at the end", "ab\xc2"},
	{"truncated 3-byte at the end", "ab\xe0\xa0"},
	{"truncated 4-byte at the end", "ab\xf0\x9f\x98"},
	{"start byte followed by ASCII", "\xc2a"},
}

// bytewiseFragments sends s as a text message with one byte per fragment.
func bytewiseFragments(s string) []frame {
	if len(s) == 0 {
		return []frame{text("")}
	}
	frames := []frame{first(ws.OpText, s[:1])}
	for i := 1; i < len(s); i++ {
		frames = append(frames, cont(s[i:i+1], i == len(s)-1))
	}
	if len(s) == 1 {
		frames[0].notFin = false
	}
	return frames
}

// Family 6: UTF-8 handling.
func TestUTF8(t *testing.T) {
	srv := startEcho(t)
	var convs []conv
	for _, v := range validUTF8 {
		convs = append(convs,
			conv{"6.x valid " + v.name + " in one frame", echoes([]frame{text(v.s)}, v.s)},
			conv{"6.x valid " + v.name + " one byte per fragment", echoes(bytewiseFragments(v.s), v.s)},
			conv{"6.x valid " + v.name + " in 1-byte writes", func(c *rawConn) { c.sendChunked(1, text(v.s)); c.expectText(v.s) }},
		)
	}
	for _, v := range invalidUTF8 {
		convs = append(convs,
			conv{"6.x invalid " + v.name + " in one frame", fails(ws.StatusInvalidFramePayloadData, nil, text(v.s))},
			conv{"6.x invalid " + v.name + " one byte per fragment", fails(ws.StatusInvalidFramePayloadData, nil, bytewiseFragments(v.s)...)},
		)
	}
	// Every split of a multi-byte text into two fragments.
	mixed := "aé中😀z"
	for i := 1; i < len(mixed); i++ {
		convs = append(convs, conv{"6.2 split at byte " + strconv.Itoa(i), echoes([]frame{first(ws.OpText, mixed[:i]), cont(mixed[i:], true)}, mixed)})
	}
	convs = append(convs,
		conv{"6.4.1 fail fast: invalid fragment, rest never sent", func(c *rawConn) {
			c.send(first(ws.OpText, "κόσμε"), cont("\xf4\x90\x80\x80", false))
			c.expectClose(ws.StatusInvalidFramePayloadData) // before "edited" is sent
		}},
		conv{"6.4.2 fail fast: invalid bytes split over fragments", func(c *rawConn) {
			c.send(first(ws.OpText, "κόσμε\xf4"), cont("\x90", false))
			c.expectClose(ws.StatusInvalidFramePayloadData)
		}},
		conv{"6.4.3 fail fast: invalid bytes inside a frame whose rest never comes", func(c *rawConn) {
			whole := text("κόσμε\xf4\x90\x80\x80" + strings.Repeat("-", 1000)).bytes()
			c.write(whole[:len(whole)-900]) // header, the invalid bytes, part of the rest
			c.expectClose(ws.StatusInvalidFramePayloadData)
		}},
		conv{"invalid UTF-8 binary is fine", func(c *rawConn) { c.send(binaryFrame([]byte("\xff\xfe"))); c.expectBinary([]byte("\xff\xfe")) }},
	)
	runConvs(t, srv, "/ws/echo", convs)
}

// Family 7: the closing handshake.
func TestClose(t *testing.T) {
	srv := startEcho(t)
	normal := closeFrame(closeBody(1000, ""))
	convs := []conv{
		{"7.1.1 close after a message", func(c *rawConn) {
			c.send(text("Hello World!"), normal)
			c.expectText("Hello World!")
			c.expectClose(1000)
		}},
		{"7.1.2 close twice", func(c *rawConn) { c.send(normal, normal); c.expectClose(1000) }},
		{"7.1.3 ping after close is not answered", func(c *rawConn) { c.send(normal, ping("too late")); c.expectClose(1000) }},
		{"7.1.4 text after close is not echoed", func(c *rawConn) { c.send(normal, text("too late")); c.expectClose(1000) }},
		{"7.1.5 close inside a fragmented message", func(c *rawConn) {
			c.send(first(ws.OpText, "fragment1"), normal, cont("fragment2", true))
			c.expectClose(1000)
		}},
		{"7.1.6 large message, ping and close", func(c *rawConn) {
			big := strings.Repeat("BAsd7&jh23", 26214) // 256 KiB
			c.send(text(big), ping("ping"), normal)
			c.expectText(big)
			c.expectPong("ping")
			c.expectClose(1000)
		}},
		{"7.1.x close in separate writes after a delay-free message", func(c *rawConn) {
			c.send(text("first"))
			c.expectText("first")
			c.send(normal)
			c.expectClose(1000)
		}},
		{"7.3.1 empty close", func(c *rawConn) { c.send(closeFrame(nil)); c.expectClose(0) }},
		{"7.3.2 one-byte close", fails(ws.StatusProtocolError, nil, closeFrame([]byte{0x03}))},
		{"7.3.3 close with code only", func(c *rawConn) { c.send(normal); c.expectClose(1000) }},
		{"7.3.4 close with reason", func(c *rawConn) {
			c.send(closeFrame(closeBody(1000, "Hello World!")))
			c.expectFrameThenEOF(ws.OpClose, closeBody(1000, "Hello World!"))
		}},
		{"7.3.5 close with 123-byte reason", func(c *rawConn) {
			body := closeBody(1000, strings.Repeat("*", 123))
			c.send(closeFrame(body))
			c.expectFrameThenEOF(ws.OpClose, body)
		}},
		{"7.3.6 close with 124-byte reason (126-byte payload)", fails(ws.StatusProtocolError, nil, closeFrame(closeBody(1000, strings.Repeat("*", 124))))},
		{"7.5.1 close with invalid UTF-8 reason", fails(ws.StatusInvalidFramePayloadData, nil, closeFrame(closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")))},
		{"close reason of valid multi-byte UTF-8", func(c *rawConn) {
			body := closeBody(4001, "再见 👋")
			c.send(closeFrame(body))
			c.expectFrameThenEOF(ws.OpClose, body)
		}},
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		convs = append(convs, conv{"7.7 valid code " + strconv.Itoa(int(code)) + " is echoed", func(c *rawConn) {
			c.send(closeFrame(closeBody(code, "")))
			c.expectClose(ws.StatusCode(code))
		}})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		family := "7.9"
		if code >= 5000 {
			family = "7.13"
		}
		convs = append(convs, conv{family + " invalid code " + strconv.Itoa(int(code)), fails(ws.StatusProtocolError, nil, closeFrame(closeBody(code, "")))})
	}
	runConvs(t, srv, "/ws/echo", convs)
}

// expectFrameThenEOF reads exactly one frame, then the server's end of the connection.
func (c *rawConn) expectFrameThenEOF(op ws.OpCode, payload []byte) {
	c.t.Helper()
	c.expectFrame(op, payload)
	c.expectEOF()
}

// Family 9 (limits and large messages) and the message size limit.
func TestLimits(t *testing.T) {
	srv := startEcho(t)
	const limit = 16 << 20 // the echo endpoint's limit (protocol-v1: conformance suites send up to 16 MiB)
	mib := payloadOf(1 << 20)
	convs := []conv{
		{"9.1 text 1 MiB", func(c *rawConn) { c.send(text(string(mib))); c.expectText(string(mib)) }},
		{"9.2 binary 4 MiB", func(c *rawConn) {
			p := bytes.Repeat(mib, 4)
			c.send(binaryFrame(p))
			c.expectBinary(p)
		}},
		{"9.1.6 text of exactly the limit (16 MiB)", func(c *rawConn) {
			p := bytes.Repeat(mib, 16)
			c.send(text(string(p)))
			c.expectText(string(p))
		}},
		{"9.3 text 4 MiB in 64 KiB fragments", func(c *rawConn) {
			p := bytes.Repeat(mib, 4)
			c.send(fragments(ws.OpText, p, 64<<10)...)
			c.expectText(string(p))
		}},
		{"9.4 binary 1 MiB in 256-byte fragments", func(c *rawConn) {
			c.send(fragments(ws.OpBinary, mib, 256)...)
			c.expectBinary(mib)
		}},
		{"9.5 text 1 MiB in 1 KiB writes", func(c *rawConn) { c.sendChunked(1024, text(string(mib))); c.expectText(string(mib)) }},
		{"9.6 binary 64 KiB in 64-byte writes", func(c *rawConn) {
			p := payloadOf(64 << 10)
			c.sendChunked(64, binaryFrame(p))
			c.expectBinary(p)
		}},
		{"9.7 1000 text messages in one write, echoed in order", func(c *rawConn) {
			var frames []frame
			for i := 0; i < 1000; i++ {
				frames = append(frames, text("message "+strconv.Itoa(i)))
			}
			c.send(frames...)
			for i := 0; i < 1000; i++ {
				c.expectText("message " + strconv.Itoa(i))
			}
		}},
		{"9.8 200 binary round trips", func(c *rawConn) {
			for i := 0; i < 200; i++ {
				p := []byte(strconv.Itoa(i))
				c.send(binaryFrame(p))
				c.expectBinary(p)
			}
		}},
		{"oversize refused from the header alone (32 MiB claimed)", fails(ws.StatusMessageTooBig, nil, frame{op: ws.OpBinary, length: 32 << 20})},
		{"oversize refused from the header alone (limit + 1)", fails(ws.StatusMessageTooBig, []string{"ok"}, text("ok"), frame{op: ws.OpText, length: limit + 1})},
		{"oversize refused from the header alone (2^63-1)", fails(ws.StatusMessageTooBig, nil, frame{op: ws.OpText, length: 1<<63 - 1})},
		{"oversize across fragments refused from the continuation's header", func(c *rawConn) {
			c.send(frame{op: ws.OpText, payload: mib, notFin: true}, frame{op: ws.OpContinuation, length: int64(limit - len(mib) + 1)})
			c.expectClose(ws.StatusMessageTooBig)
		}},
		{"oversize header in 1-byte writes", func(c *rawConn) {
			c.sendChunked(1, frame{op: ws.OpBinary, length: 32 << 20})
			c.expectClose(ws.StatusMessageTooBig)
		}},
	}
	runConvs(t, srv, "/ws/echo", convs)
}

// fragments splits p into a fragmented message of size-byte fragments.
func fragments(op ws.OpCode, p []byte, size int) []frame {
	var frames []frame
	for off := 0; off < len(p); off += size {
		f := frame{op: ws.OpContinuation, payload: p[off:min(off+size, len(p))], notFin: off+size < len(p)}
		if off == 0 {
			f.op = op
		}
		frames = append(frames, f)
	}
	return frames
}

// Family 10: a large message in many fragments (what autofragmenting clients send).
func TestAutoFragmentation(t *testing.T) {
	srv := startEcho(t)
	p := payloadOf(65536)
	runConvs(t, srv, "/ws/echo", []conv{
		{"10.1.1 65536-byte text in 1300-byte fragments", func(c *rawConn) {
			c.send(fragments(ws.OpText, p, 1300)...)
			c.expectText(string(p))
		}},
		{"10.1.1 the same in 1300-byte writes", func(c *rawConn) {
			c.sendChunked(1300, fragments(ws.OpText, p, 1300)...)
			c.expectText(string(p))
		}},
	})
}
