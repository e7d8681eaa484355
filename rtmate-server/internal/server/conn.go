package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

var _ hub.Sub = (*Conn)(nil)

// Conn is one WebSocket connection. It owns no goroutine: the poller schedules its "read
// slot" (reading, parsing, dispatching, closing) and its flushes on the worker pool.
//
// Concurrency: fields under "read slot" are touched only by the one worker holding
// readPend > 0, so they need no lock; everything about output is guarded by mu; the atomics
// are read by the sweeper, the poller and the HTTP API. Lock order: hub locks, then mu.
type Conn struct {
	// Output, first and together: a fan-out to 10k subscribers is a stream of cache misses on
	// exactly these fields (Deliver), so they share the struct's first cache lines instead of
	// being spread over four.
	mu                sync.Mutex
	writePend         atomic.Int32 // flush requests; the worker that moves it from 0 flushes
	outPending        atomic.Bool  // out has bytes: a Writable event must flush
	closing           bool         // a close frame is queued: nothing else will be sent
	released          bool         // the fd is closed
	headPartial       bool         // out[outHead] is the rest of a frame partly written already
	finAfterFlush     bool
	releaseAfterFlush bool
	paced             bool // the pacer holds this connection's flush
	maxQueue          int  // bound on queued bytes (slow consumer beyond)
	outHead           int
	out               [][]byte // queued frames; shared frames are never written to
	outBytes          int
	// busyAt is when the last write that carried a backlog happened (monoMicros; 0: none), for
	// the pacer. 32 bits of microseconds, not a time: Conn stays in the 512-byte size class.
	busyAt atomic.Uint32

	readPend     atomic.Int32 // read-slot requests, same scheme as writePend
	closeCode    atomic.Uint32
	release      atomic.Bool
	upgraded     atomic.Bool // the handshake is done: a WebSocket, not an HTTP request yet
	authed       atomic.Bool
	pingedAt     atomic.Int64 // Unix nanos of the server's ping still unanswered; 0 = none
	exp          atomic.Int64 // token expiry, Unix seconds; 0 = none
	lastSeen     atomic.Int64 // Unix nanos of the last inbound bytes
	blockedSince atomic.Int64 // Unix nanos since the socket refused output; 0 = not blocked
	closingSince atomic.Int64

	srv      *Server
	fd       int
	key      uint64
	echo     bool
	pusher   *pusherConn // nil for the native protocol (pusher_conn.go)
	openedAt int64
	origin   string
	clientID string

	// Read slot.
	w            *worker
	rd           wire.Reader
	appID        string
	userID       string
	tokenSub     string   // the token's sub: a refresh must carry the same
	allowed      []string // the token's channels claim; nil = all
	claims       []byte   // the token's JSON claims, kept only for subscribe scripts
	subs         []string // channels this connection subscribed to
	bucket       bucket
	limitedSince int64 // Unix nanos: start of the current rate-limited episode
	lastLimited  int64
	tornDown     bool
	failed       bool   // the stream is broken: discard input until the peer goes
	closingRd    bool   // we sent a close frame and wait for the peer's
	hs           []byte // a handshake request received in parts
}

// ClientID is the server-assigned id of the connection.
func (c *Conn) ClientID() string { return c.clientID }

func (c *Conn) scheduleRead() {
	if c.readPend.Add(1) == 1 {
		c.srv.pool.push(task{kind: taskRead, conn: c})
	}
}

// scheduleFlush also takes back a flush the pacer holds: responses and close frames never
// wait for a tick. So does a Writable event (the peer read and has room): leaving the flush
// held there gave no more throughput and more spread in alternating cluster runs
// (docs/performance.md).
func (c *Conn) scheduleFlush() {
	takeBack := false
	if c.srv.pool.pacer != nil {
		c.mu.Lock()
		takeBack, c.paced = c.paced, false
		c.mu.Unlock()
	}
	if c.writePend.Add(1) == 1 || takeBack {
		c.srv.pool.push(task{kind: taskFlush, conn: c})
	}
}

// requestClose asks the read slot to close with code; the first code asked for wins.
func (c *Conn) requestClose(code uint16) {
	c.closeCode.CompareAndSwap(0, uint32(code))
	c.scheduleRead()
}

// requestRelease asks the read slot to drop the connection without further ado.
func (c *Conn) requestRelease() {
	c.release.Store(true)
	c.scheduleRead()
}

// runRead holds the read slot until no request is left. A connection that still has data
// after its budget goes to the back of the queue, so one flooding client cannot starve others.
func (c *Conn) runRead(w *worker) {
	for {
		n := c.readPend.Load()
		if !c.readSlot(w) {
			c.srv.pool.push(task{kind: taskRead, conn: c})
			return
		}
		if c.readPend.Add(-n) == 0 {
			return
		}
	}
}

// readBudget is how many reads one turn of the read slot may make.
const readBudget = 8

func (c *Conn) readSlot(w *worker) (drained bool) {
	if c.released {
		return true
	}
	c.w = w
	defer func() { c.w = nil }()

	if c.release.Load() {
		c.releaseNow()
		return true
	}
	if code := c.closeCode.Load(); code != 0 && !c.closingRd && !c.failed {
		if !c.upgraded.Load() {
			c.releaseNow() // no WebSocket to close yet
			return true
		}
		if c.pusher != nil && code >= 4000 {
			c.pusherError(int(code), pusherCloseReason(code)) // pusher-js reports it to the app
		}
		c.closeWith(ws.StatusCode(code), closeReason(code))
	}
	for i := 0; i < readBudget; i++ {
		n, err := unix.Read(c.fd, w.rbuf)
		switch {
		case n > 0:
			c.lastSeen.Store(time.Now().UnixNano())
			c.pingedAt.Store(0) // any byte answers a ping: the peer is alive
			if c.failed {
				continue
			}
			data := w.rbuf[:n]
			if !c.upgraded.Load() {
				var ok bool
				if data, ok = c.handshake(w, data); !ok {
					if c.released {
						return true
					}
					continue
				}
			}
			if err := c.rd.Feed(data, c); err != nil {
				c.onStreamError(err)
				if c.released {
					return true
				}
			}
		case errors.Is(err, unix.EAGAIN):
			return true
		case errors.Is(err, unix.EINTR):
		default: // EOF or a reset: the peer is gone
			c.releaseNow()
			return true
		}
	}
	return false
}

// onStreamError fails the connection for a protocol error, or drops it when the handler
// already decided to.
func (c *Conn) onStreamError(err error) {
	var ce *wire.CloseError
	if errors.As(err, &ce) {
		c.srv.logClose(c, uint16(ce.Code), ce.Reason)
		c.failed = true
		c.rd.Reset()
		c.closeWith(ce.Code, ce.Reason)
		return
	}
	if errors.Is(err, errReleased) {
		return
	}
	c.srv.log.Error("connection handler failed")
	c.failed = true
	c.closeWith(ws.StatusInternalServerError, "internal error")
}

var errReleased = errors.New("connection released")

// closeWith starts the closing handshake: the close frame goes after what is queued (except
// for a slow consumer, whose queue is dropped), the session ends at once, and the socket is
// released when the peer answers, hangs up, or the sweeper's close timeout passes.
func (c *Conn) closeWith(code ws.StatusCode, reason string) {
	frame := wire.CloseFrame(code, reason)
	c.mu.Lock()
	if c.closing || c.released {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if code == CloseSlowConsumer {
		c.srv.queueDrops.Add(uint64(len(c.out) - c.outHead))
		c.dropQueuedLocked()
	}
	c.out = append(c.out, frame)
	c.outBytes += len(frame)
	c.outPending.Store(true)
	c.finAfterFlush = true
	c.mu.Unlock()
	c.closingRd = true
	c.closingSince.Store(time.Now().UnixNano())
	c.srv.noteClose(c, uint16(code))
	c.scheduleFlush()
	c.teardown()
}

// releaseNow ends the session and closes the socket. Read slot only.
func (c *Conn) releaseNow() {
	if !c.closingRd {
		// The peer vanished without a close frame, or the socket failed: observers still
		// hear of the close, once (if they heard of the connection at all).
		c.closingRd = true
		if c.upgraded.Load() {
			c.srv.noteClose(c, uint16(ws.StatusAbnormalClosure))
		}
	}
	c.hs = nil
	c.teardown()
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	c.dropOutLocked()
	c.mu.Unlock()
	c.rd.Reset()
	c.srv.forget(c)
}

func (c *Conn) dropOutLocked() {
	clear(c.out)
	c.out, c.outHead, c.outBytes = nil, 0, 0
	c.headPartial = false
	c.outPending.Store(false)
}

// dropQueuedLocked drops the queue but the rest of a frame already begun on the wire: cut
// short, it would swallow the close frame queued after it and leave the peer a broken stream.
func (c *Conn) dropQueuedLocked() {
	if !c.headPartial || c.outHead >= len(c.out) {
		c.dropOutLocked()
		return
	}
	rest := c.out[c.outHead]
	c.dropOutLocked()
	c.out = append(c.out, rest)
	c.outBytes = len(rest)
	c.headPartial = true
	c.outPending.Store(true)
}

// Deliver queues shared frames (hub.Sub). It never blocks: a connection whose queue would
// exceed its bound is a slow consumer and is closed instead. The bound is on backlog, so one
// frame larger than the bound still goes to a connection that has nothing queued.
func (c *Conn) Deliver(frames [][]byte) bool {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	c.mu.Lock()
	if c.closing || c.released {
		c.mu.Unlock()
		return false
	}
	if c.outBytes+n > c.maxQueue && (c.outBytes > 0 || len(frames) > 1) {
		c.mu.Unlock()
		c.srv.queueDrops.Add(uint64(len(frames)))
		c.requestClose(CloseSlowConsumer)
		return false
	}
	c.out = append(c.out, frames...)
	c.outBytes += n
	c.outPending.Store(true)
	c.mu.Unlock()
	return c.writePend.Add(1) == 1
}

// send writes frame now when nothing is queued (the common, lowest-latency case for
// responses), and queues a copy of whatever the socket did not take. frame may be scratch.
func (c *Conn) send(frame []byte) {
	c.sendFrame(frame, false)
}

func (c *Conn) sendFrame(frame []byte, control bool) {
	c.mu.Lock()
	if c.released || (c.closing && !control) {
		c.mu.Unlock()
		return
	}
	if c.outHead == len(c.out) {
		n, err := unix.Write(c.fd, frame)
		if n == len(frame) {
			c.mu.Unlock()
			return
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			c.dropOutLocked()
			c.mu.Unlock()
			c.requestRelease()
			return
		}
		if n > 0 {
			frame = frame[n:]
			c.headPartial = true
		}
	} else if c.outBytes+len(frame) > c.maxQueue && !control {
		c.mu.Unlock()
		c.srv.queueDrops.Add(1)
		c.requestClose(CloseSlowConsumer)
		return
	}
	c.out = append(c.out, append([]byte(nil), frame...))
	c.outBytes += len(frame)
	c.outPending.Store(true)
	c.mu.Unlock()
	c.scheduleFlush()
}

// runFlush writes until no flush request is left.
func (c *Conn) runFlush(w *worker) {
	for {
		n := c.writePend.Load()
		c.flush(w)
		if c.writePend.Add(-n) == 0 {
			return
		}
	}
}

// maxIov bounds the frames of one send; Linux accepts 1024.
const maxIov = 1024

// flush writes queued frames, as many per system call as are queued: under load this
// coalesces many pushes into one call, while a lone push is written as soon as its flush
// runs.
func (c *Conn) flush(w *worker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.released && c.outHead < len(c.out) {
		frames := c.out[c.outHead:min(len(c.out), c.outHead+maxIov)]
		n, err := sendFrames(c.fd, frames, w)
		if n > 0 {
			c.consume(n)
			c.blockedSince.Store(0)
			if len(frames) > 1 && c.srv.pool.pacer != nil {
				c.busyAt.Store(monoMicros())
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
				if c.blockedSince.Load() == 0 {
					c.blockedSince.Store(time.Now().UnixNano())
				}
				return // a Writable event resumes (outPending is set)
			case errors.Is(err, unix.EINTR):
				continue
			}
			c.dropOutLocked()
			c.releaseAfterFlush = false
			c.release.Store(true)
			c.scheduleRead()
			return
		}
	}
	if c.released {
		return
	}
	if cap(c.out) > 256 {
		c.out = nil // a burst's backing array is not kept by an idle connection
	} else {
		c.out = c.out[:0]
	}
	c.outHead, c.outBytes = 0, 0
	c.outPending.Store(false)
	if c.finAfterFlush {
		c.finAfterFlush = false
		_ = unix.Shutdown(c.fd, unix.SHUT_WR) // best effort: the peer sees our close, then FIN
	}
	if c.releaseAfterFlush {
		c.releaseAfterFlush = false
		c.release.Store(true)
		c.scheduleRead()
	}
}

// consume drops n written bytes from the front of the queue. mu held.
func (c *Conn) consume(n int) {
	c.outBytes -= n
	for n > 0 {
		f := c.out[c.outHead]
		if n < len(f) {
			c.out[c.outHead] = f[n:]
			c.headPartial = true
			return
		}
		n -= len(f)
		c.out[c.outHead] = nil
		c.outHead++
		c.headPartial = false
	}
}

// sendFrames writes frames with one sendmsg(2), from the worker's iovec scratch so that it
// does not allocate. sendmsg rather than writev: on a socket it skips the VFS layer
// (vfs_writev and fdget_pos were 7 % of the server's CPU at one frame per call, per perf).
// RawSyscall rather than Syscall: the socket is non-blocking, so the call never parks, and
// the scheduler hand-off around a Syscall cost ~2 % at one frame per call (5k × 20 msgs/s,
// 5 alternating runs each: 6.98 vs 7.10 µs per delivery).
func sendFrames(fd int, frames [][]byte, w *worker) (int, error) {
	vecs := w.iovecs[:0]
	for _, b := range frames {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		vecs = append(vecs, v)
	}
	if len(vecs) == 0 {
		return 0, nil
	}
	w.msg = unix.Msghdr{Iov: &vecs[0]}
	w.msg.SetIovlen(len(vecs))
	n, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL) // #nosec G103 -- sendmsg(2) takes the header; the worker keeps it and the iovecs alive
	// The frames must not stay reachable from a worker's scratch.
	clear(vecs)
	w.msg = unix.Msghdr{}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
