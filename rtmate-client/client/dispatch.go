package client

import "sync"

// dispatcher runs callbacks one at a time, in submission order, on its own goroutine, so
// that the read loop never waits for user code and user code may call the client (a
// handler that publishes would deadlock if it ran on the read loop, which must read the
// response). The queue is unbounded: a slow handler costs memory, never lost events.
type dispatcher struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []func()
	closed bool
	done   chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	go d.run()
	return d
}

// post queues f; after close it is dropped.
func (d *dispatcher) post(f func()) {
	d.mu.Lock()
	if !d.closed {
		d.queue = append(d.queue, f)
		d.cond.Signal()
	}
	d.mu.Unlock()
}

// close lets the goroutine finish what is queued, then exit.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Signal()
	d.mu.Unlock()
}

func (d *dispatcher) run() {
	defer close(d.done)
	var batch []func()
	for {
		d.mu.Lock()
		for len(d.queue) == 0 && !d.closed {
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		batch, d.queue = d.queue, batch[:0]
		d.mu.Unlock()
		for i, f := range batch {
			f()
			batch[i] = nil
		}
	}
}
