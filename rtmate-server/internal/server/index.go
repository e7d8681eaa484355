package server

import "sync"

// clientIndex finds connections by client id for the HTTP API. Sharded like the hub, so that
// connects and disconnects on different shards never contend.
type clientIndex struct {
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*Conn
	}
}

func (x *clientIndex) init() {
	for i := range x.shards {
		x.shards[i].m = make(map[string]*Conn)
	}
}

func (x *clientIndex) shard(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % uint32(len(x.shards)))
}

func (x *clientIndex) add(c *Conn) {
	sh := &x.shards[x.shard(c.clientID)]
	sh.mu.Lock()
	sh.m[c.clientID] = c
	sh.mu.Unlock()
}

func (x *clientIndex) remove(c *Conn) {
	sh := &x.shards[x.shard(c.clientID)]
	sh.mu.Lock()
	if sh.m[c.clientID] == c {
		delete(sh.m, c.clientID)
	}
	sh.mu.Unlock()
}

func (x *clientIndex) get(id string) *Conn {
	sh := &x.shards[x.shard(id)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[id]
}

// each calls f for every authenticated connection; f must not block.
func (x *clientIndex) each(f func(*Conn)) {
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.RLock()
		for _, c := range sh.m {
			f(c)
		}
		sh.mu.RUnlock()
	}
}
