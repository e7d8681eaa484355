package server

import (
	"sync"

	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
)

type taskKind uint8

const (
	taskRead taskKind = iota
	taskFlush
	taskFlushBatch
)

type task struct {
	kind  taskKind
	conn  *Conn
	batch *[]*Conn
}

// pool runs tasks on a fixed set of workers. Its queue is unbounded on purpose: a worker that
// publishes must never block on the queue that other workers drain, and the queue's length is
// bounded anyway by the number of connections (each is scheduled at most once per kind at a
// time). Safe for concurrent use.
type pool struct {
	mu     sync.Mutex
	cond   sync.Cond
	ring   []task
	head   int
	n      int
	closed bool
	wg     sync.WaitGroup

	batches sync.Pool // *[]*Conn for taskFlushBatch
}

func newPool(workers int, run func(w *worker, t task), mk func() *worker) *pool {
	p := &pool{ring: make([]task, 1024)}
	p.cond.L = &p.mu
	p.batches.New = func() any { b := make([]*Conn, 0, 128); return &b }
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
	if p.n == len(p.ring) {
		grown := make([]task, 2*len(p.ring))
		for i := 0; i < p.n; i++ {
			grown[i] = p.ring[(p.head+i)%len(p.ring)]
		}
		p.ring, p.head = grown, 0
	}
	p.ring[(p.head+p.n)%len(p.ring)] = t
	p.n++
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) pop() (task, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 {
		if p.closed {
			return task{}, false
		}
		p.cond.Wait()
	}
	t := p.ring[p.head]
	p.ring[p.head] = task{}
	p.head = (p.head + 1) % len(p.ring)
	p.n--
	return t, true
}

// scheduleBatch is the hub's Scheduler: it copies the subscribers that need a flush into a
// pooled batch, because the hub reuses its slice.
func (p *pool) scheduleBatch(subs []hub.Sub) {
	bp := p.batches.Get().(*[]*Conn)
	b := (*bp)[:0]
	for _, s := range subs {
		b = append(b, s.(*Conn))
	}
	*bp = b
	p.push(task{kind: taskFlushBatch, batch: bp})
}

func (p *pool) releaseBatch(bp *[]*Conn) {
	clear(*bp)
	*bp = (*bp)[:0]
	p.batches.Put(bp)
}

// close stops the workers once the queue is empty.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}
