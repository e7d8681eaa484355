package server

import (
	"math/rand/v2"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// worker is one pool goroutine's scratch: every buffer the hot path needs, reused for every
// task so that steady-state reading, dispatching and writing allocate nothing.
type worker struct {
	rbuf   []byte // one read(2)
	out    []byte // response being encoded
	data   []byte // response data being encoded
	iovecs []unix.Iovec
	msg    unix.Msghdr
	req    protocol.Request
	pl     protocol.Payload
	trace  [16]byte
	rng    *rand.PCG
	event  eventID

	// WebSocket handshakes on the event loop (accept.go).
	upgrader ws.Upgrader
	hsConn   hsConn
	origin   []byte
}

// readBufSize: 64 KiB drains a busy socket in few reads; one per worker, not per connection.
const readBufSize = 64 << 10

func newWorker() *worker {
	w := &worker{
		rbuf:   make([]byte, readBufSize),
		out:    make([]byte, 0, 4096),
		data:   make([]byte, 0, 1024),
		iovecs: make([]unix.Iovec, 0, maxIov),
		rng:    rand.NewPCG(rand.Uint64(), rand.Uint64()), // #nosec G404 -- trace ids only need to be distinct, not unguessable
	}
	w.upgrader = newUpgrader(w)
	return w
}

// traceID returns the request's traceId, or a fresh random one in the worker's scratch.
func (w *worker) traceID() []byte {
	if w.req.TraceID != nil {
		return w.req.TraceID
	}
	const hexDigits = "0123456789abcdef"
	v := w.rng.Uint64()
	for i := range w.trace {
		w.trace[i] = hexDigits[v&0xf]
		v >>= 4
	}
	w.req.TraceID = w.trace[:]
	return w.req.TraceID
}

// maxKeptScratch bounds what a worker keeps between tasks: one huge echo message or history
// reply must not pin its buffer for the life of the process.
const maxKeptScratch = 1 << 20

// trim drops scratch buffers that a large task grew.
func (w *worker) trim() {
	if cap(w.out) > maxKeptScratch {
		w.out = make([]byte, 0, 4096)
	}
	if cap(w.data) > maxKeptScratch {
		w.data = make([]byte, 0, 1024)
	}
}
