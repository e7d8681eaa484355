package engine

import (
	"context"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// maxReplay bounds how many missed publications one gap recovery replays on a channel; a
// longer outage loses the rest (counted in Stats.Lost), and clients that reconnect recover
// what their history still holds.
const maxReplay = 1000

type dKind uint8

const (
	dMessage dKind = iota // s = pub/sub payload
	dInit                 // subscribed: s = epoch, off = offset just before the subscription
	dCheck                // resubscribed after a reconnection: replay what was missed
	dForget               // unsubscribed
)

type dItem struct {
	kind dKind
	ch   ChannelKey
	s    string
	off  uint64
}

// chanPos is where a channel's delivery on this node stands.
type chanPos struct {
	epoch string
	last  uint64
	// fresh: the epoch changed and nothing of the new one was delivered yet. A new epoch
	// may start above offset 1 (the lineage jump, see engine_redis_scripts.go), so the
	// offsets below its first one are not a loss.
	fresh bool
	// notify: the epoch changed under live subscribers and they were not told yet. They
	// are told just before the new epoch's first delivery, whose offset the notice carries.
	notify bool
}

// itemOverhead is what a queued publication costs besides its payload, for the backlog
// bound.
const itemOverhead = 64

// delivery is one delivery worker. It owns a fixed share of the channels (by hash), so each
// channel's publications reach the handler one at a time in Redis's order. The producer is
// rueidis's reader goroutine, which must never block (a Subscribe holding a hub channel lock
// waits for a reply on the same connection while this worker may wait for that lock), so
// the queue is bounded by dropping instead: past the bound, publications are counted and
// dropped, their channels remembered and replayed from history once the queue is drained.
type delivery struct {
	e     *Redis
	mu    sync.Mutex
	queue []dItem
	bytes int                     // payload bytes (and overhead) in queue
	limit int                     // bound on bytes
	lossy map[ChannelKey]struct{} // channels that had publications dropped since the last drain
	wake  chan struct{}

	// Owned by run.
	state map[ChannelKey]*chanPos
	pub   Publication
}

func newDelivery(e *Redis, limit int) *delivery {
	return &delivery{e: e, limit: limit, wake: make(chan struct{}, 1), state: make(map[ChannelKey]*chanPos)}
}

func (e *Redis) deliveryFor(ch ChannelKey) *delivery {
	return e.deliv[fnv32(ch.App, ch.Name)%uint32(len(e.deliv))]
}

func (d *delivery) push(it dItem) {
	d.mu.Lock()
	if it.kind == dMessage {
		size := len(it.s) + itemOverhead
		if d.bytes+size > d.limit {
			if _, ok := d.lossy[it.ch]; !ok {
				if d.lossy == nil {
					d.lossy = make(map[ChannelKey]struct{})
				}
				d.lossy[ChannelKey{App: strings.Clone(it.ch.App), Name: strings.Clone(it.ch.Name)}] = struct{}{}
			}
			d.mu.Unlock()
			d.e.st.dropped.Add(1)
			d.signal() // the worker must come round to replay the channel
			return
		}
		d.bytes += size
	}
	d.queue = append(d.queue, it)
	d.mu.Unlock()
	d.signal()
}

func (d *delivery) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *delivery) backlog() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue)
}

func (d *delivery) run() {
	defer d.e.wg.Done()
	var batch []dItem
	for {
		select {
		case <-d.e.ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		batch, d.queue = d.queue, batch[:0]
		d.bytes = 0 // the batch is out of the queue; at most twice the bound is held
		lossy := d.lossy
		d.lossy = nil
		d.mu.Unlock()
		for i := range batch {
			d.process(&batch[i])
		}
		clear(batch) // release the payload strings
		for ch := range lossy {
			d.check(ch) // after the batch: whatever of ch came after the drops is delivered already
		}
	}
}

func (d *delivery) process(it *dItem) {
	switch it.kind {
	case dMessage:
		d.message(it.ch, it.s)
	case dInit:
		if d.state[it.ch] == nil {
			d.state[it.ch] = &chanPos{epoch: it.s, last: it.off}
		}
	case dCheck:
		d.check(it.ch)
	case dForget:
		delete(d.state, it.ch)
	}
}

func (d *delivery) message(ch ChannelKey, payload string) {
	off, epoch, body, err := splitPayload(payload)
	if err == nil {
		err = decodeBody(body, &d.pub)
	}
	if err != nil {
		d.e.st.errors.Add(1)
		d.e.log.Warn("undecodable publication from redis", zap.String("app_id", ch.App), zap.String("channel", ch.Name), zap.Error(err))
		return
	}
	d.pub.Offset, d.pub.Epoch = off, epoch
	if off != 0 {
		st := d.state[ch]
		switch {
		case st == nil:
			st = &chanPos{}
			d.state[ChannelKey{App: strings.Clone(ch.App), Name: strings.Clone(ch.Name)}] = st
			st.epoch, st.last = strings.Clone(epoch), off-1
		case st.epoch == "":
			// Subscribed before the channel had history: every offset of this epoch is new.
			st.epoch, st.fresh = strings.Clone(epoch), true
		case st.epoch != epoch:
			// History was lost in Redis and offsets started over. What the old epoch still
			// owed is gone; everything of the new one is new here.
			d.e.st.resets.Add(1)
			st.epoch, st.last, st.fresh, st.notify = strings.Clone(epoch), 0, true, true
		}
		if off <= st.last {
			d.e.st.duplicates.Add(1)
			return
		}
		if off > st.last+1 {
			// A gap: this node missed publications (its pub/sub connection was down). The
			// replay goes through d.pub, so the current publication is decoded again after.
			d.replay(ch, st, off-1, 0)
			if err := decodeBody(body, &d.pub); err != nil {
				return
			}
			d.pub.Offset, d.pub.Epoch = off, epoch
		}
		if st.notify {
			d.notify(ch, st, off)
		}
		st.last, st.fresh = off, false
	}
	d.e.handler.HandlePublication(ch, &d.pub)
	d.pub = Publication{}
}

// notify tells the handler that ch's epoch changed, before the delivery of off, the new
// epoch's first publication on this node. Rare (a failover, a loss of history): off the
// per-delivery path but for the flag test.
func (d *delivery) notify(ch ChannelKey, st *chanPos, off uint64) {
	st.notify = false
	d.e.st.notices.Add(1)
	d.e.handler.HandleEpochReset(ch, StreamPosition{Epoch: st.epoch, Offset: off - 1})
}

// check replays what ch missed while the pub/sub connection was down.
func (d *delivery) check(ch ChannelKey) {
	if st := d.state[ch]; st != nil {
		d.replay(ch, st, 0, 0)
	}
}

// replay delivers ch's publications after st.last from history, up to offset upto (0: all
// there are), and advances st.last.
func (d *delivery) replay(ch ChannelKey, st *chanPos, upto uint64, depth int) {
	limit := maxReplay
	if upto != 0 {
		limit = int(min(upto-st.last, maxReplay))
	}
	ctx, cancel := context.WithTimeout(d.e.ctx, d.e.opts.Timeout)
	pubs, pos, err := d.e.History(ctx, ch, st.last, limit)
	cancel()
	if err != nil {
		if upto > st.last {
			d.e.st.lost.Add(upto - st.last)
		}
		d.e.log.Warn("replay of missed publications failed", zap.String("app_id", ch.App), zap.String("channel", ch.Name),
			zap.Uint64("since", st.last), zap.Error(err))
		return
	}
	if pos.Epoch != st.epoch {
		switch {
		case st.epoch == "":
			st.epoch, st.fresh = pos.Epoch, true // the channel's first epoch: all of it is new
		case pos.Epoch == "":
			// Redis lost the channel and nothing was published since: the next epoch will
			// be new from its first offset.
			d.e.st.resets.Add(1)
			st.epoch, st.last, st.notify = "", 0, true
			return
		case upto == 0 && depth == 0:
			// Lost and published again meanwhile: replay the new epoch from its start.
			d.e.st.resets.Add(1)
			d.e.log.Warn("channel history was lost in redis; what this node missed before cannot be replayed",
				zap.String("app_id", ch.App), zap.String("channel", ch.Name), zap.String("old_epoch", st.epoch),
				zap.String("epoch", pos.Epoch))
			st.epoch, st.last, st.fresh, st.notify = pos.Epoch, 0, true, true
			d.replay(ch, st, 0, depth+1)
			return
		default:
			return // lost again while filling a gap: nothing reliable to replay
		}
	}
	if upto == 0 {
		upto = pos.Offset
	}
	for i := range pubs {
		p := &pubs[i]
		if p.Offset <= st.last || p.Offset > upto {
			continue
		}
		if p.Offset > st.last+1 && !st.fresh {
			d.e.st.lost.Add(p.Offset - st.last - 1)
		}
		d.e.st.recovered.Add(1)
		if st.notify {
			d.notify(ch, st, p.Offset)
		}
		d.pub = *p
		d.e.handler.HandlePublication(ch, &d.pub)
		st.last, st.fresh = p.Offset, false
	}
	if upto > st.last {
		if !st.fresh {
			d.e.st.lost.Add(upto - st.last)
		}
		st.last = upto
	}
}
