package hub

import (
	"sync"
	"sync/atomic"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
)

// Key names a channel of one app.
type Key = engine.ChannelKey

// Sub is a local subscriber: a connection.
type Sub interface {
	// Deliver queues frames, in order, shared by every subscriber (they must not be
	// modified) and reports whether the caller has to schedule a flush for this subscriber.
	// It must not block, and must not keep the slice (the frames themselves it may).
	Deliver(frames [][]byte) (schedule bool)
}

// AltSub is a Sub that takes a publication's alternative frame (another protocol's encoding
// of it, see BroadcastPair) instead of its frame. The hub asks once, at subscription.
type AltSub interface {
	Sub
	WantsAlt() bool
}

// Scheduler flushes subscribers that Deliver asked for, typically on a worker pool. The
// slice is only valid during the call.
type Scheduler func(subs []Sub)

// Spawner runs a channel's fan-out, at once or soon (typically on a worker pool): it must call
// f.Run exactly once. It is called without the hub's locks but maybe under the engine's, which
// the lock order allows (engine stream, then hub channel). A nil Spawner always runs it at once.
type Spawner func(f Fanout)

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
	spawn    Spawner
	batches  sync.Pool
}

type shard struct {
	mu    sync.RWMutex
	chans map[Key]*channel
}

// A channel's publications are queued (pending) and fanned out by one task at a time, which
// takes everything queued since its last turn: when the Spawner defers the task (a busy
// node), each subscriber gets many frames under one lock instead of one lock per frame, and
// the publisher does not wait for the fan-out. Run at once, it is a synchronous broadcast.
type channel struct {
	// mu guards the subscribers and is held during a fan-out, so that publications reach
	// every subscriber in the same order.
	mu    sync.Mutex
	subs  []entry
	index map[Sub]int
	count atomic.Int64 // len(subs), for Broadcast, which does not take mu

	// pmu guards the queue of publications. Lock order: mu, then pmu.
	pmu       sync.Mutex
	pending   []pendingFrame
	seq       uint64 // publications ever queued: pending[i].seq numbers them
	scheduled bool   // a fan-out task is spawned and has not emptied pending yet

	// Fan-out scratch, used under mu.
	spare  []pendingFrame
	frames [][]byte
	alts   [][]byte
	pick   [][]byte
}

// pendingFrame is one queued publication: frame for ordinary subscribers, alt (maybe nil:
// nothing) for AltSubs, which never get it when they are exclude.
type pendingFrame struct {
	frame   []byte
	alt     []byte
	exclude Sub
	offset  uint64
	epoch   string
	seq     uint64
}

// entry is one subscriber. skip hides publications up to that offset of epoch, which the
// subscriber already received through history recovery (or was told the channel stood at).
// joined is the channel's seq when it subscribed: what was queued before is not for it.
type entry struct {
	sub    Sub
	skip   uint64
	epoch  string
	joined uint64
	alt    bool // an AltSub that wants alternative frames
}

// frameOf is what e receives of f: its frame or its alternative (nil: nothing).
func (e *entry) frameOf(f *pendingFrame) []byte {
	if !e.alt {
		return f.frame
	}
	if f.exclude != nil && f.exclude == e.sub {
		return nil
	}
	return f.alt
}

// wants reports whether e receives f.
func (e *entry) wants(f *pendingFrame) bool {
	if f.seq <= e.joined || e.frameOf(f) == nil {
		return false
	}
	// Only an offset lifts the skip: a join or leave (offset 0) may overtake a publication
	// that the subscriber already recovered and that is still on its way here.
	// An offset of another epoch is never hidden, whatever its value: history was lost and
	// offsets started over, so the subscriber has none of the new epoch's.
	if e.skip != 0 && f.offset != 0 {
		if f.offset <= e.skip && f.epoch == e.epoch {
			return false
		}
	}
	return true
}

// New returns an empty hub whose fan-outs run through spawn and are flushed by schedule.
func New(schedule Scheduler, spawn Spawner) *Hub {
	h := &Hub{schedule: schedule, spawn: spawn}
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
	// Whatever is published from here on is for s: publications that raced with locked's
	// history read are either in that history (and skipped by offset) or come after it.
	ch.pmu.Lock()
	joined := ch.seq
	ch.pmu.Unlock()
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
	alt := false
	if a, ok := s.(AltSub); ok {
		alt = a.WantsAlt()
	}
	ch.subs = append(ch.subs, entry{sub: s, skip: skip, epoch: epoch, joined: joined, alt: alt})
	ch.count.Store(int64(len(ch.subs)))
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
	// What was published while s was subscribed still reaches it, as if fanned out already.
	h.deliverPending(ch, &ch.subs[i])
	lastIdx := len(ch.subs) - 1
	if i != lastIdx {
		moved := ch.subs[lastIdx]
		ch.subs[i] = moved
		ch.index[moved.sub] = i
	}
	ch.subs[lastIdx] = entry{}
	ch.subs = ch.subs[:lastIdx]
	ch.count.Store(int64(len(ch.subs)))
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

// Broadcast queues frame for every local subscriber of k; a fan-out task delivers it,
// after whatever the channel queued before. The frame is shared, never copied per
// subscriber. offset and epoch are the publication's history position (0 and "" for none).
// It returns the number of subscribers the frame is for (counting, for the moment after a
// recovery, the few that will skip it as a duplicate). It never waits for a fan-out: the
// caller may hold an engine lock that a subscription takes inside the channel's.
func (h *Hub) Broadcast(k Key, frame []byte, offset uint64, epoch string) int {
	return h.BroadcastPair(k, frame, nil, nil, offset, epoch)
}

// BroadcastPair is Broadcast with an alternative frame for AltSubs (nil: they get nothing
// of this publication) that never reaches exclude (nil: none).
func (h *Hub) BroadcastPair(k Key, frame, alt []byte, exclude Sub, offset uint64, epoch string) int {
	sh := h.shard(k)
	sh.mu.RLock()
	ch := sh.chans[k]
	if ch == nil {
		sh.mu.RUnlock()
		return 0
	}
	ch.pmu.Lock()
	sh.mu.RUnlock()
	ch.seq++
	ch.pending = append(ch.pending, pendingFrame{frame: frame, alt: alt, exclude: exclude, offset: offset, epoch: epoch, seq: ch.seq})
	spawn := !ch.scheduled
	ch.scheduled = true
	ch.pmu.Unlock()
	if spawn {
		if h.spawn == nil {
			for h.fanout(ch) {
			}
		} else {
			h.spawn(Fanout{h: h, ch: ch})
		}
	}
	return int(ch.count.Load())
}

// Fanout is one channel's pending fan-out, handed to a Spawner.
type Fanout struct {
	h  *Hub
	ch *channel
}

// Run delivers what the channel has queued. If more was queued meanwhile, it spawns the next
// turn rather than looping, so that a channel published to without pause does not keep a
// worker from the flushes its fan-outs scheduled.
func (f Fanout) Run() {
	if f.h.fanout(f.ch) {
		f.h.spawn(f)
	}
}

// fanout delivers one batch of the channel's queue; again reports that more is queued (and
// the channel stays scheduled).
func (h *Hub) fanout(ch *channel) (again bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.pmu.Lock()
	batch := ch.pending
	ch.pending = ch.spare[:0]
	ch.pmu.Unlock()
	if len(batch) > 0 {
		h.deliver(ch, batch)
	}
	clear(batch)
	if cap(batch) > maxKeptPending {
		batch = nil // a burst's backing array is not kept by a quiet channel
	}
	ch.spare = batch[:0]
	ch.pmu.Lock()
	again = len(ch.pending) > 0
	ch.scheduled = again
	ch.pmu.Unlock()
	return again
}

// maxKeptPending bounds the queue capacity a channel keeps between bursts.
const maxKeptPending = 1024

// deliver fans batch out to every subscriber and schedules the flushes, in batches. mu held.
func (h *Hub) deliver(ch *channel, batch []pendingFrame) {
	frames, alts := ch.frames[:0], ch.alts[:0]
	altsWhole := true // every publication has an alternative, and none excludes anyone
	for i := range batch {
		frames = append(frames, batch[i].frame)
		if batch[i].alt == nil || batch[i].exclude != nil {
			altsWhole = false
		} else {
			alts = append(alts, batch[i].alt)
		}
	}
	bp := h.batches.Get().(*[]Sub)
	flush := (*bp)[:0]
	first := batch[0].seq
	for i := range ch.subs {
		e := &ch.subs[i]
		var mine [][]byte
		switch {
		case e.skip == 0 && e.joined < first && !e.alt:
			mine = frames // the common case: every frame, as is
		case e.skip == 0 && e.joined < first && altsWhole:
			mine = alts
		default:
			mine = ch.pick[:0]
			for j := range batch {
				f := &batch[j]
				if !e.wants(f) {
					continue
				}
				mine = append(mine, e.frameOf(f))
				if e.skip != 0 && f.offset != 0 {
					// A publication it did not recover: the skip has done its work.
					e.skip, e.epoch = 0, ""
				}
			}
			ch.pick = mine[:0]
			if len(mine) == 0 {
				continue
			}
		}
		if e.sub.Deliver(mine) {
			flush = append(flush, e.sub)
			if len(flush) == batchSize {
				h.schedule(flush)
				flush = flush[:0]
			}
		}
	}
	if len(flush) > 0 {
		h.schedule(flush)
	}
	clear(flush[:cap(flush)])
	*bp = flush[:0]
	h.batches.Put(bp)
	clear(frames)
	ch.frames = frames[:0]
	clear(alts)
	ch.alts = alts[:0]
	clear(ch.pick[:cap(ch.pick)])
}

// deliverPending hands e what is queued for it: it is leaving, and the fan-out task will not
// see it any more. mu held.
func (h *Hub) deliverPending(ch *channel, e *entry) {
	ch.pmu.Lock()
	defer ch.pmu.Unlock()
	var mine [][]byte
	for j := range ch.pending {
		if e.wants(&ch.pending[j]) {
			mine = append(mine, e.frameOf(&ch.pending[j]))
		}
	}
	if len(mine) > 0 && e.sub.Deliver(mine) {
		h.schedule([]Sub{e.sub})
	}
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
