package server

import (
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// eventID is a request's event as a small number, so that observers can keep fixed tables of
// counters (label values resolved once) instead of building labels per request.
type eventID uint8

// Events as observers see them.
const (
	EventUnknown eventID = iota
	EventAuth
	EventSubscribe
	EventUnsubscribe
	EventMessageSend
	EventPresence
	EventPing
	EventHistory
	// The HTTP API's endpoints (never parsed from the wire), so that API requests are counted
	// in the same fixed tables as WebSocket events.
	EventAPIPublish
	EventAPIBroadcast
	EventAPIPresence
	EventAPIChannels
	EventAPIDisconnect
	EventAPIUsage
	EventRPC // the rpc extension (package script)
	EventAPINodes
	NumEvents
)

var eventNames = [NumEvents]string{"unknown", "auth", "subscribe", "unsubscribe", "messageSend", "presence", "ping", "history",
	"api.publish", "api.broadcast", "api.presence", "api.channels", "api.disconnect", "api.usage", "rpc",
	"api.nodes"}

// String is the event's wire name ("unknown" for anything unsupported).
func (e eventID) String() string { return eventNames[e] }

// EventID is the exported form for observers in other packages.
type EventID = eventID

func parseEvent(b []byte) eventID {
	switch string(b) {
	case protocol.EventAuth:
		return EventAuth
	case protocol.EventSubscribe:
		return EventSubscribe
	case protocol.EventUnsubscribe:
		return EventUnsubscribe
	case protocol.EventMessageSend:
		return EventMessageSend
	case protocol.EventPresence:
		return EventPresence
	case protocol.EventPing:
		return EventPing
	case protocol.EventHistory:
		return EventHistory
	case protocol.EventRPC:
		return EventRPC
	}
	return EventUnknown
}

// ConnInfo describes a connection to observers. Strings are the connection's own (no copies).
type ConnInfo struct {
	App      string
	ClientID string
	UserID   string
}

// Observer is told what happens, for metrics, usage and webhooks. Its methods run on the
// event loop: they must be quick, never block and not retain data slices.
type Observer interface {
	ConnOpened()
	// ConnClosed is called once per opened connection: with the close code sent or received,
	// or 1006 when the peer vanished without a close frame. info.App is empty for a
	// connection that never authenticated.
	ConnClosed(info ConnInfo, code int)
	Authenticated(info ConnInfo)
	Subscribed(info ConnInfo, channel string)
	Unsubscribed(info ConnInfo, channel string)
	// Published is called once per accepted publication, on the node that accepted it
	// (info.ClientID is "server" for the HTTP API).
	Published(info ConnInfo, channel string, data []byte)
	// Delivered is called on every node for every publication it fans out locally.
	Delivered(app string, deliveries, bytes int)
	Request(event EventID, code protocol.WsBizCode, took time.Duration)
	SlowConsumer(app string)
}

type nopObserver struct{}

func (nopObserver) ConnOpened()                                        {}
func (nopObserver) ConnClosed(ConnInfo, int)                           {}
func (nopObserver) Authenticated(ConnInfo)                             {}
func (nopObserver) Subscribed(ConnInfo, string)                        {}
func (nopObserver) Unsubscribed(ConnInfo, string)                      {}
func (nopObserver) Published(ConnInfo, string, []byte)                 {}
func (nopObserver) Delivered(string, int, int)                         {}
func (nopObserver) Request(EventID, protocol.WsBizCode, time.Duration) {}
func (nopObserver) SlowConsumer(string)                                {}

// Observers fans out to several observers.
type Observers []Observer

var _ Observer = Observers(nil)

func (o Observers) ConnOpened() {
	for _, x := range o {
		x.ConnOpened()
	}
}
func (o Observers) ConnClosed(i ConnInfo, code int) {
	for _, x := range o {
		x.ConnClosed(i, code)
	}
}
func (o Observers) Authenticated(i ConnInfo) {
	for _, x := range o {
		x.Authenticated(i)
	}
}
func (o Observers) Subscribed(i ConnInfo, ch string) {
	for _, x := range o {
		x.Subscribed(i, ch)
	}
}
func (o Observers) Unsubscribed(i ConnInfo, ch string) {
	for _, x := range o {
		x.Unsubscribed(i, ch)
	}
}
func (o Observers) Published(i ConnInfo, ch string, data []byte) {
	for _, x := range o {
		x.Published(i, ch, data)
	}
}
func (o Observers) Delivered(app string, n, bytes int) {
	for _, x := range o {
		x.Delivered(app, n, bytes)
	}
}
func (o Observers) Request(e EventID, code protocol.WsBizCode, took time.Duration) {
	for _, x := range o {
		x.Request(e, code, took)
	}
}
func (o Observers) SlowConsumer(app string) {
	for _, x := range o {
		x.SlowConsumer(app)
	}
}
