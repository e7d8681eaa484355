package test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// The event loop accepts every connection itself: WebSocket handshakes on /ws are answered
// there, everything else is replayed to net/http. These tests speak raw HTTP to check both
// sides of that split.

func upgradeRequest(target, host string, extra ...string) string {
	var key [16]byte
	_, _ = rand.Read(key[:])
	return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// exchange writes the parts of a request with a pause between them (so that each is its own
// TCP segment) and returns the first response.
func exchange(t *testing.T, addr string, parts ...string) (*http.Response, *rawConn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, readTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(readTimeout))
	for i, p := range parts {
		if i > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := io.WriteString(nc, p); err != nil {
			t.Fatalf("write part %d: %v", i, err)
		}
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	return resp, &rawConn{t: t, nc: nc, br: br}
}

func authFrame(t *testing.T, id string) []byte {
	t.Helper()
	req, err := encodeRequest(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": testserver.DevToken(t, "hs", time.Hour)}, id, "")
	if err != nil {
		t.Fatal(err)
	}
	return frame(true, opText, req)
}

// expectAuthed reads the auth response with the given id.
func (r *rawConn) expectAuthed(id string) {
	r.t.Helper()
	op, p, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("auth response: %v", err)
	}
	var m struct {
		Code int    `json:"code"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal(p, &m); op != opText || err != nil || m.Code != 200 || m.ID != id {
		r.t.Fatalf("auth response op %d %q (%v)", op, p, err)
	}
}

// TestHandshakeOnTheEventLoop: handshakes in any number of pieces, with the first frames in
// the same segment, and through net/http for the targets the loop leaves to it.
func TestHandshakeOnTheEventLoop(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	req := upgradeRequest("/ws?v=1", srv.Addr)
	// Each case sends the request and the first authFrameLen(sent) bytes of the auth frame;
	// the test sends the rest after the 101.
	cases := []struct {
		name  string
		parts func(auth []byte) []string
		sent  func(auth []byte) int
	}{
		{"one segment", func([]byte) []string { return []string{req} }, nil},
		{"request and first frame together", func(a []byte) []string { return []string{req + string(a)} },
			func(a []byte) int { return len(a) }},
		{"request in three pieces, frame split", func(a []byte) []string {
			return []string{req[:3], req[3:40], req[40:] + string(a[:5])}
		}, func([]byte) int { return 5 }},
		{"header end byte by byte", func([]byte) []string {
			n := len(req)
			return []string{req[:n-3], req[n-3 : n-2], req[n-2 : n-1], req[n-1:]}
		}, nil},
		{"absolute-form target goes through net/http", func([]byte) []string {
			return []string{upgradeRequest("http://"+srv.Addr+"/ws", srv.Addr)}
		}, nil},
		{"bare LF line ends", func([]byte) []string { return []string{strings.ReplaceAll(req, "\r\n", "\n")} }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := authFrame(t, `"h1"`)
			resp, rc := exchange(t, srv.Addr, tc.parts(a)...)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %s", resp.Status)
			}
			sent := 0
			if tc.sent != nil {
				sent = tc.sent(a)
			}
			if sent < len(a) {
				if err := rc.write(a[sent:]); err != nil {
					t.Fatal(err)
				}
			}
			rc.expectAuthed("h1")
		})
	}
}

// TestHandshakeRefusals: every malformed or foreign request gets an HTTP answer, not a hang.
func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	h := srv.Addr
	cases := []struct {
		name string
		req  string
		want int
	}{
		{"no key", "GET /ws HTTP/1.1\r\nHost: " + h + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
		{"version 8", strings.Replace(upgradeRequest("/ws", h), "Version: 13", "Version: 8", 1), 426},
		{"no upgrade header", "GET /ws HTTP/1.1\r\nHost: " + h + "\r\n\r\n", 400},
		{"HTTP/1.0", strings.Replace(upgradeRequest("/ws", h), "HTTP/1.1", "HTTP/1.0", 1), 505},
		{"POST /ws", "POST /ws HTTP/1.1\r\nHost: " + h + "\r\nContent-Length: 0\r\n\r\n", 405},
		{"header over 64 KiB", upgradeRequest("/ws", h, "X-Big: "+strings.Repeat("a", 70<<10)+"\r\n"), 431},
		{"unknown path", "GET /nope HTTP/1.1\r\nHost: " + h + "\r\n\r\n", 404},
		{"echo path when off", upgradeRequest("/ws/echo", h), 404},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := exchange(t, srv.Addr, tc.req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %s, want %d", resp.Status, tc.want)
			}
		})
	}
	// The server is unharmed.
	authed(t, srv, "after").ok(protocol.EventPing, nil)
}

// TestPlainHTTPSharesThePort: keep-alive and pipelined requests reach net/http intact, the
// bytes the event loop read included.
func TestPlainHTTPSharesThePort(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	get := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	resp, rc := exchange(t, srv.Addr, get[:4], get[4:]+get) // the second one pipelined
	for i := range 3 {
		if i > 0 {
			var err error
			if resp, err = http.ReadResponse(rc.br, nil); err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "ok\n" {
			t.Fatalf("response %d: %s %q %v", i, resp.Status, body, err)
		}
		if i == 1 { // and one more on the same keep-alive connection
			if err := rc.write([]byte(get)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestHandshakeTimeout: a connection that never completes its request is dropped after
// handshake_timeout, whether it sent nothing, a partial request line or a partial header.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) { cfg.HandshakeTimeout = 300 * time.Millisecond })
	for _, sent := range []string{"", "GET /w", "GET /ws HTTP/1.1\r\nHost: x\r\n"} {
		t.Run(fmt.Sprintf("%q", sent), func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", srv.Addr, readTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := io.WriteString(nc, sent); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = nc.SetReadDeadline(time.Now().Add(readTimeout))
			_, err = nc.Read(make([]byte, 1))
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("read: %v, want the server to hang up", err)
			}
			if time.Since(start) < 200*time.Millisecond {
				t.Fatalf("dropped after %v, before the handshake timeout", time.Since(start))
			}
		})
	}
	if got := srv.Stats().Connections; got != 0 {
		t.Errorf("%d connections left in the table", got)
	}
}

// TestEchoPathOnTheEventLoop: /ws/echo takes the same fast path when conformance_echo is on.
func TestEchoPathOnTheEventLoop(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) { cfg.ConformanceEcho = true })
	resp, rc := exchange(t, srv.Addr, upgradeRequest("/ws/echo", srv.Addr)+string(frame(true, opText, []byte("hi"))))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s", resp.Status)
	}
	op, p, err := rc.readFrame()
	if err != nil || op != opText || string(p) != "hi" {
		t.Fatalf("echo: op %d %q %v", op, p, err)
	}
}
