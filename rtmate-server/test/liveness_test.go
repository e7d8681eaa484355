package test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// TestPongTimeout: a peer that stops answering is cut off pong_timeout after the server's
// ping, whatever its frame reader was in the middle of, long before idle_timeout; a peer that
// answers the pings stays.
func TestPongTimeout(t *testing.T) {
	t.Parallel()
	const (
		ping = 1 * time.Second
		pong = 1 * time.Second
		idle = 60 * time.Second
		// cutBy bounds the wait well below idle_timeout, so the pong timeout alone can pass.
		cutBy = 15 * time.Second
	)
	srv := start(t, func(cfg *config.Config) {
		cfg.PingInterval, cfg.PongTimeout, cfg.IdleTimeout = ping, pong, idle
		cfg.HandshakeTimeout = 2 * time.Second
		devApp(cfg).Limits.AuthTimeout = idle
	})

	// Each case leaves a connection in one state of the reader and returns it; the server
	// must then ping it (when upgraded) and hang up.
	cases := []struct {
		name     string
		upgraded bool
		stall    func(t *testing.T) net.Conn
	}{
		{"mid-handshake", false, func(t *testing.T) net.Conn {
			nc := dialTCP(t, srv.Addr)
			if _, err := io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: web"); err != nil {
				t.Fatal(err)
			}
			return nc
		}},
		{"authenticated, between frames", true, func(t *testing.T) net.Conn {
			r := authedRaw(t, srv.Addr)
			return r.nc
		}},
		{"unauthenticated, between frames", true, func(t *testing.T) net.Conn {
			return rawDial(t, srv.Addr).nc
		}},
		{"mid-frame header", true, func(t *testing.T) net.Conn {
			r := authedRaw(t, srv.Addr)
			h := frameHeader(true, opText, 300, [4]byte{1, 2, 3, 4})
			mustWrite(t, r, h[:3]) // the extended length is cut in two
			return r.nc
		}},
		{"mid-frame payload", true, func(t *testing.T) net.Conn {
			r := authedRaw(t, srv.Addr)
			f := frame(true, opText, []byte(`{"event":"subscribe","payload":{"channel":"news"},"id":"9"}`))
			mustWrite(t, r, f[:len(f)-10])
			return r.nc
		}},
		{"mid-fragmented message", true, func(t *testing.T) net.Conn {
			r := authedRaw(t, srv.Addr)
			mustWrite(t, r, frame(false, opText, []byte(`{"event":"subscribe",`)))
			return r.nc
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc := tc.stall(t)
			last := time.Now()
			pinged, err := waitHangUp(nc, last.Add(cutBy))
			took := time.Since(last)
			if err != nil {
				t.Fatalf("after %v: %v", took, err)
			}
			if tc.upgraded && !pinged {
				t.Errorf("hung up after %v without pinging first", took)
			}
			// The lower bound shows the cut came from the timer, not from the partial input.
			if floor := pong / 2; took < floor {
				t.Errorf("hung up after %v, before any timeout could expire", took)
			}
		})
	}

	t.Run("answering pings keeps it open", func(t *testing.T) {
		t.Parallel()
		r := authedRaw(t, srv.Addr)
		until := time.Now().Add(3 * (ping + pong))
		pings := 0
		for time.Now().Before(until) {
			_ = r.nc.SetReadDeadline(until)
			op, payload, err := r.readFrameRaw()
			if errors.Is(err, errDeadline) {
				break
			}
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if op == opPing {
				pings++
				mustWrite(t, r, frame(true, opPong, payload))
			}
		}
		if pings < 2 {
			t.Fatalf("%d pings in %v, want a ping per ping_interval", pings, 3*(ping+pong))
		}
		// Still served: a request gets its answer.
		mustWrite(t, r, authFrame(t, `"again"`))
		_ = r.nc.SetReadDeadline(time.Now().Add(readTimeout))
		r.expectAuthed("again")
	})
}

var errDeadline = errors.New("read deadline")

// waitHangUp reads (and discards) what the server sends until it closes the socket, and says
// whether a ping came first.
func waitHangUp(nc net.Conn, deadline time.Time) (pinged bool, err error) {
	_ = nc.SetReadDeadline(deadline)
	buf := make([]byte, 512)
	for {
		n, err := nc.Read(buf)
		for i := 0; i+1 < n; i++ {
			// An unmasked server ping with an empty payload: 0x89 0x00.
			if buf[i] == 0x80|opPing && buf[i+1] == 0 {
				pinged = true
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) || isReset(err):
			return pinged, nil
		default:
			return pinged, err
		}
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, readTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

func authedRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	r := rawDial(t, addr)
	mustWrite(t, r, authFrame(t, `"a1"`))
	r.expectAuthed("a1")
	return r
}

func mustWrite(t *testing.T, r *rawConn, b []byte) {
	t.Helper()
	if err := r.write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readFrameRaw is readFrame under the caller's deadline, which it reports as errDeadline.
func (r *rawConn) readFrameRaw() (byte, []byte, error) {
	op, p, err := r.readFrameNoDeadline()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, nil, errDeadline
	}
	return op, p, err
}
