package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// Redis Cluster mode. Commands (the scripts, presence, heartbeats) go through rueidis's
// cluster client, which routes them by slot and follows MOVED/ASK. Sharded pub/sub does not
// fit that client: a subscription lives on one connection to the master of the channel's
// slot and has to be moved by hand when the slot moves. So this engine keeps one dedicated
// pub/sub connection per shard master that has subscribed channels, maps each channel to its
// slot's master from CLUSTER SLOTS, and moves channels when:
//
//   - a shard connection fails (the master died: its replica takes over after
//     cluster-node-timeout; until the topology shows the new master, the channels are
//     orphans and the worker retries with a short backoff);
//   - Redis unsubscribes a channel by itself (it sends sunsubscribe when its slot moves away
//     from the node, at the end of a resharding or when a master is demoted);
//   - the periodic topology check (clusterRefresh) finds another owner, in case a
//     notification was missed.
//
// After a channel is subscribed on its new shard, its delivery worker replays from history
// what was published meanwhile (dCheck), exactly as after a reconnection in standalone mode.
// One goroutine, runCluster, owns all of this state; rueidis's callbacks only queue events.

// clusterRefresh is how often the worker re-reads the slot map to catch moves it was not
// told about.
const clusterRefresh = time.Second

const clusterSlots = 16384

// clusterState is owned by runCluster.
type clusterState struct {
	slots   [clusterSlots]string // master address per slot; "" when unknown
	shards  map[string]*shard    // live shard connections by master address
	chans   map[ChannelKey]chanRef
	orphans map[ChannelKey]struct{} // wanted, but not subscribed on any live shard
}

type chanRef struct {
	sh   *shard
	slot uint16
}

// shard is one pub/sub connection to one cluster master.
type shard struct {
	addr    string
	client  rueidis.Client
	dc      rueidis.DedicatedClient
	release func()
	quit    chan struct{}
	n       int // channels subscribed on it
	dead    bool
}

func newClusterState() *clusterState {
	return &clusterState{
		shards:  make(map[string]*shard),
		chans:   make(map[ChannelKey]chanRef),
		orphans: make(map[ChannelKey]struct{}),
	}
}

// keySlot is Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole
// key without one, modulo 16384.
func keySlot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if n := strings.IndexByte(key[s+1:], '}'); n > 0 {
			key = key[s+1 : s+1+n]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % clusterSlots
}

// runCluster is cluster mode's subscription worker and topology keeper.
func (e *Redis) runCluster(first chan<- error) {
	defer e.wg.Done()
	defer e.closeShards()
	cl := e.cl
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	err := e.refreshTopology(ctx)
	cancel()
	if err != nil {
		first <- fmt.Errorf("redis engine: cluster topology from %s: %w", e.opts.where(), err)
		return
	}
	e.st.connected.Store(true)
	first <- nil
	tick := time.NewTicker(clusterRefresh)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	retrying := false
	backoff := backoffMin
	var batch []subOp
	for {
		reconcile := false
		select {
		case <-e.ctx.Done():
			e.failPendingOps()
			return
		case <-e.opsWake:
		case <-tick.C:
			reconcile = true
		case <-retry.C:
			retrying = false
			reconcile = true
		}
		e.opsMu.Lock()
		batch, e.ops = e.ops, batch[:0]
		e.opsMu.Unlock()
		for start := 0; start < len(batch); {
			end := start
			for end < len(batch) && end-start < opsChunk && (batch[end].kind == opSubscribe || batch[end].kind == opUnsubscribe) {
				end++
			}
			if end > start {
				e.clusterOps(batch[start:end])
				start = end
				continue
			}
			op := batch[start]
			start++
			switch op.kind {
			case opShardLost:
				if !op.sh.dead {
					e.log.Warn("redis cluster shard pub/sub connection lost; moving its channels", zap.String("shard", op.sh.addr),
						zap.Int("channels", op.sh.n))
					e.dropShard(op.sh, true)
					reconcile = true
				}
			case opSunsub:
				if ref, ok := cl.chans[op.ch]; ok && ref.sh == op.sh {
					op.sh.n--
					delete(cl.chans, op.ch)
					if e.wanted(op.ch) {
						cl.orphans[op.ch] = struct{}{}
						reconcile = true
					}
				}
			}
		}
		clear(batch)
		batch = batch[:0]
		if !reconcile {
			continue
		}
		if e.reconcile() {
			backoff = backoffMin
			e.st.connected.Store(true)
			continue
		}
		e.st.connected.Store(false)
		if !retrying {
			d := backoff/2 + rand.N(backoff/2+1) // #nosec G404 -- retry jitter, not a secret
			retry.Reset(d)
			retrying = true
			backoff = min(2*backoff, e.backoffMax)
		}
	}
}

func (e *Redis) wanted(ch ChannelKey) bool {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	_, ok := e.subs[ch]
	return ok
}

// clusterOps runs a batch of subscribe/unsubscribe requests, pipelined per shard.
func (e *Redis) clusterOps(ops []subOp) {
	cl := e.cl
	type pending struct {
		sh   *shard
		ops  []subOp
		cmds rueidis.Commands
	}
	var order []*pending
	byShard := make(map[*shard]*pending)
	for _, op := range ops {
		if op.kind == opUnsubscribe {
			ref, ok := cl.chans[op.ch]
			delete(cl.orphans, op.ch)
			if !ok {
				e.deliveryFor(op.ch).push(dItem{kind: dForget, ch: op.ch})
				continue
			}
			delete(cl.chans, op.ch)
			ref.sh.n--
			p := byShard[ref.sh]
			if p == nil {
				p = &pending{sh: ref.sh}
				byShard[ref.sh] = p
				order = append(order, p)
			}
			p.ops = append(p.ops, op)
			p.cmds = append(p.cmds, ref.sh.dc.B().Sunsubscribe().Channel(e.keys.topic(op.ch)).Build())
			continue
		}
		sh, err := e.shardOf(op.ch)
		if err != nil {
			op.done <- err
			continue
		}
		p := byShard[sh]
		if p == nil {
			p = &pending{sh: sh}
			byShard[sh] = p
			order = append(order, p)
		}
		p.ops = append(p.ops, op)
		p.cmds = append(p.cmds, sh.dc.B().Hmget().Key(e.keys.meta(op.ch)).Field("o", "e").Build(),
			sh.dc.B().Ssubscribe().Channel(e.keys.topic(op.ch)).Build())
	}
	stale := false
	for _, p := range order {
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		res := p.sh.dc.DoMulti(ctx, p.cmds...)
		cancel()
		i := 0
		for _, op := range p.ops {
			if op.kind == opUnsubscribe {
				if err := res[i].Error(); err != nil && !errors.Is(err, context.Canceled) {
					e.log.Debug("unsubscribe", zap.String("app_id", op.ch.App), zap.String("channel", op.ch.Name), zap.Error(err))
				}
				e.deliveryFor(op.ch).push(dItem{kind: dForget, ch: op.ch})
				i++
				continue
			}
			meta, subRes := res[i], res[i+1]
			i += 2
			if err := subRes.Error(); err != nil {
				if isMoved(err) {
					stale = true
				}
				op.done <- err
				continue
			}
			var off int64
			var epoch string
			if vals, err := meta.ToArray(); err == nil && len(vals) == 2 && !vals[1].IsNil() {
				off, _ = vals[0].AsInt64()
				epoch, _ = vals[1].ToString()
			}
			slot := keySlot(e.keys.topic(op.ch))
			if old, ok := cl.chans[op.ch]; ok {
				old.sh.n-- // subscribed twice in a row: the new subscription replaces it
			}
			cl.chans[op.ch] = chanRef{sh: p.sh, slot: slot}
			delete(cl.orphans, op.ch)
			p.sh.n++
			e.deliveryFor(op.ch).push(dItem{kind: dInit, ch: op.ch, s: epoch, off: uint64(off)})
			op.done <- nil
		}
	}
	e.closeIdleShards()
	if stale {
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		if err := e.refreshTopology(ctx); err != nil {
			e.log.Warn("redis cluster topology refresh failed", zap.Error(err))
		}
		cancel()
	}
}

func isMoved(err error) bool {
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		_, moved := re.IsMoved()
		_, ask := re.IsAsk()
		return moved || ask
	}
	return false
}

// shardOf returns the live connection to the master of ch's slot, dialling it if needed.
func (e *Redis) shardOf(ch ChannelKey) (*shard, error) {
	addr := e.cl.slots[keySlot(e.keys.topic(ch))]
	if addr == "" {
		return nil, fmt.Errorf("%w: no master known for the slot of %s/%s", ErrUnavailable, ch.App, ch.Name)
	}
	return e.shardAt(addr)
}

func (e *Redis) shardAt(addr string) (*shard, error) {
	if sh := e.cl.shards[addr]; sh != nil {
		return sh, nil
	}
	copt, err := e.opts.nodeOption(addr)
	if err != nil {
		return nil, err
	}
	client, err := rueidis.NewClient(copt)
	if err != nil {
		return nil, fmt.Errorf("%w: shard %s: %w", ErrUnavailable, addr, err)
	}
	dc, release := client.Dedicate()
	sh := &shard{addr: addr, client: client, dc: dc, release: release, quit: make(chan struct{})}
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: e.onMessage,
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind != "sunsubscribe" {
				return
			}
			if ch, ok := e.keys.parseTopic(s.Channel); ok {
				e.enqueue(subOp{kind: opSunsub, sh: sh, ch: ChannelKey{App: strings.Clone(ch.App), Name: strings.Clone(ch.Name)}})
			}
		},
	})
	// A dedicated connection is dialled lazily: prove it before channels are put on it.
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	err = dc.Do(ctx, dc.B().Ping().Build()).Error()
	cancel()
	if err != nil {
		dc.Close()
		release()
		client.Close()
		return nil, fmt.Errorf("%w: shard %s: %w", ErrUnavailable, addr, err)
	}
	e.cl.shards[addr] = sh
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		select {
		case err := <-lost:
			if err == nil {
				err = errors.New("connection closed")
			}
			e.log.Debug("redis cluster shard connection ended", zap.String("shard", addr), zap.Error(err))
			e.enqueue(subOp{kind: opShardLost, sh: sh})
		case <-sh.quit:
		case <-e.ctx.Done():
		}
	}()
	e.log.Info("redis cluster shard connected", zap.String("shard", addr))
	return sh, nil
}

// dropShard closes sh; with orphan, its channels wait for the next reconcile.
func (e *Redis) dropShard(sh *shard, orphan bool) {
	cl := e.cl
	if sh.dead {
		return
	}
	sh.dead = true
	if cl.shards[sh.addr] == sh {
		delete(cl.shards, sh.addr)
	}
	if orphan {
		for ch, ref := range cl.chans {
			if ref.sh == sh {
				delete(cl.chans, ch)
				cl.orphans[ch] = struct{}{}
			}
		}
	}
	close(sh.quit)
	sh.dc.Close()
	sh.release()
	sh.client.Close()
}

func (e *Redis) closeIdleShards() {
	for _, sh := range e.cl.shards {
		if sh.n <= 0 {
			e.dropShard(sh, false)
		}
	}
}

func (e *Redis) closeShards() {
	for _, sh := range e.cl.shards {
		e.dropShard(sh, false)
	}
	e.st.connected.Store(false)
}

// reconcile re-reads the slot map and puts every wanted channel on its slot's master:
// orphans, and channels whose slot moved. It reports whether nothing is left to do.
func (e *Redis) reconcile() bool {
	cl := e.cl
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	err := e.refreshTopology(ctx)
	cancel()
	if err != nil {
		e.st.errors.Add(1)
		e.log.Warn("redis cluster topology refresh failed; retrying", zap.Error(err), zap.Int("orphan_channels", len(cl.orphans)))
		return false
	}
	moves := make(map[string][]ChannelKey)
	for ch := range cl.orphans {
		if !e.wanted(ch) {
			delete(cl.orphans, ch)
			continue
		}
		addr := cl.slots[keySlot(e.keys.topic(ch))]
		moves[addr] = append(moves[addr], ch)
	}
	for ch, ref := range cl.chans {
		if addr := cl.slots[ref.slot]; addr != ref.sh.addr {
			moves[addr] = append(moves[addr], ch)
		}
	}
	ok := true
	for addr, chans := range moves {
		if addr == "" {
			ok = false
			continue
		}
		if !e.moveChannels(addr, chans) {
			ok = false
		}
	}
	e.closeIdleShards()
	if !ok && len(cl.orphans) > 0 {
		e.log.Info("redis cluster channels waiting for their shard", zap.Int("channels", len(cl.orphans)))
	}
	return ok
}

// moveChannels subscribes chans on the master at addr, unsubscribes them where they were,
// and has their delivery workers replay what they missed.
func (e *Redis) moveChannels(addr string, chans []ChannelKey) bool {
	cl := e.cl
	sh, err := e.shardAt(addr)
	if err != nil {
		e.st.errors.Add(1)
		e.log.Debug("redis cluster shard unreachable", zap.String("shard", addr), zap.Error(err))
		for _, ch := range chans {
			if ref, ok := cl.chans[ch]; ok {
				ref.sh.n--
				delete(cl.chans, ch)
			}
			cl.orphans[ch] = struct{}{}
		}
		return false
	}
	ok := true
	for start := 0; start < len(chans); start += opsChunk {
		part := chans[start:min(start+opsChunk, len(chans))]
		cmds := make(rueidis.Commands, len(part))
		for i, ch := range part {
			cmds[i] = sh.dc.B().Ssubscribe().Channel(e.keys.topic(ch)).Build()
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		res := sh.dc.DoMulti(ctx, cmds...)
		cancel()
		var unsub []ChannelKey
		for i, ch := range part {
			old, had := cl.chans[ch]
			if err := res[i].Error(); err != nil {
				ok = false
				e.st.errors.Add(1)
				e.log.Debug("redis cluster resubscribe", zap.String("shard", addr), zap.String("channel", ch.Name), zap.Error(err))
				if had {
					old.sh.n--
					delete(cl.chans, ch)
				}
				cl.orphans[ch] = struct{}{}
				continue
			}
			if had && old.sh != sh {
				old.sh.n--
				if !old.sh.dead {
					unsub = append(unsub, ch)
					e.unsubscribeOn(old.sh, ch)
				}
			}
			if !had || old.sh != sh {
				sh.n++
			}
			cl.chans[ch] = chanRef{sh: sh, slot: keySlot(e.keys.topic(ch))}
			delete(cl.orphans, ch)
			e.deliveryFor(ch).push(dItem{kind: dCheck, ch: ch})
		}
		if len(unsub) > 0 {
			e.log.Info("redis cluster channels moved to another shard", zap.String("shard", addr), zap.Int("channels", len(unsub)))
		}
	}
	return ok
}

// unsubscribeOn drops ch from a shard that no longer owns its slot (Redis usually did it
// already), without waiting.
func (e *Redis) unsubscribeOn(sh *shard, ch ChannelKey) {
	ctx, cancel := context.WithTimeout(e.ctx, time.Second)
	defer cancel()
	if err := sh.dc.Do(ctx, sh.dc.B().Sunsubscribe().Channel(e.keys.topic(ch)).Build()).Error(); err != nil {
		e.log.Debug("unsubscribe from the former shard", zap.String("shard", sh.addr), zap.String("channel", ch.Name), zap.Error(err))
	}
}

// refreshTopology reads CLUSTER SLOTS from the first node that answers (known nodes in
// random order, then the seeds) and replaces the slot map.
func (e *Redis) refreshTopology(ctx context.Context) error {
	var addrs []string
	for addr := range e.client.Nodes() {
		addrs = append(addrs, addr)
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] }) // #nosec G404 -- spreads topology reads over nodes; nothing secret depends on it
	addrs = append(addrs, e.opts.Addresses...)
	nodes := e.client.Nodes()
	var errs []error
	for _, addr := range addrs {
		c := nodes[addr]
		if c == nil {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := c.Do(qctx, c.B().ClusterSlots().Build()).ToArray()
		cancel()
		if err == nil {
			var slots [clusterSlots]string
			if err = parseClusterSlots(res, addr, &slots); err == nil {
				e.cl.slots = slots
				return nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return errors.New("no cluster node known")
	}
	return errors.Join(errs...)
}

// parseClusterSlots fills slots from a CLUSTER SLOTS reply:
// [[start, end, [host, port, id, …], replicas…], …]. An empty host means the node asked.
func parseClusterSlots(res []rueidis.RedisMessage, asked string, slots *[clusterSlots]string) error {
	askedHost, _, _ := net.SplitHostPort(asked)
	for _, r := range res {
		rng, err := r.ToArray()
		if err != nil || len(rng) < 3 {
			return errors.New("malformed CLUSTER SLOTS entry")
		}
		start, err1 := rng[0].AsInt64()
		end, err2 := rng[1].AsInt64()
		master, err3 := rng[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(master) < 2 || start < 0 || end >= clusterSlots || start > end {
			return errors.New("malformed CLUSTER SLOTS range")
		}
		host, err1 := master[0].ToString()
		port, err2 := master[1].AsInt64()
		if err1 != nil || err2 != nil {
			return errors.New("malformed CLUSTER SLOTS node")
		}
		if host == "" || host == "?" {
			host = askedHost
		}
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		for s := start; s <= end; s++ {
			slots[s] = addr
		}
	}
	return nil
}
