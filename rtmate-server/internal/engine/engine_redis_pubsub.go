package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// ErrUnavailable is returned by Subscribe while the engine's pub/sub connection is down; the
// engine is reconnecting and the caller may retry.
var ErrUnavailable = errors.New("engine: redis pub/sub connection is down")

// Reconnection backoff: quick enough that a Redis restart costs seconds, not minutes; capped
// so that a long outage does not hammer Redis from every node.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 5 * time.Second
	// haBackoffMax caps the backoff in cluster and sentinel modes, where the address to
	// reconnect to changes within seconds of a failure (a replica is promoted) and the
	// promise is delivery resuming within 5 s of the failover.
	haBackoffMax = time.Second
)

// opsChunk bounds how many subscription commands go in one pipelined round trip.
const opsChunk = 512

// psConn is one dedicated pub/sub connection.
type psConn struct {
	dc      rueidis.DedicatedClient
	release func()
}

type opKind uint8

const (
	opSubscribe opKind = iota
	opUnsubscribe
	opResubscribe // everything in e.subs, after a reconnection
	opShardLost   // cluster: sh's connection failed
	opSunsub      // cluster: sh reported that ch is no longer subscribed (a slot moved)
)

// subOp is one request to the subscription worker. done (subscribe and resubscribe only)
// receives exactly one result.
type subOp struct {
	kind opKind
	ch   ChannelKey
	done chan error
	sh   *shard // opShardLost, opSunsub
}

// Subscribe subscribes this node to ch and returns once Redis confirmed it: any publication
// that Redis orders after the return reaches the handler, and a History read after the
// return sees every one ordered before.
func (e *Redis) Subscribe(ctx context.Context, ch ChannelKey) error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.subMu.Lock()
	e.subs[ch] = struct{}{}
	up := e.ps != nil || e.cl != nil // in cluster mode the worker finds the channel's shard
	e.subMu.Unlock()
	if !up {
		e.dropSub(ch)
		return e.fail(fmt.Errorf("redis engine: subscribe %s/%s: %w", ch.App, ch.Name, ErrUnavailable))
	}
	op := subOp{kind: opSubscribe, ch: ch, done: make(chan error, 1)}
	e.enqueue(op)
	var err error
	select {
	case err = <-op.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-e.ctxDone():
		err = ErrClosed
	}
	if err != nil {
		// The subscription may still be made later: undo it in order behind it.
		e.dropSub(ch)
		e.enqueue(subOp{kind: opUnsubscribe, ch: ch})
		return e.fail(fmt.Errorf("redis engine: subscribe %s/%s: %w", ch.App, ch.Name, err))
	}
	return nil
}

// Unsubscribe stops delivery of ch to this node. It does not wait for Redis: the command is
// queued behind every earlier subscription command, which is all the ordering needed.
func (e *Redis) Unsubscribe(_ context.Context, ch ChannelKey) error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.dropSub(ch)
	e.enqueue(subOp{kind: opUnsubscribe, ch: ch})
	return nil
}

func (e *Redis) dropSub(ch ChannelKey) {
	e.subMu.Lock()
	delete(e.subs, ch)
	e.subMu.Unlock()
}

func (e *Redis) ctxDone() <-chan struct{} {
	if e.ctx == nil {
		return nil
	}
	return e.ctx.Done()
}

func (e *Redis) enqueue(op subOp) {
	e.opsMu.Lock()
	e.ops = append(e.ops, op)
	e.opsMu.Unlock()
	select {
	case e.opsWake <- struct{}{}:
	default:
	}
}

// runOps is the subscription worker: it alone writes to the pub/sub connection, so that
// subscribe and unsubscribe of one channel reach Redis in the order the hub made them.
func (e *Redis) runOps() {
	defer e.wg.Done()
	var batch []subOp
	for {
		select {
		case <-e.ctx.Done():
			e.failPendingOps()
			return
		case <-e.opsWake:
		}
		e.opsMu.Lock()
		batch, e.ops = e.ops, batch[:0]
		e.opsMu.Unlock()
		for len(batch) > 0 {
			n := 0
			for n < len(batch) && n < opsChunk && batch[n].kind != opResubscribe {
				n++
			}
			if n == 0 {
				e.resubscribe(batch[0])
				n = 1
			} else {
				e.execOps(batch[:n])
			}
			clear(batch[:n])
			batch = batch[n:]
		}
		batch = batch[:0]
	}
}

// failPendingOps answers every queued request with ErrClosed (the engine is closing).
func (e *Redis) failPendingOps() {
	e.opsMu.Lock()
	ops := e.ops
	e.ops = nil
	e.opsMu.Unlock()
	for _, op := range ops {
		if op.done != nil {
			op.done <- ErrClosed
		}
	}
}

func (e *Redis) conn() *psConn {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	return e.ps
}

// execOps pipelines a run of subscribe/unsubscribe commands in one round trip. A subscribe
// reads the channel's position just before subscribing, on the same connection: it tells
// the delivery worker where the channel stood, so that a reconnection can later replay what
// was published while the connection was down, even on a channel that had no message yet.
func (e *Redis) execOps(ops []subOp) {
	ps := e.conn()
	if ps == nil {
		for _, op := range ops {
			if op.done != nil {
				op.done <- ErrUnavailable
			} else {
				e.deliveryFor(op.ch).push(dItem{kind: dForget, ch: op.ch})
			}
		}
		return
	}
	cmds := make(rueidis.Commands, 0, 2*len(ops))
	for _, op := range ops {
		topic := e.keys.topic(op.ch)
		if op.kind == opSubscribe {
			cmds = append(cmds, ps.dc.B().Hmget().Key(e.keys.meta(op.ch)).Field("o", "e").Build())
			if e.sharded {
				cmds = append(cmds, ps.dc.B().Ssubscribe().Channel(topic).Build())
			} else {
				cmds = append(cmds, ps.dc.B().Subscribe().Channel(topic).Build())
			}
			continue
		}
		if e.sharded {
			cmds = append(cmds, ps.dc.B().Sunsubscribe().Channel(topic).Build())
		} else {
			cmds = append(cmds, ps.dc.B().Unsubscribe().Channel(topic).Build())
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	res := ps.dc.DoMulti(ctx, cmds...)
	cancel()
	i := 0
	for _, op := range ops {
		if op.kind != opSubscribe {
			if err := res[i].Error(); err != nil && !errors.Is(err, context.Canceled) {
				e.st.errors.Add(1)
				e.log.Debug("unsubscribe", zap.String("app_id", op.ch.App), zap.String("channel", op.ch.Name), zap.Error(err))
			}
			e.deliveryFor(op.ch).push(dItem{kind: dForget, ch: op.ch})
			i++
			continue
		}
		meta, subRes := res[i], res[i+1]
		i += 2
		if err := subRes.Error(); err != nil {
			op.done <- err
			continue
		}
		var off int64
		var epoch string
		if vals, err := meta.ToArray(); err == nil && len(vals) == 2 && !vals[1].IsNil() {
			off, _ = vals[0].AsInt64()
			epoch, _ = vals[1].ToString()
		}
		e.deliveryFor(op.ch).push(dItem{kind: dInit, ch: op.ch, s: epoch, off: uint64(off)})
		op.done <- nil
	}
}

// resubscribe subscribes a new connection to every channel this node wants, then asks each
// channel's delivery worker to replay from history what was published while it was down.
func (e *Redis) resubscribe(op subOp) {
	if e.beforeResubscribe != nil {
		e.beforeResubscribe()
	}
	ps := e.conn()
	if ps == nil {
		op.done <- ErrUnavailable
		return
	}
	e.subMu.Lock()
	chans := make([]ChannelKey, 0, len(e.subs))
	for ch := range e.subs {
		chans = append(chans, ch)
	}
	e.subMu.Unlock()
	if len(chans) == 0 {
		// Nothing to subscribe, but the connection must be proven alive.
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		err := ps.dc.Do(ctx, ps.dc.B().Ping().Build()).Error()
		cancel()
		op.done <- err
		return
	}
	for start := 0; start < len(chans); start += opsChunk {
		part := chans[start:min(start+opsChunk, len(chans))]
		cmds := make(rueidis.Commands, 0, len(part))
		for _, ch := range part {
			if e.sharded {
				cmds = append(cmds, ps.dc.B().Ssubscribe().Channel(e.keys.topic(ch)).Build())
			} else {
				cmds = append(cmds, ps.dc.B().Subscribe().Channel(e.keys.topic(ch)).Build())
			}
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		res := ps.dc.DoMulti(ctx, cmds...)
		cancel()
		for _, r := range res {
			if err := r.Error(); err != nil {
				op.done <- err
				return
			}
		}
	}
	for _, ch := range chans {
		e.deliveryFor(ch).push(dItem{kind: dCheck, ch: ch})
	}
	op.done <- nil
}

// runPubSub keeps one pub/sub connection up: it connects, has the worker resubscribe, waits
// for the connection to fail, and starts over with jittered exponential backoff. Local
// clients stay connected throughout; what they miss is replayed from history afterwards.
func (e *Redis) runPubSub(first chan<- error) {
	defer e.wg.Done()
	backoff := backoffMin
	everUp := false
	failures := 0
	for e.ctx.Err() == nil {
		lost, n, err := e.connect()
		if err != nil {
			e.st.errors.Add(1)
			if first != nil {
				first <- fmt.Errorf("redis engine: pub/sub connection to %s: %w", e.opts.where(), err)
				return
			}
			failures++
			if failures == 1 || failures%20 == 0 {
				e.log.Warn("redis pub/sub connect failed; retrying", zap.Error(err), zap.Int("attempts", failures),
					zap.Duration("backoff", backoff))
			}
			if !e.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, e.backoffMax)
			continue
		}
		e.st.connected.Store(true)
		if everUp {
			e.st.reconnects.Add(1)
			e.log.Info("redis pub/sub reconnected", zap.Int("channels", n), zap.Int("failed_attempts", failures))
		}
		everUp = true
		failures = 0
		backoff = backoffMin
		if first != nil {
			first <- nil
			first = nil
		}
		select {
		case err := <-lost:
			e.disconnect()
			if e.ctx.Err() != nil {
				return
			}
			e.st.errors.Add(1)
			e.log.Warn("redis pub/sub connection lost; reconnecting", zap.Error(err))
		case <-e.ctx.Done():
			e.disconnect()
			return
		}
		// Reconnect at once the first time: a restarted Redis is usually back by then.
	}
}

// connect opens a dedicated connection, makes it the live one and has it resubscribed.
func (e *Redis) connect() (lost <-chan error, channels int, err error) {
	dc, release := e.client.Dedicate()
	lost = dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: e.onMessage})
	ps := &psConn{dc: dc, release: release}
	// The connection becomes live before the snapshot of channels is taken (in resubscribe),
	// so a Subscribe racing with this is either in the snapshot or queued behind it.
	e.subMu.Lock()
	e.ps = ps
	channels = len(e.subs)
	e.subMu.Unlock()
	op := subOp{kind: opResubscribe, done: make(chan error, 1)}
	e.enqueue(op)
	select {
	case err = <-op.done:
	case err = <-lost:
		if err == nil {
			err = errors.New("connection closed")
		}
	case <-e.ctx.Done():
		err = e.ctx.Err()
	}
	if err != nil {
		e.disconnect()
		return nil, 0, err
	}
	return lost, channels, nil
}

func (e *Redis) disconnect() {
	e.subMu.Lock()
	ps := e.ps
	e.ps = nil
	e.subMu.Unlock()
	e.st.connected.Store(false)
	if ps != nil {
		ps.dc.Close()
		ps.release()
	}
}

func (e *Redis) sleep(d time.Duration) bool {
	d = d/2 + rand.N(d/2+1) // #nosec G404 -- reconnect jitter, not a secret
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}

// onMessage runs on rueidis's reader goroutine: it must never block (the same goroutine
// reads the replies that a blocked delivery could be waiting for), so it only queues.
func (e *Redis) onMessage(m rueidis.PubSubMessage) {
	ch, ok := e.keys.parseTopic(m.Channel)
	if !ok {
		e.st.errors.Add(1)
		return
	}
	e.st.received.Add(1)
	e.deliveryFor(ch).push(dItem{kind: dMessage, ch: ch, s: m.Message})
}
