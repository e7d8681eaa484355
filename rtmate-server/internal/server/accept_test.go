package server

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRouteRequest(t *testing.T) {
	const hdr = "Host: x\r\nUpgrade: websocket\r\n\r\n"
	cases := []struct {
		name string
		in   string
		echo bool
		want route
		end  int // for routeWS/routeEcho: the request's length
	}{
		{"empty", "", false, routeMore, 0},
		{"partial line", "GET /w", false, routeMore, 0},
		{"ws, header incomplete", "GET /ws HTTP/1.1\r\nHost: x\r\n", false, routeMore, 0},
		{"ws", "GET /ws HTTP/1.1\r\n" + hdr, false, routeWS, 0},
		{"ws with query", "GET /ws?a=b HTTP/1.1\r\n" + hdr, false, routeWS, 0},
		{"ws, frame after", "GET /ws HTTP/1.1\r\n" + hdr + "\x81\x80", false, routeWS, -2},
		{"bare LF", "GET /ws HTTP/1.1\nHost: x\n\n", false, routeWS, 0},
		{"echo on", "GET /ws/echo HTTP/1.1\r\n" + hdr, true, routeEcho, 0},
		{"echo off", "GET /ws/echo HTTP/1.1\r\n" + hdr, false, routeHTTP, 0},
		{"other path", "GET /healthz HTTP/1.1\r\n", false, routeHTTP, 0},
		{"prefix path", "GET /wsx HTTP/1.1\r\n", false, routeHTTP, 0},
		{"trailing slash", "GET /ws/ HTTP/1.1\r\n", false, routeHTTP, 0},
		{"absolute form", "GET http://x/ws HTTP/1.1\r\n", false, routeHTTP, 0},
		{"pusher", "GET /app/k?protocol=7 HTTP/1.1\r\n" + hdr, false, routePusher, 0},
		{"pusher, absolute form", "GET http://x:1/app/k?protocol=7 HTTP/1.1\r\n" + hdr, false, routePusher, 0},
		{"pusher, absolute form, upper-case scheme", "GET HTTPS://x/app/k HTTP/1.1\r\n" + hdr, false, routePusher, 0},
		{"absolute form without a path", "GET http://x HTTP/1.1\r\n", false, routeHTTP, 0},
		{"absolute form, other path", "GET http://x/healthz HTTP/1.1\r\n", false, routeHTTP, 0},
		{"absolute form, bare /app/", "GET http://x/app/ HTTP/1.1\r\n" + hdr, false, routeHTTP, 0},
		{"POST", "POST /ws HTTP/1.1\r\n", false, routeHTTP, 0},
		{"lowercase method", "get /ws HTTP/1.1\r\n", false, routeHTTP, 0},
		{"no version", "GET /ws\r\n", false, routeHTTP, 0},
		{"garbage line", "\x16\x03\x01\n", false, routeHTTP, 0},
		{"endless first line", strings.Repeat("a", maxRequestLine+1), false, routeHTTP, 0},
		{"ws header too large", "GET /ws HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", maxHandshakeBytes/6+1), false, routeTooLarge, 0},
		{"ws header just fits", "GET /ws HTTP/1.1\r\n" + strings.Repeat("X", maxHandshakeBytes-22) + "\r\n\r\n", false, routeWS, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, end := routeRequest([]byte(tc.in), tc.echo)
			if r != tc.want {
				t.Fatalf("route %d, want %d", r, tc.want)
			}
			if r == routeWS || r == routeEcho {
				want := len(tc.in) + tc.end
				if end != want {
					t.Fatalf("end %d, want %d", end, want)
				}
			}
		})
	}
}

// FuzzRouteRequest: the router never panics, a WebSocket request ends with its blank line,
// and the decision does not depend on how the bytes were split into reads: a prefix either
// asks for more or decides the same as the whole.
func FuzzRouteRequest(f *testing.F) {
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85"), true, 20)
	f.Add([]byte("GET /ws/echo?x HTTP/1.1\nA: b\n\n"), true, 3)
	f.Add([]byte("POST /api/publish HTTP/1.1\r\n"), false, 7)
	f.Fuzz(func(t *testing.T, in []byte, echo bool, cut int) {
		r, end := routeRequest(in, echo)
		if r == routeWS || r == routeEcho {
			if end <= 0 || end > len(in) || end > maxHandshakeBytes || in[end-1] != '\n' {
				t.Fatalf("end %d of %d bytes", end, len(in))
			}
			if !bytes.HasSuffix(in[:end], []byte("\n\n")) && !bytes.HasSuffix(in[:end], []byte("\n\r\n")) {
				t.Fatalf("request %q does not end with a blank line", in[:end])
			}
		}
		if len(in) == 0 {
			return
		}
		cut = int(uint(cut) % uint(len(in)+1))
		pr, pend := routeRequest(in[:cut], echo)
		if pr != routeMore && (pr != r || pend != end) {
			t.Fatalf("prefix of %d bytes routed %d/%d, whole %d/%d", cut, pr, pend, r, end)
		}
	})
}

// BenchmarkHandshake: the event loop's WebSocket handshake, from the request bytes to the
// 101 written to the socket (a socketpair; the benchmark reads the response back).
func BenchmarkHandshake(b *testing.B) {
	s := benchServer(b, 0)
	conn, peer := benchConn(b, s, false)
	fd := conn.fd
	req := []byte("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:3900\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\n\r\n")
	w := newWorker()
	resp := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		c := &Conn{srv: s, fd: fd}
		if rest, ok := c.handshake(w, req); !ok || len(rest) != 0 || c.origin != "https://app.example" {
			b.Fatalf("handshake: ok %v, rest %q, origin %q", ok, rest, c.origin)
		}
		if n, err := unix.Read(peer, resp); err != nil || !bytes.HasPrefix(resp[:n], []byte("HTTP/1.1 101 ")) {
			b.Fatalf("response %q: %v", resp[:max(n, 0)], err)
		}
	}
}
