package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
)

// socketPair returns a client connection, as dialConn leaves it, and the server's end.
func socketPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { server.Close() })
	return client, server
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// benchPush is a server push of publication seq from source 5, its data padded to size.
func benchPush(seq uint64, size int) []byte {
	push := protocol.AppendMessagePush(nil, "bench-fanout", appendData(nil, time.Now().UnixNano(), seq, 5, size), "c-1", seq)
	return wireFrame(ws.OpText, true, string(push))
}

func newTestSubscriber(w *worker, nc net.Conn) *benchConn {
	return &benchConn{w: w, nc: nc, fd: -1, head: pushHeadFor("bench-fanout"), role: role{channel: 0, subscribe: true, source: -1, slotBase: 5, slots: 1}, seqs: make([]uint64, 1)}
}

// pollOne serves c from a started poll group; the returned stop ends it as the worker does.
func pollOne(t *testing.T, w *worker, c *benchConn) (stop func()) {
	t.Helper()
	g, err := newPollGroup(w, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.add(c); err != nil {
		t.Fatal(err)
	}
	if c.nc != nil || c.fd < 0 {
		t.Fatalf("not detached: nc %v fd %d", c.nc, c.fd)
	}
	var wg sync.WaitGroup
	g.start(&wg)
	return func() {
		w.stopping.Store(true)
		if err := g.stop(); err != nil {
			t.Error(err)
		}
		wg.Wait()
	}
}

func waitDone(t *testing.T, c *benchConn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.done.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the connection did not end")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPollLoop drives one detached subscriber through what a server can send: bytes
// already received during the setup, pushes cut anywhere, messages larger than the loop's
// buffer (whole and fragmented), a ping, and a close frame.
func TestPollLoop(t *testing.T) {
	client, server := socketPair(t)
	fds := openFds(t)
	w := &worker{lat: newShardedHist()}
	c := newTestSubscriber(w, client)

	first, second := benchPush(1, 64), benchPush(2, 64)
	c.rx.carry = append(append(c.rx.carry, first...), second[:10]...) // left over from the setup
	stop := pollOne(t, w, c)

	var stream bytes.Buffer
	stream.Write(second[10:])
	for seq := uint64(3); seq <= 50; seq++ {
		stream.Write(benchPush(seq, 64))
	}
	stream.Write(benchPush(51, 3*pollBufSize))
	whole := benchPush(52, 600<<10)
	// The same push in fragments: the frame header is redone around the payload.
	payload := whole[10:] // 64-bit length: 10 header bytes
	stream.Write(wireFrame(ws.OpText, false, string(payload[:300<<10])))
	stream.Write(wireFrame(ws.OpContinuation, true, string(payload[300<<10:])))
	// Single bytes first, so that some reads end inside a header, then the rest at once.
	data := stream.Bytes()
	for i := range 100 {
		if _, err := server.Write(data[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := server.Write(data[100:]); err != nil {
		t.Fatal(err)
	}

	if _, err := server.Write(wireFrame(ws.OpPing, true, "are you there")); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	h, err := ws.ReadHeader(server)
	if err != nil {
		t.Fatal(err)
	}
	if h.OpCode != ws.OpPong || !h.Masked || h.Length > ws.MaxControlFramePayloadSize {
		t.Fatalf("answer %+v", h)
	}
	pong := make([]byte, h.Length)
	if _, err := io.ReadFull(server, pong); err != nil {
		t.Fatal(err)
	}
	ws.Cipher(pong, h.Mask, 0)
	if string(pong) != "are you there" {
		t.Fatalf("pong %q", pong)
	}

	if _, err := server.Write(wireFrame(ws.OpClose, true, string(ws.NewCloseFrameBody(4001, "bye")))); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	stop()
	if c.received != 52 || c.unique.Load() != 52 || c.dups != 0 || c.gaps != 0 || c.other != 0 {
		t.Errorf("received %d unique %d dups %d gaps %d other %d", c.received, c.unique.Load(), c.dups, c.gaps, c.other)
	}
	if !c.lost || c.closeCode != 4001 || c.readErr == nil {
		t.Errorf("lost %v close code %d error %v", c.lost, c.closeCode, c.readErr)
	}
	if got := w.lat.merged().TotalCount(); got != 52 {
		t.Errorf("%d latencies recorded", got)
	}
	// The client's net.Conn and its duplicate are closed, and the loops' epoll and eventfd.
	if now := openFds(t); now != fds-1 {
		t.Errorf("%d descriptors open, %d before", now, fds)
	}
}

// TestPollEnds: a connection that goes away counts as lost with why, even when the FIN is
// queued behind the last bytes (one edge for both); one still open when the worker stops
// does not, and stopping releases everything.
func TestPollEnds(t *testing.T) {
	closePeer := func(s net.Conn) error { return s.Close() }
	tests := []struct {
		name        string
		beforeStart bool // the peer acts before the loop first waits
		peer        func(server net.Conn) error
		lost        bool
		wantErr     error
	}{
		{name: "peer closes", peer: closePeer, lost: true, wantErr: io.EOF},
		{name: "peer closes behind its last bytes", beforeStart: true, peer: closePeer, lost: true, wantErr: io.EOF},
		{name: "worker stops", peer: func(net.Conn) error { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := socketPair(t)
			fds := openFds(t)
			w := &worker{lat: newShardedHist()}
			c := newTestSubscriber(w, client)
			act := func() {
				if _, err := server.Write(benchPush(1, 64)); err != nil {
					t.Fatal(err)
				}
				if err := tt.peer(server); err != nil {
					t.Fatal(err)
				}
			}
			if tt.beforeStart {
				act()
				time.Sleep(10 * time.Millisecond) // for the FIN to be queued
			}
			stop := pollOne(t, w, c)
			if !tt.beforeStart {
				act()
			}
			if tt.lost {
				waitDone(t, c)
			}
			waitFor(context.Background(), time.Now().Add(10*time.Second), func() bool { return c.unique.Load() == 1 })
			stop()
			if !c.done.Load() || c.lost != tt.lost || c.closeCode != 0 || c.received != 1 {
				t.Errorf("done %v lost %v close code %d received %d", c.done.Load(), c.lost, c.closeCode, c.received)
			}
			if tt.wantErr != nil && c.readErr != tt.wantErr {
				t.Errorf("error %v, want %v", c.readErr, tt.wantErr)
			}
			if now := openFds(t); now > fds-1 {
				t.Errorf("%d descriptors open, %d before", now, fds)
			}
		})
	}
}

// TestPollGroupNeverStarted: stopping a group whose loops never ran still ends its
// connections and closes every descriptor.
func TestPollGroupNeverStarted(t *testing.T) {
	client, _ := socketPair(t)
	fds := openFds(t)
	w := &worker{lat: newShardedHist()}
	c := newTestSubscriber(w, client)
	g, err := newPollGroup(w, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.add(c); err != nil {
		t.Fatal(err)
	}
	w.stopping.Store(true)
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	if !c.done.Load() || c.lost {
		t.Errorf("done %v lost %v", c.done.Load(), c.lost)
	}
	if now := openFds(t); now != fds-1 {
		t.Errorf("%d descriptors open, %d before", now, fds)
	}
}
