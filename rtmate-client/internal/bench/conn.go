package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-client/internal/wsframe"
)

// Request ids of the setup phase; publications use their sequence number (from 1) plus
// firstPublishID, so a response is attributed without a lookup.
const (
	idAuth         = 1
	idSubscribe    = 2
	firstPublishID = 1000
)

// maxBatch bounds the publications written at once when a publisher is behind schedule.
const maxBatch = 1000

// benchConn is one load connection. The read goroutine owns the receive-side counters;
// the publisher goroutine owns seq and wbuf; the atomics are shared.
type benchConn struct {
	w    *worker
	idx  int
	role role
	ch   string
	nc   net.Conn
	rd   *wsframe.Reader

	wmu  sync.Mutex
	wbuf []byte

	sent, acked, failed atomic.Int64
	unique              atomic.Int64 // first deliveries, watched by the drain
	done                atomic.Bool  // the read goroutine has ended
	ackSignal           chan struct{}

	// owned by the read goroutine until it exits
	seqs                        []uint64
	received, dups, gaps, other int64
	firstRecv, lastRecv         int64
	pubErrors                   map[int]int64
	closeCode                   int
	readErr                     error
	lost                        bool      // the connection ended before the run did
	lats                        [64]int64 // latencies (µs) not yet in the shared histogram
	nlat                        int
}

// flushLatencies moves the batched latencies into the worker's histogram: one lock per
// batch instead of one per message.
func (c *benchConn) flushLatencies() {
	c.w.lat.recordBatch(c.idx, c.lats[:c.nlat])
	c.nlat = 0
}

// dialConn connects, authenticates and subscribes connection idx, synchronously.
func (w *worker) dialConn(ctx context.Context, idx int) (*benchConn, error) {
	cfg := &w.cfg
	c := &benchConn{w: w, idx: idx, role: cfg.roleOf(idx), ackSignal: make(chan struct{}, 1)}
	if c.role.channel >= 0 {
		c.ch = cfg.channelName(c.role.channel)
	}
	if c.role.subscribe && c.role.slots > 0 {
		c.seqs = make([]uint64, c.role.slots)
	}
	d := ws.Dialer{Timeout: 10 * time.Second, ReadBufferSize: cfg.ReadBuffer, NetDial: w.netDial(idx)}
	nc, br, _, err := d.Dial(ctx, cfg.urlFor(idx))
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, cfg.ReadBuffer)
	}
	// br, when the dialer returns one, wraps nc and holds what arrived with the handshake.
	c.nc = nc
	if c.rd, err = wsframe.NewReader(br, 64<<20); err != nil {
		nc.Close()
		return nil, err
	}
	token, err := w.token(idx)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("token: %w", err)
	}
	msg := fmt.Appendf(nil, `{"event":"auth","id":%d,"payload":{"appId":`, idAuth)
	msg = protocol.AppendString(msg, cfg.AppID)
	msg = append(msg, `,"token":`...)
	msg = protocol.AppendString(msg, token)
	msg = append(msg, "}}"...)
	if err := c.roundTrip(ctx, idAuth, msg); err != nil {
		nc.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if c.role.subscribe {
		msg = fmt.Appendf(msg[:0], `{"event":"subscribe","id":%d,"payload":{"channel":`, idSubscribe)
		msg = protocol.AppendString(msg, c.ch)
		msg = append(msg, "}}"...)
		if err := c.roundTrip(ctx, idSubscribe, msg); err != nil {
			nc.Close()
			return nil, fmt.Errorf("subscribe %s: %w", c.ch, err)
		}
	}
	return c, nil
}

// netDial spreads connections over source addresses 127.0.0.2–127.0.0.250 so that each
// gets its own ephemeral port range: one source address runs out near 28k connections.
func (w *worker) netDial(idx int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if w.spreadSources {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+idx%249))}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: nc}, nil
	}
}

// countingConn counts socket reads so that the read loop takes the clock once per read
// rather than once per message: every message of one read arrived at the same moment,
// and reading the clock cost as much as parsing a message.
type countingConn struct {
	net.Conn
	reads uint64 // touched only by the connection's reading goroutine
}

var _ net.Conn = (*countingConn)(nil)

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// roundTrip writes a request and reads until its response, answering pings on the way.
func (c *benchConn) roundTrip(ctx context.Context, id uint64, msg []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.write(msg); err != nil {
		return err
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		op, p, err := c.rd.Next()
		if err != nil {
			return err
		}
		switch op {
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			return fmt.Errorf("server closed the connection: %d %s", code, reason)
		case ws.OpPing:
			if err := c.writeFrame(ws.OpPong, p); err != nil {
				return err
			}
		case ws.OpText:
			fi := parsePush(p)
			if fi.Kind != kindResponse || fi.ID != id {
				continue // a presence push, say
			}
			if fi.Code != 200 {
				return fmt.Errorf("server answered %.200s", p)
			}
			return nil
		}
	}
}

func (c *benchConn) write(msg []byte) error { return c.writeFrame(ws.OpText, msg) }

func (c *benchConn) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wsframe.AppendClientFrame(c.wbuf[:0], op, p)
	return c.flushLocked()
}

func (c *benchConn) flushLocked() error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// readLoop counts what arrives until the connection ends. It parses only the timestamp,
// sequence and source of each publication (parsePush).
func (c *benchConn) readLoop() {
	defer c.flushLatencies()
	cc, _ := c.nc.(*countingConn)
	var reads uint64
	var now int64
	for {
		op, p, err := c.rd.Next()
		if err != nil {
			c.readErr = err
			return
		}
		switch op {
		case ws.OpText:
			if cc == nil || cc.reads != reads || now == 0 {
				now = time.Now().UnixNano()
				if cc != nil {
					reads = cc.reads
				}
			}
			c.onText(p, now)
		case ws.OpPing:
			_ = c.writeFrame(ws.OpPong, p)
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			c.closeCode = int(code)
			if c.closeCode == 0 {
				c.closeCode = int(ws.StatusNoStatusRcvd)
			}
			c.readErr = errors.New("closed by the server")
			return
		}
	}
}

// onText accounts one text message received at now (unix ns).
func (c *benchConn) onText(p []byte, now int64) {
	fi := parsePush(p)
	switch fi.Kind {
	case kindPush:
		slot := fi.Source - c.role.slotBase
		if slot < 0 || slot >= len(c.seqs) {
			c.other++ // not from this run's plan
			return
		}
		c.received++
		last := c.seqs[slot]
		if fi.Seq <= last {
			c.dups++
			return
		}
		c.gaps += int64(fi.Seq - last - 1)
		c.seqs[slot] = fi.Seq
		c.lats[c.nlat] = (now - fi.T) / 1000
		if c.nlat++; c.nlat == len(c.lats) {
			c.flushLatencies()
		}
		if c.firstRecv == 0 {
			c.firstRecv = now
		}
		c.lastRecv = now
		c.unique.Add(1)
	case kindResponse:
		if fi.ID < firstPublishID {
			c.other++
			return
		}
		if fi.Code == 200 {
			c.acked.Add(1)
		} else {
			if c.pubErrors == nil {
				c.pubErrors = map[int]int64{}
			}
			c.pubErrors[fi.Code]++
			c.failed.Add(1)
		}
		select {
		case c.ackSignal <- struct{}{}:
		default:
		}
	default:
		c.other++
	}
}

// outstanding is the number of publications without a response yet.
func (c *benchConn) outstanding() int64 { return c.sent.Load() - c.acked.Load() - c.failed.Load() }

// publishLoop publishes until ctx ends: at rate per second paced by a ticker (a batch per
// tick when the interval would be under a millisecond), or with rate 0 keeping window
// publications unacknowledged.
func (c *benchConn) publishLoop(ctx context.Context, rate float64, window int) error {
	cfg := &c.w.cfg
	var seq uint64
	var scratch []byte
	send := func(n int) error {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.wbuf = c.wbuf[:0]
		for range n {
			seq++
			scratch = appendPublish(scratch[:0], c.ch, seq+firstPublishID-1, time.Now().UnixNano(), seq, c.role.source, cfg.Size)
			c.wbuf = wsframe.AppendClientFrame(c.wbuf, ws.OpText, scratch)
		}
		c.sent.Add(int64(n))
		return c.flushLocked()
	}
	if rate == 0 {
		var failed int64
		for {
			if f := c.failed.Load(); f > failed {
				// Refusals (429 above the server's per-connection rate) mean slow down:
				// hammering on would only get the connection closed with 4029.
				failed = f
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(20 * time.Millisecond):
				}
			}
			if n := int64(window) - c.outstanding(); n > 0 {
				if err := send(int(n)); err != nil {
					return err
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-c.ackSignal:
			}
		}
	}
	interval := time.Duration(float64(time.Second) / rate)
	if interval < time.Millisecond {
		interval = time.Millisecond
	}
	// A random phase keeps thousands of room members from publishing in lockstep.
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(rand.N(interval)):
	}
	start := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		due := int64(time.Since(start).Seconds()*rate) + 1 - c.sent.Load()
		if due > 0 {
			if err := send(int(min(due, maxBatch))); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
