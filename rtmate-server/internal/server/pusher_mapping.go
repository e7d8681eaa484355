package server

import (
	"github.com/gobwas/ws"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

// The mapping between the two protocols, defined here once (docs/pusher.md shows it):
//
// A Pusher event (client event, or one triggered through the Pusher HTTP API) is stored and
// published as the native message data
//
//	{"event":<name>,"data":<data>[,"socket_id":<excluded socket>][,"user_id":<presence member>]}
//
// so native subscribers get it as a message push with that data (history and recovery
// included). Going the other way, a publication whose data is such an object reaches Pusher
// subscribers as event <name> with <data> (and user_id) — never the socket socket_id names;
// any other data D reaches them as event "message" with data D.

// PusherMessageEvent is the Pusher event name of a native publication that is not itself a
// Pusher event.
const PusherMessageEvent = "message"

// appendNativeEvent encodes a Pusher event as native message data.
func appendNativeEvent(dst []byte, event string, data []byte, socketID, userID string) []byte {
	dst = append(dst, `{"event":`...)
	dst = protocol.AppendString(dst, event)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	if socketID != "" {
		dst = append(dst, `,"socket_id":`...)
		dst = protocol.AppendString(dst, socketID)
	}
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = protocol.AppendString(dst, userID)
	}
	return append(dst, '}')
}

// pusherEvent is native message data read as a Pusher event.
type pusherEvent struct {
	event, data, socketID, userID []byte
}

// parsePusherEvent reads native data in the form appendNativeEvent writes; ok is false for
// anything else (other members, a non-string event, no data).
func parsePusherEvent(raw []byte) (ev pusherEvent, ok bool) {
	it, err := protocol.NewObjectIter(raw)
	if err != nil {
		return ev, false
	}
	for {
		k, v, more, err := it.Next()
		if err != nil {
			return ev, false
		}
		if !more {
			break
		}
		switch {
		case protocol.KeyIs(k, "event"):
			ev.event, err = protocol.StringValue(v)
		case protocol.KeyIs(k, "data"):
			ev.data = v
		case protocol.KeyIs(k, "socket_id"):
			ev.socketID, err = protocol.StringValue(v)
		case protocol.KeyIs(k, "user_id"):
			ev.userID, err = protocol.StringValue(v)
		default:
			return ev, false
		}
		if err != nil {
			return ev, false
		}
	}
	return ev, len(ev.event) > 0 && ev.data != nil
}

// pusherFrame encodes pub for the Pusher subscribers of k (nil: they get nothing of it) and
// names the local connection that must not get it.
func (s *Server) pusherFrame(k engine.ChannelKey, pub *engine.Publication) (frame []byte, exclude hub.Sub) {
	var payload []byte
	head := make([]byte, wire.HeaderReserve, wire.HeaderReserve+len(pub.Data)+len(k.Name)+len(pub.UserID)+pushOverhead)
	var excludeID string
	switch pub.Kind {
	case engine.KindMessage:
		ev, ok := parsePusherEvent(pub.Data)
		if ok {
			payload = pusher.AppendEvent(head, string(ev.event), k.Name, ev.data, string(ev.userID))
			excludeID = string(ev.socketID)
		} else {
			payload = pusher.AppendEvent(head, PusherMessageEvent, k.Name, pub.Data, "")
		}
	case engine.KindJoin, engine.KindLeave:
		if !pusher.IsPresence(k.Name) {
			return nil, nil
		}
		id, info, once := engine.MemberParts(pub.UserID)
		if !once {
			return nil, nil
		}
		if pub.Kind == engine.KindJoin {
			payload = pusher.AppendMemberAdded(head, k.Name, id, []byte(info))
			excludeID = pub.ClientID // its own subscription_succeeded listed it
		} else {
			payload = pusher.AppendMemberRemoved(head, k.Name, id)
		}
	default:
		return nil, nil
	}
	if excludeID != "" {
		if c := s.clients.get(excludeID); c != nil {
			exclude = c
		}
	}
	return wire.FrameInPlace(payload, ws.OpText), exclude
}
