package engine

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var _ Engine = (*Memory)(nil)

// memShards spreads channels over independent locks so that publishers on different
// channels never contend.
const memShards = 64

// Memory is the single-node engine: delivery is a direct call, presence and history live in
// this process. Safe for concurrent use.
type Memory struct {
	epoch   string
	seq     atomic.Uint64 // numbers streams, so that a stream created anew gets a new epoch
	handler Handler
	shards  [memShards]memShard
	now     func() time.Time
	stop    chan struct{}
	once    sync.Once
}

// IdleStreamTTL is how long the memory engine keeps the history of a channel that nobody
// published to or read: without it, every channel ever used would stay in memory.
const IdleStreamTTL = 24 * time.Hour

// sweepEvery is how often idle streams and expired history are collected.
const sweepEvery = time.Minute

type memShard struct {
	mu       sync.Mutex
	streams  map[ChannelKey]*stream
	presence map[ChannelKey]map[string]ClientInfo
}

// stream is one channel's order and history. Its lock is held while the handler delivers,
// which is what makes every subscriber see a channel's publications in one order.
type stream struct {
	mu sync.Mutex
	// hmu guards offset and the ring, and is a leaf: History takes only hmu, because the hub
	// calls History under its channel lock, which a publisher holding mu waits for.
	hmu     sync.Mutex
	epoch   string
	ttl     int64 // seconds; from the last publish's HistoryOptions
	dead    bool  // swept: publishers must look the channel up again
	offset  uint64
	ring    []histEntry // the last len(ring) publications, ring[head] oldest
	head    int
	n       int
	touched time.Time
}

type histEntry struct {
	pub Publication
	at  time.Time
}

// NewMemory returns a memory engine; its epoch is fresh for each process, because its history
// dies with the process.
func NewMemory() *Memory {
	m := &Memory{
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36),
		now:   time.Now,
		stop:  make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].streams = make(map[ChannelKey]*stream)
		m.shards[i].presence = make(map[ChannelKey]map[string]ClientInfo)
	}
	return m
}

func (m *Memory) shard(ch ChannelKey) *memShard {
	return &m.shards[fnv32(ch.App, ch.Name)%memShards]
}

// Start sets the delivery handler and starts collecting idle streams.
func (m *Memory) Start(_ context.Context, h Handler) error {
	m.handler = h
	go m.sweepLoop()
	return nil
}

// Close stops the collector.
func (m *Memory) Close() error {
	m.once.Do(func() { close(m.stop) })
	return nil
}

func (m *Memory) sweepLoop() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep(m.now())
		}
	}
}

// sweep drops expired history and the streams of channels idle for IdleStreamTTL (or their
// TTL, when that is longer). A dropped stream comes back with a new epoch, so no client
// mistakes its restarted offsets for the old ones.
func (m *Memory) sweep(now time.Time) {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for k, st := range sh.streams {
			st.hmu.Lock()
			st.expire(now, st.ttl)
			idle := max(IdleStreamTTL, time.Duration(st.ttl)*time.Second)
			if now.Sub(st.touched) > idle {
				st.dead = true
				delete(sh.streams, k)
			}
			st.hmu.Unlock()
		}
		sh.mu.Unlock()
	}
}

func (m *Memory) stream(ch ChannelKey, create bool) *stream {
	sh := m.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.streams[ch]
	if st == nil && create {
		st = &stream{epoch: m.epoch + "." + strconv.FormatUint(m.seq.Add(1), 36), touched: m.now()}
		sh.streams[ch] = st
	}
	return st
}

// Publish orders pub on its channel, records it when history is on, and delivers it.
func (m *Memory) Publish(_ context.Context, ch ChannelKey, pub *Publication, opts HistoryOptions) (StreamPosition, error) {
	if opts.Size <= 0 || pub.Kind != KindMessage {
		// No history: ordering comes from the hub's per-channel lock alone.
		m.handler.HandlePublication(ch, pub)
		return StreamPosition{Epoch: m.epoch}, nil
	}
	var st *stream
	for {
		st = m.stream(ch, true)
		st.mu.Lock()
		st.hmu.Lock()
		if !st.dead {
			break
		}
		st.hmu.Unlock()
		st.mu.Unlock()
	}
	defer st.mu.Unlock()
	now := m.now()
	st.ttl = opts.TTLSeconds
	st.offset++
	pub.Offset = st.offset
	pub.Epoch = st.epoch
	st.touched = now
	if len(st.ring) != opts.Size {
		st.resize(opts.Size)
	}
	kept := *pub
	kept.Data = append([]byte(nil), pub.Data...) // the caller's buffer is reused after Publish
	idx := (st.head + st.n) % len(st.ring)
	if st.n == len(st.ring) {
		st.head = (st.head + 1) % len(st.ring)
	} else {
		st.n++
	}
	st.ring[idx] = histEntry{pub: kept, at: now}
	st.expire(now, opts.TTLSeconds)
	st.hmu.Unlock()
	m.handler.HandlePublication(ch, pub)
	return StreamPosition{Offset: pub.Offset, Epoch: st.epoch}, nil
}

// resize keeps the newest entries when an app's history size changes on reload.
func (st *stream) resize(size int) {
	ring := make([]histEntry, size)
	keep := min(st.n, size)
	for i := 0; i < keep; i++ {
		ring[i] = st.ring[(st.head+st.n-keep+i)%len(st.ring)]
	}
	st.ring, st.head, st.n = ring, 0, keep
}

func (st *stream) expire(now time.Time, ttl int64) {
	if ttl <= 0 {
		return
	}
	cutoff := now.Add(-time.Duration(ttl) * time.Second)
	for st.n > 0 && st.ring[st.head].at.Before(cutoff) {
		st.ring[st.head] = histEntry{}
		st.head = (st.head + 1) % len(st.ring)
		st.n--
	}
}

// Subscribe is a no-op: the one node always receives its own publications.
func (m *Memory) Subscribe(context.Context, ChannelKey) error { return nil }

// Unsubscribe is a no-op, like Subscribe.
func (m *Memory) Unsubscribe(context.Context, ChannelKey) error { return nil }

// History returns what the channel's ring still holds after since.
func (m *Memory) History(_ context.Context, ch ChannelKey, since uint64, limit int) ([]Publication, StreamPosition, error) {
	// Reading creates the stream, so that a subscriber told the epoch of a channel nobody
	// published to yet recovers from it once publications come.
	st := m.stream(ch, true)
	st.hmu.Lock()
	defer st.hmu.Unlock()
	now := m.now()
	st.touched = now
	st.expire(now, st.ttl) // a quiet channel must not serve history past its TTL
	var out []Publication
	for i := 0; i < st.n && (limit <= 0 || len(out) < limit); i++ {
		e := st.ring[(st.head+i)%len(st.ring)]
		if e.pub.Offset > since {
			out = append(out, e.pub)
		}
	}
	return out, StreamPosition{Offset: st.offset, Epoch: st.epoch}, nil
}

// AddPresence records a member (idempotent per client id).
func (m *Memory) AddPresence(_ context.Context, ch ChannelKey, info ClientInfo) error {
	sh := m.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	members := sh.presence[ch]
	if members == nil {
		members = make(map[string]ClientInfo)
		sh.presence[ch] = members
	}
	members[info.ClientID] = info
	return nil
}

// RemovePresence forgets a member.
func (m *Memory) RemovePresence(_ context.Context, ch ChannelKey, clientID string) error {
	sh := m.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if members := sh.presence[ch]; members != nil {
		delete(members, clientID)
		if len(members) == 0 {
			delete(sh.presence, ch)
		}
	}
	return nil
}

// Presence lists a channel's members.
func (m *Memory) Presence(_ context.Context, ch ChannelKey) ([]ClientInfo, error) {
	sh := m.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	members := sh.presence[ch]
	out := make([]ClientInfo, 0, len(members))
	for _, info := range members {
		out = append(out, info)
	}
	return out, nil
}

// fnv32 hashes app and channel name without allocating a joined string.
func fnv32(a, b string) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * prime
	}
	h *= prime // a separator, so ("ab","c") and ("a","bc") differ
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * prime
	}
	return h
}
