package webhook

import (
	"sync"

	"go.uber.org/zap"
)

// goneKeep is how many recently closed clients a shard remembers (see shard.gone).
const goneKeep = 1024

// shard is one part of an app's queue, with one worker. A client always maps to the same
// shard, so its events are delivered in the order they happened; the price is that while
// one event is retried, the later events of every client of the shard wait (head-of-line
// blocking), and a full shard drops its oldest events even if others have room.
//
// Concurrency: everything under mu; wake has room for one pending signal.
type shard struct {
	t     *target
	wake  chan struct{}
	limit int

	mu     sync.Mutex
	ring   []event // grows up to limit
	head   int
	n      int
	exited bool // the worker is gone: new events are dropped

	// subs lists the channels of each live connection while the app wants unsubscribe
	// events, so that a closing connection's subscriptions end with unsubscribe events
	// before its disconnect (the server tears subscriptions down after it reports the close).
	// gone remembers the last goneKeep closed clients, whose teardown unsubscribes, arriving
	// after the close, are then already sent.
	subs     map[string][]string
	gone     map[string]struct{}
	goneRing []string
	goneNext int
}

func newShard(t *target, limit int) *shard {
	return &shard{t: t, limit: limit, wake: make(chan struct{}, 1), ring: make([]event, min(limit, 64))}
}

// signal wakes the worker without ever blocking.
func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pushLocked queues ev, dropping the oldest queued event when the shard is full. Lock
// should be held.
func (s *shard) pushLocked(ev event) {
	c := s.t.stats
	if s.exited {
		c.dropped.Add(1)
		return
	}
	if s.n == s.limit {
		s.ring[s.head] = event{}
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		c.queued.Add(-1)
		c.dropped.Add(1)
		if every(&s.t.dropLogAt) {
			s.t.d.log.Warn("webhook queue full: dropping the oldest events",
				zap.String("app_id", s.t.app), zap.Int("queue_size", s.t.queueSize), zap.Uint64("dropped_total", c.dropped.Load()))
		}
	} else if s.n == len(s.ring) {
		grown := make([]event, min(2*len(s.ring), s.limit))
		for i := 0; i < s.n; i++ {
			grown[i] = s.ring[(s.head+i)%len(s.ring)]
		}
		s.ring, s.head = grown, 0
	}
	s.ring[(s.head+s.n)%len(s.ring)] = ev
	s.n++
	c.queued.Add(1)
}

// pop moves up to max events into dst.
func (s *shard) pop(dst []event, max int) []event {
	s.mu.Lock()
	k := min(s.n, max)
	for i := 0; i < k; i++ {
		dst = append(dst, s.ring[s.head])
		s.ring[s.head] = event{}
		s.head = (s.head + 1) % len(s.ring)
	}
	s.n -= k
	s.mu.Unlock()
	s.t.stats.queued.Add(int64(-k))
	return dst
}

// exitIfEmpty marks the shard exited when nothing is queued.
func (s *shard) exitIfEmpty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		s.exited = true
	}
	return s.exited
}

// abandon drops everything queued and refuses what comes later (delivery was aborted).
func (s *shard) abandon() {
	s.mu.Lock()
	n := s.n
	clear(s.ring)
	s.head, s.n, s.exited = 0, 0, true
	s.mu.Unlock()
	s.t.stats.queued.Add(int64(-n))
	s.t.stats.dropped.Add(uint64(n))
}

// track notes that client subscribed to ch. Lock should be held.
func (s *shard) track(client, ch string) {
	if s.subs == nil {
		s.subs = make(map[string][]string)
	}
	s.subs[client] = append(s.subs[client], ch)
}

// untrack forgets client's subscription to ch. Lock should be held.
func (s *shard) untrack(client, ch string) {
	chans := s.subs[client]
	for i, c := range chans {
		if c == ch {
			chans = append(chans[:i], chans[i+1:]...)
			break
		}
	}
	if len(chans) == 0 {
		delete(s.subs, client)
	} else {
		s.subs[client] = chans
	}
}

// markGone remembers that client closed. Lock should be held.
func (s *shard) markGone(client string) {
	if s.gone == nil {
		s.gone = make(map[string]struct{}, goneKeep)
		s.goneRing = make([]string, goneKeep)
	}
	if old := s.goneRing[s.goneNext]; old != "" {
		delete(s.gone, old)
	}
	s.goneRing[s.goneNext] = client
	s.goneNext = (s.goneNext + 1) % goneKeep
	s.gone[client] = struct{}{}
}

// isGone reports whether client closed recently. Lock should be held.
func (s *shard) isGone(client string) bool {
	_, ok := s.gone[client]
	return ok
}
