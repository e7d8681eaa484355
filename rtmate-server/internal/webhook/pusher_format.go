package webhook

import (
	"strconv"

	"net/http"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// Webhooks of format pusher: Pusher's events (channel_occupied, channel_vacated,
// member_added, member_removed, client_event) in Pusher's body
//
//	{"time_ms":<Unix ms>,"events":[{"name":…,"channel":…,…},…]}
//
// signed as Pusher signs them (X-Pusher-Key, X-Pusher-Signature = hex HMAC-SHA256 of the body
// with the app's pusher secret), so that the pusher SDKs' webhook() check accepts them. They
// go through the same queues, retries and statistics as RTMate's own.

var _ server.PusherObserver = (*Dispatcher)(nil)

// Header names of Pusher-format webhooks.
const (
	HeaderPusherKey       = "X-Pusher-Key"
	HeaderPusherSignature = "X-Pusher-Signature"
)

func signPusher(h http.Header, key, secret string, body []byte) {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(HeaderPusherKey, key)
	h.Set(HeaderPusherSignature, pusher.WebhookSignature(secret, body))
}

// pusherEvent queues a channel-scoped event; the channel picks the shard, so that each
// channel's events stay in order.
func (d *Dispatcher) pusherEvent(app string, k kind, ev event) {
	t, set := d.lookup(app)
	if t == nil || t.shards == nil || set.pusherKey == "" || !set.sends(k) {
		return
	}
	ev.seq, ev.kind = d.seq.Add(1), k
	s := t.shard(ev.channel)
	s.mu.Lock()
	s.pushLocked(ev)
	s.mu.Unlock()
	s.signal()
}

// ChannelOccupied sends channel_occupied.
func (d *Dispatcher) ChannelOccupied(app, ch string) {
	d.pusherEvent(app, kindChannelOccupied, event{channel: ch})
}

// ChannelVacated sends channel_vacated.
func (d *Dispatcher) ChannelVacated(app, ch string) {
	d.pusherEvent(app, kindChannelVacated, event{channel: ch})
}

// MemberAdded sends member_added.
func (d *Dispatcher) MemberAdded(app, ch, user string) {
	d.pusherEvent(app, kindMemberAdded, event{channel: ch, user: user})
}

// MemberRemoved sends member_removed.
func (d *Dispatcher) MemberRemoved(app, ch, user string) {
	d.pusherEvent(app, kindMemberRemoved, event{channel: ch, user: user})
}

// ClientEvent sends client_event with a copy of data (the caller reuses it).
func (d *Dispatcher) ClientEvent(app, ch, name string, data []byte, socketID, userID string) {
	d.pusherEvent(app, kindClientEvent, event{channel: ch, name: name, data: append([]byte(nil), data...), client: socketID, user: userID})
}

// encodePusher renders a batch in Pusher's body.
func encodePusher(dst []byte, evs []event, timeMS int64) []byte {
	dst = append(dst, `{"time_ms":`...)
	dst = strconv.AppendInt(dst, timeMS, 10)
	dst = append(dst, `,"events":[`...)
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		ev := &evs[i]
		dst = append(dst, `{"name":"`...)
		dst = append(dst, kindNames[ev.kind]...)
		dst = append(dst, `","channel":`...)
		dst = protocol.AppendString(dst, ev.channel)
		switch ev.kind {
		case kindMemberAdded, kindMemberRemoved:
			dst = append(dst, `,"user_id":`...)
			dst = protocol.AppendString(dst, ev.user)
		case kindClientEvent:
			dst = append(dst, `,"event":`...)
			dst = protocol.AppendString(dst, ev.name)
			// Pusher reports the data as the client sent it, as a string of JSON.
			text := ev.data
			if s, err := protocol.StringValue(ev.data); err == nil {
				text = s
			}
			dst = append(dst, `,"data":`...)
			dst = protocol.AppendStringBytes(dst, text)
			dst = append(dst, `,"socket_id":`...)
			dst = protocol.AppendString(dst, ev.client)
			if ev.user != "" {
				dst = append(dst, `,"user_id":`...)
				dst = protocol.AppendString(dst, ev.user)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
