package server

import (
	"sync"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
)

type taskKind uint8

const (
	taskRead taskKind = iota
	taskFlush
	taskFlushBatch
	taskAccept // the server's accept slot; goes with reads
	taskFanout // a channel's queued publications; goes with reads, ahead of flushes (spawnFanout)
)

type task struct {
	kind  taskKind
	conn  *Conn
	batch *[]*Conn
	fan   hub.Fanout
}

// pool runs tasks on a fixed set of workers. Its queues are unbounded on purpose: a worker
// that publishes must never block on a queue that other workers drain, and their length is
// bounded anyway by the number of connections (each is scheduled at most once per kind at a
// time). Safe for concurrent use.
//
// Reads go first. A publication must be accepted while earlier fan-outs are still being
// written: then each subscriber's queue holds several frames when its flush runs, and one
// sendmsg carries them all. Served in plain FIFO order, every publication waited behind the
// previous one's flushes, queues never held more than one frame, and a 10k-subscriber channel
// at 200 msgs/s fell minutes behind at one write per delivery. Every fairnessEvery-th pop
// takes a flush anyway, so a flood of requests cannot starve delivery.
type pool struct {
	mu     sync.Mutex
	cond   sync.Cond
	reads  taskRing
	writes taskRing
	pops   uint
	closed bool
	wg     sync.WaitGroup

	batches sync.Pool // *[]*Conn for taskFlushBatch
	pacer   *pacer    // nil: write_coalesce is off
}

// flushBatchSize is the hub's batch size, for the batches the pacer makes.
const flushBatchSize = 128

const fairnessEvery = 8

// taskRing is a growable FIFO ring. Not safe for concurrent use: pool.mu guards it.
type taskRing struct {
	buf  []task
	head int
	n    int
}

func (r *taskRing) push(t task) {
	if r.n == len(r.buf) {
		grown := make([]task, max(1024, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = t
	r.n++
}

func (r *taskRing) pop() task {
	t := r.buf[r.head]
	r.buf[r.head] = task{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return t
}

func newPool(workers int, run func(w *worker, t task), mk func() *worker) *pool {
	p := &pool{}
	p.cond.L = &p.mu
	p.batches.New = func() any { b := make([]*Conn, 0, flushBatchSize); return &b }
	for i := 0; i < workers; i++ {
		p.wg.Add(1)
		w := mk()
		go func() {
			defer p.wg.Done()
			for {
				t, ok := p.pop()
				if !ok {
					return
				}
				run(w, t)
			}
		}()
	}
	return p
}

func (p *pool) push(t task) {
	p.mu.Lock()
	if t.kind == taskRead || t.kind == taskAccept {
		p.reads.push(t)
	} else {
		p.writes.push(t)
	}
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) pop() (task, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.reads.n == 0 && p.writes.n == 0 {
		if p.closed {
			return task{}, false
		}
		p.cond.Wait()
	}
	p.pops++
	if p.reads.n > 0 && (p.writes.n == 0 || p.pops%fairnessEvery != 0) {
		return p.reads.pop(), true
	}
	return p.writes.pop(), true
}

// scheduleBatch is the hub's Scheduler: it copies the subscribers that need a flush into a
// pooled batch, because the hub reuses its slice, and leaves those the pacer holds to it.
func (p *pool) scheduleBatch(subs []hub.Sub) {
	bp := p.batches.Get().(*[]*Conn)
	b := (*bp)[:0]
	var now uint32
	if p.pacer != nil {
		now = monoMicros()
	}
	for _, s := range subs {
		c := s.(*Conn)
		if p.pacer != nil && p.pacer.holds(c, now) {
			p.pacer.hold(c)
			continue
		}
		b = append(b, c)
	}
	*bp = b
	if len(b) == 0 {
		p.releaseBatch(bp)
		return
	}
	p.push(task{kind: taskFlushBatch, batch: bp})
}

// pace turns write coalescing on (before the pool is used).
func (p *pool) pace(every time.Duration) {
	if every > 0 {
		p.pacer = newPacer(p, every)
	}
}

// spawnFanout is the hub's Spawner. With no flush waiting, the fan-out runs at once, in the
// publishing goroutine, as a synchronous broadcast would: on a server that is keeping up, a
// publication is queued to every subscriber (the publisher included) before the publish
// response, and a client sees its own message first. With flushes backed up, the fan-out is
// queued, and the publications that arrive meanwhile go out with it, one batch per
// subscriber.
func (p *pool) spawnFanout(f hub.Fanout) {
	p.mu.Lock()
	if p.writes.n == 0 {
		p.mu.Unlock()
		f.Run()
		return
	}
	p.reads.push(task{kind: taskFanout, fan: f})
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) releaseBatch(bp *[]*Conn) {
	clear(*bp)
	*bp = (*bp)[:0]
	p.batches.Put(bp)
}

// close stops the workers once the queue is empty; held flushes are released first.
func (p *pool) close() {
	if p.pacer != nil {
		p.pacer.close()
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}
