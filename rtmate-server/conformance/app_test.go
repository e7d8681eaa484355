package conformance

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// pingEvent sends the protocol's ping event and checks the response: the connection is alive
// and dispatching.
func (c *rawConn) pingEvent() {
	c.t.Helper()
	c.send(text(`{"event":"ping","id":7}`))
	c.expectResponse(`ping`, 200)
}

func (c *rawConn) expectResponse(event string, code int) {
	c.t.Helper()
	g, err := c.read()
	if err != nil {
		c.t.Fatalf("want a %s response, got %v", event, err)
	}
	var resp struct {
		Code  int    `json:"code"`
		Event string `json:"event"`
		ID    int    `json:"id"`
	}
	if g.op != ws.OpText {
		c.t.Fatalf("want a text response, got %v", g)
	}
	if err := json.Unmarshal(g.payload, &resp); err != nil {
		c.t.Fatalf("response %q: %v", g.payload, err)
	}
	if resp.Code != code || resp.Event != event || resp.ID != 7 {
		c.t.Fatalf("response %s, want event %s code %d id 7", g.payload, event, code)
	}
}

// TestAppEndpoint runs the framing rules on the application endpoint, /ws, where messages are
// requests: the same reader, plus 1003 for binary messages and the app's 64 KiB limit.
func TestAppEndpoint(t *testing.T) {
	srv := startEcho(t)
	convs := []conv{
		{"binary message is unsupported data", fails(ws.StatusUnsupportedData, nil, binaryFrame([]byte{1, 2, 3}))},
		{"fragmented binary message is unsupported data", fails(ws.StatusUnsupportedData, nil, frame{op: ws.OpBinary, payload: []byte{1}, notFin: true}, cont("\x02", true))},
		{"binary after a request", func(c *rawConn) {
			c.send(text(`{"event":"ping","id":7}`), binaryFrame([]byte{1}))
			c.expectResponse("ping", 200)
			c.expectClose(ws.StatusUnsupportedData)
		}},
		{"invalid UTF-8", fails(ws.StatusInvalidFramePayloadData, nil, text("{\"event\":\"\xff\"}"))},
		{"rsv bit", fails(ws.StatusProtocolError, nil, frame{op: ws.OpText, payload: []byte(`{"event":"ping"}`), rsv: 4})},
		{"unmasked frame", fails(ws.StatusProtocolError, nil, frame{op: ws.OpText, payload: []byte(`{"event":"ping"}`), unmasked: true})},
		{"reserved opcode", fails(ws.StatusProtocolError, nil, frame{op: 0xb})},
		{"oversize header (64 KiB + 1 claimed)", fails(ws.StatusMessageTooBig, nil, frame{op: ws.OpText, length: 64<<10 + 1})},
		{"oversize header (32 MiB claimed)", fails(ws.StatusMessageTooBig, nil, frame{op: ws.OpText, length: 32 << 20})},
		{"ping frame is answered", func(c *rawConn) { c.send(ping("hb")); c.expectPong("hb") }},
		{"fragmented request", func(c *rawConn) {
			c.send(first(ws.OpText, `{"event":`), ping("between"), cont(`"ping","id":7}`, true))
			c.expectPong("between")
			c.expectResponse("ping", 200)
		}},
		{"request split mid-rune across fragments", func(c *rawConn) {
			msg := `{"event":"ping","id":7,"metadata":{"traceId":"追踪"}}`
			cut := strings.Index(msg, "追") + 1
			c.send(first(ws.OpText, msg[:cut]), cont(msg[cut:], true))
			c.expectResponse("ping", 200)
		}},
		{"client close is echoed", func(c *rawConn) {
			c.send(closeFrame(closeBody(1000, "bye")))
			c.expectFrameThenEOF(ws.OpClose, closeBody(1000, "bye"))
		}},
		{"invalid close code", fails(ws.StatusProtocolError, nil, closeFrame(closeBody(1005, "")))},
	}
	runConvs(t, srv, "/ws", convs)
}

// TestEchoDisabledByDefault checks that /ws/echo does not exist unless configured.
func TestEchoDisabledByDefault(t *testing.T) {
	srv := startDefault(t)
	c := dialExpectingStatus(t, srv, "/ws/echo")
	if c != 404 {
		t.Fatalf("GET /ws/echo without conformance_echo: status %d, want 404", c)
	}
}
