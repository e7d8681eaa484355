package server

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// The benchmarks in this package run the real Conn over unix socketpairs: every response and
// push is really written (writev/write), but to a local peer, so a benchmark measures the
// event loop's own cost. Run them with
//
//	go test -run '^$' -bench . -benchmem ./rtmate-server/internal/server/
//
// allocs/op counts every allocation in the process during the loop, the pool workers'
// included.

// benchServer builds a server that is not listening: its pool, hub and engine run, and
// connections are attached by hand. Rate limits are off so that the loop measures work, not
// 429s. history sets the development app's history size (0: none).
func benchServer(b testing.TB, history int) *Server {
	b.Helper()
	return benchServerWith(b, history, nil)
}

// benchServerWith is benchServer with adjust applied to the config before validation.
func benchServerWith(b testing.TB, history int, adjust func(*config.Config)) *Server {
	b.Helper()
	cfg := config.Dev()
	cfg.Listen = "127.0.0.1:0"
	cfg.Defaults.Rate = -1
	cfg.Apps[0].Limits.Rate = -1
	cfg.Apps[0].Limits.HistorySize = history // 0 takes the defaults' 0: none
	cfg.Apps[0].Limits.MaxQueueBytes = 64 << 20
	if adjust != nil {
		adjust(cfg)
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, zap.NewNop(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.engine.Start(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.poller.Run(s.onEvent); err != nil {
			b.Error(err)
		}
	}()
	b.Cleanup(func() {
		s.pool.close()
		if err := s.poller.Close(); err != nil {
			b.Error(err)
		}
		<-done
	})
	return s
}

// benchConn attaches a connection whose socket is one end of a socketpair, and returns the
// other end (non-blocking) for the benchmark to play the client. authed makes it a demo-app
// connection, as after a successful auth.
func benchConn(b testing.TB, s *Server, authed bool) (*Conn, int) {
	b.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, fd := range fds {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	fd := fds[0] // the server side, owned by the connection like an accepted socket
	if err := unix.SetNonblock(fd, true); err != nil {
		b.Fatal(err)
	}
	cfg := s.cfg.Load()
	c := &Conn{
		srv:      s,
		fd:       fd,
		openedAt: nowNano(),
		clientID: s.nodeID + "-bench" + strconv.Itoa(fd),
		maxQueue: 64 << 20,
	}
	c.rd.MaxMessage = cfg.Defaults.MaxMessageSize
	c.lastSeen.Store(nowNano())
	c.upgraded.Store(true) // attached after its handshake, as the accept path would
	s.table.put(c)
	if authed {
		c.appID, c.userID, c.tokenSub = auth.DevAppID, "bench-user", "bench-user"
		c.authed.Store(true)
		s.clients.add(c)
	}
	b.Cleanup(func() {
		s.table.remove(c)
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return c, fds[1]
}

// clientFrame is a masked client text frame, as a browser sends it.
func clientFrame(payload string) []byte {
	var buf bytes.Buffer
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(payload))}
	if err := ws.WriteHeader(&buf, h); err != nil {
		panic(err)
	}
	p := []byte(payload)
	ws.Cipher(p, h.Mask, 0)
	buf.Write(p)
	return buf.Bytes()
}

// frameReader counts complete server frames read from the client's end, without allocating.
type frameReader struct {
	fd   int
	buf  []byte
	have int
}

func newFrameReader(fd int) *frameReader { return &frameReader{fd: fd, buf: make([]byte, 1<<20)} }

// waitFrames reads until n frames arrived (yielding while the socket is empty: pushes are
// written by pool workers) and returns their total size.
func (r *frameReader) waitFrames(b testing.TB, n int) int {
	total := 0
	deadline := time.Now().Add(10 * time.Second) // a failure bound: a lost frame must not hang CI
	for ; n > 0; n-- {
		size := r.next(b, deadline, n)
		total += size
		r.drop(size)
	}
	return total
}

// next reads until a whole frame is at the start of r.buf and returns its size; missing is
// how many frames the caller still waits for, for the failure message.
func (r *frameReader) next(tb testing.TB, deadline time.Time, missing int) int {
	for {
		if size := serverFrameSize(r.buf[:r.have]); size > 0 {
			return size
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d frames still missing after 10 s", missing)
		}
		m, err := unix.Read(r.fd, r.buf[r.have:])
		switch {
		case m > 0:
			r.have += m
		case errors.Is(err, unix.EAGAIN):
			runtime.Gosched()
		default:
			tb.Fatalf("client read: %d %v", m, err)
		}
	}
}

// drop discards the frame of size bytes at the start of r.buf.
func (r *frameReader) drop(size int) {
	copy(r.buf, r.buf[size:r.have])
	r.have -= size
}

// serverFrameSize is the size of the complete unmasked frame at the start of b, or 0.
func serverFrameSize(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n, hl := int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0
		}
		n, hl = int(b[2])<<8|int(b[3]), 4
	case 127:
		if len(b) < 10 {
			return 0
		}
		n, hl = 0, 10
		for _, x := range b[2:10] {
			n = n<<8 | int(x)
		}
	}
	if len(b) < hl+n {
		return 0
	}
	return hl + n
}

// BenchmarkDispatch runs one request per iteration through the whole read path: the client
// writes a masked frame; the connection's read slot reads it from the socket, decodes the
// frame (wire.Reader.Feed), dispatches the event and writes the response; the client reads it.
func BenchmarkDispatch(b *testing.B) {
	cases := []struct {
		name    string
		history int
		req     string
		setup   string // a request run once before the loop
		frames  int    // frames each request produces: the response, plus pushes
	}{
		{name: "ping", req: `{"event":"ping","id":1}`, frames: 1},
		{name: "subscribe/already-subscribed", req: `{"event":"subscribe","payload":{"channel":"bench"},"id":2}`, frames: 1,
			setup: `{"event":"subscribe","payload":{"channel":"bench"}}`},
		{name: "subscribe+unsubscribe", req: `{"event":"subscribe","payload":{"channel":"bench"},"id":2}`, frames: 1},
		{name: "messageSend/no-subscribers", req: `{"event":"messageSend","payload":{"channel":"bench","data":{"text":"hello","n":1}},"id":3}`, frames: 1},
		{name: "messageSend/no-subscribers/history", history: 100, req: `{"event":"messageSend","payload":{"channel":"bench","data":{"text":"hello","n":1}},"id":3}`, frames: 1},
		{name: "messageSend/sender-subscribed", req: `{"event":"messageSend","payload":{"channel":"bench","data":{"text":"hello","n":1}},"id":3}`, frames: 2,
			setup: `{"event":"subscribe","payload":{"channel":"bench"}}`},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := benchServer(b, tc.history)
			c, peer := benchConn(b, s, true)
			w := newWorker()
			rd := newFrameReader(peer)
			if tc.setup != "" {
				if _, err := unix.Write(peer, clientFrame(tc.setup)); err != nil {
					b.Fatal(err)
				}
				c.readSlot(w)
				rd.waitFrames(b, 1)
			}
			req := clientFrame(tc.req)
			var unsub []byte
			if tc.name == "subscribe+unsubscribe" {
				unsub = clientFrame(`{"event":"unsubscribe","payload":{"channel":"bench"},"id":4}`)
			}
			step := func() {
				if _, err := unix.Write(peer, req); err != nil {
					b.Fatal(err)
				}
				c.readSlot(w)
				rd.waitFrames(b, tc.frames)
				if unsub != nil {
					if _, err := unix.Write(peer, unsub); err != nil {
						b.Fatal(err)
					}
					c.readSlot(w)
					rd.waitFrames(b, 1)
				}
			}
			for i := 0; i < 100; i++ { // warm the scratch buffers, pools and maps
				step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.StopTimer()
			if c.failed || c.closingRd {
				b.Fatal("the connection failed during the benchmark")
			}
		})
	}
}
