package hub

import (
	"sync"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
)

// Key names a channel of one app.
type Key = engine.ChannelKey

// Sub is a local subscriber: a connection.
type Sub interface {
	// Deliver queues a frame shared by every subscriber (it must not be modified) and reports
	// whether the caller has to schedule a flush for this subscriber. It must not block.
	Deliver(frame []byte) (schedule bool)
}

// Scheduler flushes subscribers that Deliver asked for, typically on a worker pool. The
// slice is only valid during the call.
type Scheduler func(subs []Sub)

// shardCount: 64 shards make lock contention between unrelated channels negligible on any
// machine this runs on, at 64 small maps of cost.
const shardCount = 64

// batchSize bounds how many subscribers one flush task covers: large enough to amortise
// scheduling, small enough to spread a 10k fan-out over every worker.
const batchSize = 128

// Hub is safe for concurrent use. Lock order: shard.mu, then channel.mu, then whatever
// Sub.Deliver takes (the connection's own lock).
type Hub struct {
	shards   [shardCount]shard
	schedule Scheduler
	batches  sync.Pool
}

type shard struct {
	mu    sync.RWMutex
	chans map[Key]*channel
}

type channel struct {
	// mu is held during a fan-out, so that two publications on one channel reach every
	// subscriber in the same order.
	mu    sync.Mutex
	subs  []entry
	index map[Sub]int
}

// entry is one subscriber. skip hides publications up to that offset of epoch, which the
// subscriber already received through history recovery (or was told the channel stood at).
type entry struct {
	sub   Sub
	skip  uint64
	epoch string
}

// New returns an empty hub whose fan-outs are flushed by schedule.
func New(schedule Scheduler) *Hub {
	h := &Hub{schedule: schedule}
	for i := range h.shards {
		h.shards[i].chans = make(map[Key]*channel)
	}
	h.batches.New = func() any { b := make([]Sub, 0, batchSize); return &b }
	return h
}

func (h *Hub) shard(k Key) *shard {
	return &h.shards[hash(k.App, k.Name)%shardCount]
}

// Subscribe adds s to channel k. It reports whether s was added (false when it already was a
// subscriber: subscribing twice never doubles delivery) and whether it is the channel's first
// local subscriber (the node must then subscribe to the engine).
func (h *Hub) Subscribe(k Key, s Sub) (added, first bool) {
	added, first, _ = h.SubscribeWith(k, s, nil)
	return added, first
}

// SubscribeWith is Subscribe that also runs locked (when s is added) while no publication can
// reach the channel's subscribers: the caller subscribes the engine, reads history and queues
// its response there, so that nothing published meanwhile is lost or overtakes the response.
// locked returns the offset up to which s already has the channel's publications, and the
// history epoch that offset belongs to.
func (h *Hub) SubscribeWith(k Key, s Sub, locked func(first bool) (skip uint64, epoch string, err error)) (added, first bool, err error) {
	sh := h.shard(k)
	sh.mu.Lock()
	ch := sh.chans[k]
	if ch == nil {
		ch = &channel{index: make(map[Sub]int)}
		sh.chans[k] = ch
		first = true
	}
	// Only the channel stays locked while locked runs (it may wait on the engine's network):
	// the rest of the shard goes on.
	ch.mu.Lock()
	sh.mu.Unlock()
	if _, ok := ch.index[s]; ok {
		ch.mu.Unlock()
		return false, false, nil
	}
	var skip uint64
	var epoch string
	if locked != nil {
		if skip, epoch, err = locked(first); err != nil {
			ch.mu.Unlock()
			h.dropIfEmpty(k, ch)
			return false, false, err
		}
	}
	ch.index[s] = len(ch.subs)
	if skip == 0 {
		epoch = "" // only compared while a skip is set
	}
	ch.subs = append(ch.subs, entry{sub: s, skip: skip, epoch: epoch})
	ch.mu.Unlock()
	return true, first, nil
}

// dropIfEmpty removes a channel that a failed subscribe left without subscribers.
func (h *Hub) dropIfEmpty(k Key, ch *channel) {
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.subs) == 0 && sh.chans[k] == ch {
		delete(sh.chans, k)
	}
}

// Unsubscribe removes s from k in O(1). It reports whether s was subscribed and whether the
// channel has no local subscriber left (the node may then unsubscribe from the engine).
func (h *Hub) Unsubscribe(k Key, s Sub) (removed, last bool) {
	return h.UnsubscribeWith(k, s, nil)
}

// UnsubscribeWith is Unsubscribe that runs onLast, under the hub's locks, when the channel
// loses its last local subscriber: the engine unsubscription is thereby ordered with any
// concurrent first subscription of the same channel.
func (h *Hub) UnsubscribeWith(k Key, s Sub, onLast func()) (removed, last bool) {
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ch := sh.chans[k]
	if ch == nil {
		return false, false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	i, ok := ch.index[s]
	if !ok {
		return false, false
	}
	lastIdx := len(ch.subs) - 1
	if i != lastIdx {
		moved := ch.subs[lastIdx]
		ch.subs[i] = moved
		ch.index[moved.sub] = i
	}
	ch.subs[lastIdx] = entry{}
	ch.subs = ch.subs[:lastIdx]
	delete(ch.index, s)
	if len(ch.subs) == 0 {
		delete(sh.chans, k)
		if onLast != nil {
			onLast()
		}
		return true, true
	}
	return true, false
}

// Broadcast queues frame to every local subscriber of k and schedules their flushes in
// batches. The frame is shared, never copied per subscriber. offset and epoch are the
// publication's history position (0 and "" for none). It returns the number of subscribers
// reached.
func (h *Hub) Broadcast(k Key, frame []byte, offset uint64, epoch string) int {
	sh := h.shard(k)
	sh.mu.RLock()
	ch := sh.chans[k]
	if ch == nil {
		sh.mu.RUnlock()
		return 0
	}
	ch.mu.Lock()
	sh.mu.RUnlock()
	defer ch.mu.Unlock()

	bp := h.batches.Get().(*[]Sub)
	batch := (*bp)[:0]
	n := 0
	for i := range ch.subs {
		e := &ch.subs[i]
		// Only an offset lifts the skip: a join or leave (offset 0) may overtake a publication
		// that the subscriber already recovered and that is still on its way here.
		// An offset of another epoch is never hidden, whatever its value: history was lost and
		// offsets started over, so the subscriber has none of the new epoch's.
		if e.skip != 0 && offset != 0 {
			if offset <= e.skip && epoch == e.epoch {
				continue
			}
			e.skip, e.epoch = 0, ""
		}
		n++
		if e.sub.Deliver(frame) {
			batch = append(batch, e.sub)
			if len(batch) == batchSize {
				h.schedule(batch)
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		h.schedule(batch)
	}
	clear(batch[:cap(batch)])
	*bp = batch[:0]
	h.batches.Put(bp)
	return n
}

// Count returns how many local subscribers k has.
func (h *Hub) Count(k Key) int {
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ch := sh.chans[k]
	if ch == nil {
		return 0
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.subs)
}

// ChannelInfo is one active channel and its local subscriber count.
type ChannelInfo struct {
	Name        string
	Subscribers int
}

// Channels lists app's active channels whose names start with prefix.
func (h *Hub) Channels(app, prefix string) []ChannelInfo {
	var out []ChannelInfo
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for k, ch := range sh.chans {
			if k.App != app || len(k.Name) < len(prefix) || k.Name[:len(prefix)] != prefix {
				continue
			}
			ch.mu.Lock()
			out = append(out, ChannelInfo{Name: k.Name, Subscribers: len(ch.subs)})
			ch.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return out
}

// Stats returns the number of channels and subscriptions on this node.
func (h *Hub) Stats() (channels, subscriptions int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		channels += len(sh.chans)
		for _, ch := range sh.chans {
			ch.mu.Lock()
			subscriptions += len(ch.subs)
			ch.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return channels, subscriptions
}

// hash is FNV-1a over app and name, with a separator so ("ab","c") and ("a","bc") differ.
func hash(a, b string) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * prime
	}
	h *= prime
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * prime
	}
	return h
}
