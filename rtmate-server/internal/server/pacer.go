package server

import (
	"sync"
	"time"
)

// pacer holds back the flushes of connections that are already behind, so that each of their
// writes carries more pushes (write_coalesce, docs/performance.md).
//
// On loopback and on a real NIC alike, a sendmsg costs about the same whatever it carries
// (8 µs fixed against 0.2 µs per push here), so what a saturated node delivers is set by how
// many pushes each call carries. A node that is far behind coalesces by itself: its
// subscribers' queues fill while it works through them. Several nodes on the same cores each
// fall behind a little, flush eagerly and pay the fixed cost three times as often: that was
// the cluster's 57 % of one node's throughput. The rule here brings the coalescing of a node
// that is behind to one that is merely busy, and leaves every other connection alone: a
// connection whose last write carried several pushes (a backlog) and happened less than
// every ago waits for the pacer's next tick; one that wrote a single push, or wrote nothing
// for a while, is flushed at once as before. So a quiet connection never waits, and a busy one
// waits at most every, once per every.
type pacer struct {
	every   time.Duration
	everyUs uint32
	pool    *pool

	mu    sync.Mutex
	held  []*Conn
	spare []*Conn

	wake     chan struct{} // the first connection held since the last tick
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

var monoBase = time.Now()

// monoMicros is a monotonic clock in microseconds that wraps every 71 minutes: differences
// of up to that long are exact in uint32 arithmetic, and an older busyAt that happens to
// look recent costs one connection one tick of wait.
func monoMicros() uint32 { return uint32(time.Since(monoBase) / time.Microsecond) } // #nosec G115 -- wraps on purpose

func newPacer(p *pool, every time.Duration) *pacer {
	pc := &pacer{every: every, everyUs: uint32(every / time.Microsecond), pool: p, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go pc.run()
	return pc
}

// holds reports whether c's flush should wait for the next tick: its last write carried a
// backlog, less than every ago.
func (pc *pacer) holds(c *Conn, now uint32) bool {
	at := c.busyAt.Load()
	return at != 0 && now-at < pc.everyUs
}

// hold parks c, whose flush was requested (writePend > 0), until the next tick. c.paced lets
// a response or a close frame (scheduleFlush) take the flush back rather than wait: whoever
// clears it, under c.mu, schedules the flush.
func (pc *pacer) hold(c *Conn) {
	c.mu.Lock()
	c.paced = true
	c.mu.Unlock()
	pc.mu.Lock()
	pc.held = append(pc.held, c)
	first := len(pc.held) == 1
	pc.mu.Unlock()
	if first {
		select {
		case pc.wake <- struct{}{}:
		default:
		}
	}
}

// run ticks only while connections are held: one every after the first of them, it hands
// all that are still held to the workers, in flush batches like the hub's.
func (pc *pacer) run() {
	defer close(pc.done)
	t := time.NewTimer(pc.every)
	t.Stop()
	for {
		select {
		case <-pc.stop:
			pc.release()
			return
		case <-pc.wake:
		}
		t.Reset(pc.every)
		select {
		case <-pc.stop:
			t.Stop()
			pc.release()
			return
		case <-t.C:
		}
		pc.release()
	}
}

// release schedules the flushes of every connection held.
func (pc *pacer) release() {
	pc.mu.Lock()
	held := pc.held
	pc.held = pc.spare[:0]
	pc.mu.Unlock()
	var bp *[]*Conn
	for _, c := range held {
		c.mu.Lock()
		paced := c.paced
		c.paced = false
		c.mu.Unlock()
		if !paced {
			continue // a response took the flush meanwhile
		}
		if bp == nil {
			bp = pc.pool.batches.Get().(*[]*Conn)
		}
		*bp = append(*bp, c)
		if len(*bp) == flushBatchSize {
			pc.pool.push(task{kind: taskFlushBatch, batch: bp})
			bp = nil
		}
	}
	if bp != nil {
		pc.pool.push(task{kind: taskFlushBatch, batch: bp})
	}
	clear(held)
	// The spare must never be the list that hold is appending to: either the list just
	// released, or nothing (a burst's large array is not kept).
	if cap(held) > maxKeptHeld {
		held = nil
	}
	pc.mu.Lock()
	pc.spare = held[:0]
	pc.mu.Unlock()
}

// maxKeptHeld bounds the list a quiet pacer keeps between bursts.
const maxKeptHeld = 4096

// close releases what is held and stops the pacer; the pool's workers must still run.
func (pc *pacer) close() {
	pc.stopOnce.Do(func() { close(pc.stop) })
	<-pc.done
}
