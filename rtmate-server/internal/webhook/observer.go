package webhook

import (
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// The server.Observer methods run on the event loop. For an app without a webhook they cost
// a map lookup; otherwise they copy the event into its shard under the shard's lock and
// signal the worker, never waiting for the network.

// ConnOpened is not an event (connect is sent once the connection authenticates).
func (d *Dispatcher) ConnOpened() {}

// Authenticated sends connect.
func (d *Dispatcher) Authenticated(info server.ConnInfo) {
	t, set := d.lookup(info.App)
	if t == nil || t.shards == nil || !set.sends(kindConnect) {
		return
	}
	s := t.shard(info.ClientID)
	s.mu.Lock()
	s.pushLocked(d.newEvent(kindConnect, info, ""))
	s.mu.Unlock()
	s.signal()
}

// ConnClosed sends an unsubscribe for every channel the connection was still in (when
// unsubscribe is selected), then disconnect with the close code. Connections that never
// authenticated are not reported.
func (d *Dispatcher) ConnClosed(info server.ConnInfo, code int) {
	if info.App == "" {
		return
	}
	t, set := d.lookup(info.App)
	if t == nil || t.shards == nil || set.mask == 0 {
		return
	}
	s := t.shard(info.ClientID)
	s.mu.Lock()
	chans := s.subs[info.ClientID]
	delete(s.subs, info.ClientID)
	if set.sends(kindUnsubscribe) {
		for _, ch := range chans {
			ev := d.newEvent(kindUnsubscribe, info, ch)
			ev.byClose = true
			s.pushLocked(ev)
		}
		s.markGone(info.ClientID)
	}
	if set.sends(kindDisconnect) {
		ev := d.newEvent(kindDisconnect, info, "")
		ev.code = int32(code)
		s.pushLocked(ev)
	}
	s.mu.Unlock()
	s.signal()
}

// Subscribed sends subscribe, and remembers the subscription when unsubscribe is selected.
func (d *Dispatcher) Subscribed(info server.ConnInfo, channel string) {
	t, set := d.lookup(info.App)
	if t == nil || t.shards == nil || !set.sends(kindSubscribe) && !set.sends(kindUnsubscribe) {
		return
	}
	s := t.shard(info.ClientID)
	s.mu.Lock()
	if set.sends(kindUnsubscribe) {
		s.track(info.ClientID, channel)
	}
	if set.sends(kindSubscribe) {
		s.pushLocked(d.newEvent(kindSubscribe, info, channel))
	}
	s.mu.Unlock()
	s.signal()
}

// Unsubscribed sends unsubscribe, unless the connection's close already sent it.
func (d *Dispatcher) Unsubscribed(info server.ConnInfo, channel string) {
	t, set := d.lookup(info.App)
	if t == nil || t.shards == nil || !set.sends(kindUnsubscribe) {
		return
	}
	s := t.shard(info.ClientID)
	s.mu.Lock()
	if s.isGone(info.ClientID) {
		s.mu.Unlock()
		return
	}
	s.untrack(info.ClientID, channel)
	s.pushLocked(d.newEvent(kindUnsubscribe, info, channel))
	s.mu.Unlock()
	s.signal()
}

// Published sends message with a copy of data (the caller reuses it).
func (d *Dispatcher) Published(info server.ConnInfo, channel string, data []byte) {
	t, set := d.lookup(info.App)
	if t == nil || t.shards == nil || !set.sends(kindMessage) {
		return
	}
	ev := d.newEvent(kindMessage, info, channel)
	ev.data = append([]byte(nil), data...)
	s := t.shard(info.ClientID)
	s.mu.Lock()
	s.pushLocked(ev)
	s.mu.Unlock()
	s.signal()
}

// Delivered, Request and SlowConsumer are metrics, not webhook events.
func (d *Dispatcher) Delivered(string, int, int)                                {}
func (d *Dispatcher) Request(server.EventID, protocol.WsBizCode, time.Duration) {}
func (d *Dispatcher) SlowConsumer(string)                                       {}

// newEvent stamps an event with the next id and the current time.
func (d *Dispatcher) newEvent(k kind, info server.ConnInfo, channel string) event {
	return event{seq: d.seq.Add(1), at: time.Now().UnixMilli(), kind: k, client: info.ClientID, user: info.UserID, channel: channel}
}
