package bench

import (
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

// benchConn is one load connection. Its reader (a goroutine of its own, or a poll loop
// once the socket is detached) owns rx and the receive-side counters; the publisher
// goroutine owns seq; wbuf is shared under wmu; the atomics are shared.
type benchConn struct {
	w    *worker
	idx  int
	role role
	// pusher: the connection speaks the Pusher protocol (pusher.go)
	pusher bool
	ch     string
	head   string   // how the tool's own pushes on ch start (pushHeadFor)
	nc     net.Conn // nil once detached
	fd     int      // the detached socket, -1 before (see pollGroup.add)
	rx     wsReceiver

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
	fresh                       int64 // first deliveries not yet in unique
}

// flushLatencies moves the batched latencies into the worker's histogram: one lock per
// batch instead of one per message.
func (c *benchConn) flushLatencies() {
	c.w.lat.recordBatch(c.idx, c.lats[:c.nlat])
	c.nlat = 0
}

// publishFresh adds the first deliveries of the last read to unique: one atomic add per
// read rather than per message (the drain wait polls it every 10 ms).
func (c *benchConn) publishFresh() {
	if c.fresh != 0 {
		c.unique.Add(c.fresh)
		c.fresh = 0
	}
}

// flushAll hands on everything batched, at the end of the connection.
func (c *benchConn) flushAll() {
	c.flushLatencies()
	c.publishFresh()
}

// dialConn connects, authenticates and subscribes connection idx, synchronously. buf is
// the caller's read buffer for the exchange.
func (w *worker) dialConn(ctx context.Context, idx int, buf []byte) (*benchConn, error) {
	cfg := &w.cfg
	c := &benchConn{w: w, idx: idx, role: cfg.roleOf(idx), fd: -1, ackSignal: make(chan struct{}, 1)}
	c.pusher = cfg.usesPusher(c.role)
	if c.role.channel >= 0 {
		c.ch = cfg.channelName(c.role.channel)
		c.head = pushHeadFor(c.ch)
		if c.pusher {
			c.head = pusherHeadFor(c.ch)
		}
	}
	if c.role.subscribe && c.role.slots > 0 {
		c.seqs = make([]uint64, c.role.slots)
	}
	d := ws.Dialer{Timeout: 10 * time.Second, ReadBufferSize: cfg.ReadBuffer, NetDial: w.netDial(idx)}
	target := cfg.urlFor(idx)
	if c.pusher {
		var err error
		if target, err = cfg.pusherURL(target); err != nil {
			return nil, err
		}
	}
	nc, br, _, err := d.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.nc = nc
	if br != nil {
		// br holds what arrived with the handshake response: the first bytes of the stream.
		held, _ := br.Peek(br.Buffered()) // buffered bytes: Peek cannot fail
		c.rx.carry = append(c.rx.carry, held...)
		ws.PutReader(br)
	}
	if c.pusher {
		if err := c.pusherSetup(ctx, buf); err != nil {
			nc.Close()
			return nil, err
		}
		return c, nil
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
	if err := c.roundTrip(ctx, idAuth, msg, buf); err != nil {
		nc.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if c.role.subscribe {
		msg = fmt.Appendf(msg[:0], `{"event":"subscribe","id":%d,"payload":{"channel":`, idSubscribe)
		msg = protocol.AppendString(msg, c.ch)
		msg = append(msg, "}}"...)
		if err := c.roundTrip(ctx, idSubscribe, msg, buf); err != nil {
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
	return d.DialContext
}

// roundTrip writes a request and reads until its response, answering pings on the way.
// What follows the response in the same read stays in c.rx for the next reader.
func (c *benchConn) roundTrip(ctx context.Context, id uint64, msg, buf []byte) error {
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
	rw := &responseWaiter{c: c, id: id}
	if err := c.rx.drain(rw); err != nil {
		return err
	}
	for !rw.done {
		if _, _, err := c.rx.receive(buf, c.nc.Read, rw); err != nil {
			return err
		}
	}
	if rw.err != nil {
		return rw.err // the caller closes the connection: the deadline can stay
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear the read deadline: %w", err)
	}
	return nil
}

// responseWaiter is the frame sink of a round trip: it stops at the response to id.
type responseWaiter struct {
	c    *benchConn
	id   uint64
	done bool
	err  error // the server's refusal, or why the wait ended early
}

func (rw *responseWaiter) onFrame(op ws.OpCode, p []byte, _ int64) bool {
	switch op {
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p)
		return rw.finish(fmt.Errorf("server closed the connection: %d %s", code, reason))
	case ws.OpPing:
		if err := rw.c.writeFrame(ws.OpPong, p); err != nil {
			return rw.finish(fmt.Errorf("answer a ping: %w", err))
		}
	case ws.OpText:
		fi := parsePush(p)
		if fi.Kind != kindResponse || fi.ID != rw.id {
			return true // a presence push, say
		}
		if fi.Code != 200 {
			return rw.finish(fmt.Errorf("server answered %.200s", p))
		}
		return rw.finish(nil)
	}
	return true
}

// finish ends the wait with err (nil: the response said yes) and stops the scan.
func (rw *responseWaiter) finish(err error) bool {
	rw.done, rw.err = true, err
	return false
}

func (c *benchConn) write(msg []byte) error { return c.writeFrame(ws.OpText, msg) }

func (c *benchConn) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wsframe.AppendClientFrame(c.wbuf[:0], op, p)
	return c.flushLocked()
}

func (c *benchConn) flushLocked() error {
	if c.fd >= 0 {
		return writeFd(c.fd, c.wbuf)
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err := c.nc.Write(c.wbuf)
	return err
}

// readLoop counts what arrives until the connection ends, reading from its own goroutine
// (connections that publish; the others are detached onto poll loops, see pollGroup).
func (c *benchConn) readLoop() {
	defer c.flushAll()
	buf := make([]byte, c.w.cfg.ReadBuffer)
	c.readErr = c.rx.drain(c)
	for c.readErr == nil {
		if _, _, err := c.rx.receive(buf, c.nc.Read, c); err != nil && c.readErr == nil {
			c.readErr = err
		}
		c.publishFresh()
	}
}

// onFrame is the frame sink of the measured phase: it stops at the end of the connection,
// with c.readErr set.
func (c *benchConn) onFrame(op ws.OpCode, p []byte, now int64) bool {
	switch op {
	case ws.OpText:
		c.onText(p, now)
	case ws.OpPing:
		if err := c.writeFrame(ws.OpPong, p); err != nil {
			c.readErr = fmt.Errorf("answer a ping: %w", err)
			return false
		}
	case ws.OpClose:
		code, _ := ws.ParseCloseFrameData(p)
		c.closeCode = int(code)
		if c.closeCode == 0 {
			c.closeCode = int(ws.StatusNoStatusRcvd)
		}
		c.readErr = errors.New("closed by the server")
		return false
	}
	return true
}

// onText accounts one text message received at now (unix ns).
func (c *benchConn) onText(p []byte, now int64) {
	if st, ok := parseOwn(p, c.head); ok {
		c.onPush(st, now)
		return
	}
	if c.answerPusherPing(p) {
		return
	}
	switch fi := parsePush(p); fi.Kind {
	case kindPush:
		c.onPush(stamp{fi.T, fi.Seq, fi.Source}, now)
	case kindResponse:
		c.onResponse(fi)
	default:
		c.other++
	}
}

func (c *benchConn) onPush(st stamp, now int64) {
	slot := st.source - c.role.slotBase
	if slot < 0 || slot >= len(c.seqs) {
		c.other++ // not from this run's plan
		return
	}
	c.received++
	last := c.seqs[slot]
	if st.seq <= last {
		c.dups++
		return
	}
	c.gaps += int64(st.seq - last - 1)
	c.seqs[slot] = st.seq
	c.lats[c.nlat] = (now - st.t) / 1000
	if c.nlat++; c.nlat == len(c.lats) {
		c.flushLatencies()
	}
	if c.firstRecv == 0 {
		c.firstRecv = now
	}
	c.lastRecv = now
	c.fresh++
}

func (c *benchConn) onResponse(fi frameInfo) {
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
	case <-time.After(rand.N(interval)): // #nosec G404 -- a start phase, not a secret
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
