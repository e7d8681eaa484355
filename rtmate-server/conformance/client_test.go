package conformance

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// convTimeout bounds one conversation. It only stops a broken test from hanging; no test
// asserts how fast the server is.
const convTimeout = 20 * time.Second

// startEcho runs a server with the conformance echo endpoint.
func startEcho(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.Config(t, func(c *config.Config) { c.ConformanceEcho = true }), server.Options{})
}

// startDefault runs a server with the development configuration, echo off.
func startDefault(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.Start(t, nil, server.Options{})
}

// rawConn is a client that writes frames byte for byte as the test says, valid or not, and
// reads the server's frames strictly.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dial opens a TCP connection and upgrades it with a handwritten request.
func dial(t *testing.T, srv *testserver.Server, path string) *rawConn {
	t.Helper()
	c, resp := upgrade(t, srv, path)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: Sec-WebSocket-Accept %q", got)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("upgrade: unrequested extensions %q", ext)
	}
	return c
}

// dialExpectingStatus sends an upgrade request and returns the response's status.
func dialExpectingStatus(t *testing.T, srv *testserver.Server, path string) int {
	t.Helper()
	_, resp := upgrade(t, srv, path)
	return resp.StatusCode
}

func upgrade(t *testing.T, srv *testserver.Server, path string) (*rawConn, *http.Response) {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(convTimeout)); err != nil {
		t.Fatal(err)
	}
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3's sample
	req := "GET " + path + " HTTP/1.1\r\nHost: " + srv.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatalf("write upgrade: %v", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return &rawConn{t: t, nc: nc, br: br}, resp
}

// frame is a client frame to send. The zero value of the flags is a final, masked frame.
type frame struct {
	op       ws.OpCode
	payload  []byte
	notFin   bool
	rsv      byte
	unmasked bool
	length   int64 // when > 0, the length the header claims, whatever payload holds
}

func (f frame) bytes() []byte {
	h := ws.Header{Fin: !f.notFin, Rsv: f.rsv, OpCode: f.op, Masked: !f.unmasked, Length: int64(len(f.payload))}
	if f.length > 0 {
		h.Length = f.length
	}
	var buf bytes.Buffer
	if h.Masked {
		if _, err := rand.Read(h.Mask[:]); err != nil {
			panic(err)
		}
	}
	if err := ws.WriteHeader(&buf, h); err != nil {
		panic(err)
	}
	p := bytes.Clone(f.payload)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	buf.Write(p)
	return buf.Bytes()
}

func text(s string) frame                { return frame{op: ws.OpText, payload: []byte(s)} }
func binaryFrame(b []byte) frame         { return frame{op: ws.OpBinary, payload: b} }
func ping(s string) frame                { return frame{op: ws.OpPing, payload: []byte(s)} }
func pong(s string) frame                { return frame{op: ws.OpPong, payload: []byte(s)} }
func closeFrame(p []byte) frame          { return frame{op: ws.OpClose, payload: p} }
func first(op ws.OpCode, s string) frame { return frame{op: op, payload: []byte(s), notFin: true} }
func cont(s string, fin bool) frame {
	return frame{op: ws.OpContinuation, payload: []byte(s), notFin: !fin}
}

func closeBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// send writes the frames in one write.
func (c *rawConn) send(frames ...frame) {
	c.t.Helper()
	c.write(encode(frames...))
}

func encode(frames ...frame) []byte {
	var all []byte
	for _, f := range frames {
		all = append(all, f.bytes()...)
	}
	return all
}

// sendChunked writes the frames in writes of at most chunk bytes, each its own syscall, so
// that the server reads them in pieces.
func (c *rawConn) sendChunked(chunk int, frames ...frame) {
	c.t.Helper()
	all := encode(frames...)
	for len(all) > 0 {
		n := min(chunk, len(all))
		c.write(all[:n])
		all = all[n:]
	}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// got is one server frame.
type got struct {
	op      ws.OpCode
	payload []byte
}

func (g got) String() string {
	p := g.payload
	if len(p) > 40 {
		return fmt.Sprintf("{op=%v %d bytes}", g.op, len(p))
	}
	return fmt.Sprintf("{op=%v %q}", g.op, p)
}

// read returns the next server frame, or io.EOF when the server closed its side. A frame
// that breaks the server's side of the protocol fails the test.
func (c *rawConn) read() (got, error) {
	c.t.Helper()
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return got{}, err
	}
	if err := ws.CheckHeader(h, ws.StateClientSide); err != nil {
		c.t.Fatalf("server frame %+v: %v", h, err)
	}
	if !h.Fin {
		c.t.Fatalf("server fragmented a message: %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("server frame payload: %v", err)
	}
	return got{op: h.OpCode, payload: p}, nil
}

func (c *rawConn) expectFrame(op ws.OpCode, payload []byte) {
	c.t.Helper()
	g, err := c.read()
	if err != nil {
		c.t.Fatalf("want %v frame of %d bytes, got %v", op, len(payload), err)
	}
	if g.op != op || !bytes.Equal(g.payload, payload) {
		c.t.Fatalf("want %v, got %v", got{op, payload}, g)
	}
}

func (c *rawConn) expectText(s string)   { c.t.Helper(); c.expectFrame(ws.OpText, []byte(s)) }
func (c *rawConn) expectBinary(b []byte) { c.t.Helper(); c.expectFrame(ws.OpBinary, b) }
func (c *rawConn) expectPong(s string)   { c.t.Helper(); c.expectFrame(ws.OpPong, []byte(s)) }

// expectClose reads the server's close frame, checks its code (0: an empty close payload)
// and that its reason is valid UTF-8, and then that the server sends nothing more and closes
// the TCP connection (or at least its sending side).
func (c *rawConn) expectClose(code ws.StatusCode) {
	c.t.Helper()
	g, err := c.read()
	if err != nil {
		c.t.Fatalf("want close %d, got %v", code, err)
	}
	if g.op != ws.OpClose {
		c.t.Fatalf("want close %d, got %v", code, g)
	}
	gotCode, reason := ws.StatusCode(0), ""
	if len(g.payload) > 0 {
		if len(g.payload) < 2 {
			c.t.Fatalf("server close payload %q", g.payload)
		}
		gotCode, reason = ws.ParseCloseFrameData(g.payload)
	}
	if gotCode != code {
		c.t.Fatalf("close code %d (%q), want %d", gotCode, reason, code)
	}
	if !utf8.ValidString(reason) {
		c.t.Fatalf("close reason %q is not valid UTF-8", reason)
	}
	c.expectEOF()
}

// expectEOF checks that the server sends no further frame and closes its side.
func (c *rawConn) expectEOF() {
	c.t.Helper()
	g, err := c.read()
	switch {
	case err == nil:
		c.t.Fatalf("frame %v after the server's close", g)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatal("the server did not close the connection")
	default:
		c.t.Fatalf("after close: %v", err)
	}
}

// finish answers the server's close (as a client must) and closes the socket.
func (c *rawConn) finish() {
	_, _ = c.nc.Write(closeFrame(closeBody(1000, "")).bytes()) // the server may be gone already
	c.nc.Close()
}

// roundTrip checks that a connection is alive and echoing.
func (c *rawConn) roundTrip() {
	c.t.Helper()
	c.send(text("still alive"))
	c.expectText("still alive")
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}
