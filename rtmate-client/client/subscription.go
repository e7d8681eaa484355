package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Handlers receive a subscription's events, on the client's event goroutine, in the order
// the server sent them. Every field is optional.
type Handlers struct {
	// OnMessage receives each publication once, in channel order, including those
	// recovered after a reconnection.
	OnMessage func(protocol.Publication)
	// OnJoin and OnLeave receive presence changes (presence channels only).
	OnJoin, OnLeave func(protocol.PresenceEvent)
	// OnSubscribed is called after the first subscription and after every resubscription.
	OnSubscribed func(SubscribedEvent)
	// OnError receives the error that ended the subscription when the server refused to
	// renew it after a reconnection (403 after a token change, for instance).
	OnError func(error)
}

// SubscribedEvent describes a successful (re)subscription.
type SubscribedEvent struct {
	Channel string
	// Resubscribed is true after a reconnection.
	Resubscribed bool
	// Recovered is true when the server replayed everything published while the client
	// was away; after a resubscription with Recovered false, publications may have been
	// missed (history trimmed, or a server restart started a new epoch).
	Recovered bool
	// Epoch and Offset identify the channel's history stream and its position.
	Epoch  string
	Offset uint64
	// Reason is ReasonResync when the event reports a resync push: the channel's stream
	// went on under a new epoch while the client stayed connected (a Redis failover), so
	// publications may have been missed. It then comes with Resubscribed true and Recovered
	// false, like a resubscription that could not recover, and the application reloads its
	// state the same way. Empty otherwise.
	Reason string
}

// ReasonResync is SubscribedEvent.Reason for a resync push.
const ReasonResync = "resync"

// Subscription is a client's subscription to one channel. Safe for concurrent use.
type Subscription struct {
	c       *Client
	channel string
	h       Handlers

	mu        sync.Mutex
	active    bool  // confirmed by the server; renewed after reconnections
	closed    bool  // unsubscribed or dropped: handlers are no longer called
	pendingOn *conn // a subscribe is in flight there; its pushes wait in buf
	buf       []protocol.Publication
	resync    *protocol.ResyncData // a resync push that came while a subscribe was in flight
	epoch     string
	offset    uint64 // of the last publication delivered, in epoch
}

// Channel returns the subscribed channel's name.
func (s *Subscription) Channel() string { return s.channel }

// Subscribe subscribes to channel and returns when the server has confirmed it. While the
// client reconnects it waits (bounded by ctx). After every reconnection the subscription
// is renewed with recovery: the publications missed meanwhile are delivered before any
// newer one, each exactly once.
func (c *Client) Subscribe(ctx context.Context, channel string, h Handlers) (*Subscription, error) {
	if !protocol.ValidChannel(channel) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidChannel, channel)
	}
	s := &Subscription{c: c, channel: channel, h: h}
	c.mu.Lock()
	switch {
	case c.state == StateClosed:
		c.mu.Unlock()
		return nil, ErrClosed
	case c.state == StateDisconnected:
		c.mu.Unlock()
		return nil, ErrNotConnected
	case c.subs[channel] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrAlreadySubscribed, channel)
	}
	c.subs[channel] = s
	c.mu.Unlock()

	for try := 0; ; try++ {
		cn, err := c.waitConn(ctx)
		if err == nil {
			err = s.subscribeOn(ctx, cn)
		}
		if err == nil {
			return s, nil
		}
		if try < retries && errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrClosed) {
			continue // subscribing is idempotent: try again on the next connection
		}
		c.removeSubscription(s)
		s.markClosed()
		return nil, err
	}
}

func (s *Subscription) subscribeOn(ctx context.Context, cn *conn) error {
	id, cl, ok, err := s.startSubscribe(cn, false)
	if err != nil {
		return err
	}
	if !ok {
		return ErrClosed
	}
	if _, err := cn.wait(ctx, id, cl, s.c.cfg.RequestTimeout); err != nil {
		s.clearPending(cn)
		return err
	}
	return nil
}

// startSubscribe sends a subscribe request on cn, asking for recovery when the
// subscription has a position in a history stream. ok is false when the subscription has
// been closed meanwhile.
func (s *Subscription) startSubscribe(cn *conn, resub bool) (id uint64, cl *call, ok bool, err error) {
	s.mu.Lock()
	if s.closed || (resub && !s.active) {
		// A subscription not confirmed yet is retried by its Subscribe call instead.
		s.mu.Unlock()
		return 0, nil, false, nil
	}
	p := protocol.SubscribePayload{Channel: s.channel}
	if s.epoch != "" {
		p.Recover, p.Offset, p.Epoch = true, s.offset, s.epoch
	}
	s.pendingOn, s.buf = cn, nil
	s.mu.Unlock()
	payload, err := json.Marshal(p)
	if err != nil {
		return 0, nil, false, err
	}
	id, cl, err = cn.send(protocol.EventSubscribe, payload, func(env envelope) {
		s.onSubscribed(cn, env, resub, p.Recover)
	})
	if err != nil {
		s.clearPending(cn)
		return 0, nil, false, err
	}
	return id, cl, true, nil
}

func (s *Subscription) clearPending(cn *conn) {
	s.mu.Lock()
	if s.pendingOn == cn {
		s.pendingOn, s.buf, s.resync = nil, nil, nil
	}
	s.mu.Unlock()
}

// onSubscribed runs on cn's read loop when the subscribe response arrives, so that the
// recovered publications, the pushes held back meanwhile and every later push are
// delivered in that order. Offsets drop what was already delivered: a push can arrive
// both in the recovery list and on its own.
func (s *Subscription) onSubscribed(cn *conn, env envelope, resub, recovering bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingOn != cn || s.closed {
		return
	}
	held, resync := s.buf, s.resync
	s.pendingOn, s.buf, s.resync = nil, nil, nil
	if env.Code != protocol.Success.Code() {
		return // the waiting caller reports the error
	}
	var d protocol.SubscribeData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &d); err != nil {
			s.c.reportError(fmt.Errorf("rtmate: subscribe response for %s: %w", s.channel, err))
		}
	}
	if s.epoch == "" || d.Epoch != s.epoch {
		s.offset = 0 // a new stream: offsets delivered before mean nothing in it
	}
	s.epoch = d.Epoch
	s.active = true
	ev := SubscribedEvent{
		Channel:      s.channel,
		Resubscribed: resub,
		Recovered:    recovering && d.Recovered != nil && *d.Recovered,
		Epoch:        d.Epoch,
		Offset:       d.Offset,
	}
	if f := s.h.OnSubscribed; f != nil {
		s.c.disp.post(func() {
			if !s.isClosed() {
				f(ev)
			}
		})
	}
	for _, p := range d.Publications {
		if p.Channel == "" {
			p.Channel = s.channel
		}
		s.deliverLocked(p)
	}
	resynced := resync != nil && resync.Epoch != s.epoch
	if resynced {
		// The response predates the new epoch; the held pushes belong to it.
		s.resyncLocked(*resync)
	}
	for _, p := range held {
		s.deliverLocked(p)
	}
	if !resynced {
		s.offset = max(s.offset, d.Offset) // an offset of the response's epoch
	}
}

// resyncLocked moves the subscription to the epoch of a resync push, so that a later
// recovery asks for the new stream from where it was joined, and tells the application.
// s.mu must be held.
func (s *Subscription) resyncLocked(r protocol.ResyncData) {
	s.epoch, s.offset = r.Epoch, r.Offset
	ev := SubscribedEvent{Channel: s.channel, Resubscribed: true, Epoch: r.Epoch, Offset: r.Offset, Reason: ReasonResync}
	if f := s.h.OnSubscribed; f != nil {
		s.c.disp.post(func() {
			if !s.isClosed() {
				f(ev)
			}
		})
	}
}

// deliverLocked queues p for OnMessage unless its offset shows it was delivered already.
// s.mu must be held.
func (s *Subscription) deliverLocked(p protocol.Publication) {
	if p.Offset > 0 {
		if p.Offset <= s.offset {
			return
		}
		s.offset = p.Offset
	}
	if f := s.h.OnMessage; f != nil {
		s.c.disp.post(func() {
			if !s.isClosed() {
				f(p)
			}
		})
	}
}

func (s *Subscription) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Subscription) markClosed() {
	s.mu.Lock()
	s.closed, s.active, s.pendingOn, s.buf = true, false, nil, nil
	s.mu.Unlock()
}

// Unsubscribe ends the subscription: no handler is called after it returns. When the
// connection is down there is nothing to tell the server (it forgot the subscription with
// the connection), so only a server error is returned.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	removed := c.subs[s.channel] == s
	if removed {
		delete(c.subs, s.channel)
	}
	cn := c.conn
	c.mu.Unlock()
	s.mu.Lock()
	wasActive := s.active
	s.mu.Unlock()
	s.markClosed()
	if !removed || !wasActive || cn == nil {
		return nil
	}
	payload, err := json.Marshal(protocol.ChannelPayload{Channel: s.channel})
	if err != nil {
		return err
	}
	_, err = cn.do(ctx, protocol.EventUnsubscribe, payload, nil, c.cfg.RequestTimeout)
	if errors.Is(err, ErrDisconnected) {
		return nil
	}
	return err
}

func (c *Client) removeSubscription(s *Subscription) {
	c.mu.Lock()
	if c.subs[s.channel] == s {
		delete(c.subs, s.channel)
	}
	c.mu.Unlock()
}

// dropSubscription ends a subscription the server refused to renew.
func (c *Client) dropSubscription(s *Subscription, err error) {
	c.removeSubscription(s)
	c.log.Warn("rtmate: subscription dropped", "channel", s.channel, "err", err)
	if f := s.h.OnError; f != nil {
		c.disp.post(func() { f(err) })
	}
	s.markClosed()
}

func (c *Client) subscription(channel string) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[channel]
}

// onMessage routes a message push (on cn's read loop).
func (c *Client) onMessage(cn *conn, data []byte) {
	var p protocol.Publication
	if err := json.Unmarshal(data, &p); err != nil {
		c.reportError(fmt.Errorf("rtmate: message push: %w", err))
		return
	}
	s := c.subscription(p.Channel)
	if s == nil {
		return // unsubscribed while the push was on its way
	}
	s.mu.Lock()
	if s.pendingOn == cn {
		s.buf = append(s.buf, p)
	} else if !s.closed {
		s.deliverLocked(p)
	}
	s.mu.Unlock()
}

// onResync routes a resync push. Rare: a Redis failover under the channel.
func (c *Client) onResync(cn *conn, data []byte) {
	var r protocol.ResyncData
	if err := json.Unmarshal(data, &r); err != nil {
		c.reportError(fmt.Errorf("rtmate: resync push: %w", err))
		return
	}
	s := c.subscription(r.Channel)
	if s == nil {
		return
	}
	s.mu.Lock()
	switch {
	case s.pendingOn == cn:
		s.resync = &r
	case s.closed || r.Epoch == s.epoch:
		// Already on that epoch: subscribed after the change, from a response that had it.
	default:
		s.resyncLocked(r)
	}
	s.mu.Unlock()
}

// onPresence routes a join or leave push.
func (c *Client) onPresence(event string, data []byte) {
	var ev protocol.PresenceEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		c.reportError(fmt.Errorf("rtmate: %s push: %w", event, err))
		return
	}
	s := c.subscription(ev.Channel)
	if s == nil {
		return
	}
	f := s.h.OnJoin
	if event == protocol.PushLeave {
		f = s.h.OnLeave
	}
	if f != nil {
		c.disp.post(func() {
			if !s.isClosed() {
				f(ev)
			}
		})
	}
}
