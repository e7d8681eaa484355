package webhook

import (
	"strconv"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// kind is an event kind; its bit in settings.mask says whether the app wants it.
type kind uint8

const (
	kindConnect kind = iota
	kindDisconnect
	kindSubscribe
	kindUnsubscribe
	kindMessage
	// Pusher's (webhooks of format pusher, pusher_format.go).
	kindChannelOccupied
	kindChannelVacated
	kindMemberAdded
	kindMemberRemoved
	kindClientEvent
	numKinds
)

var kindNames = [numKinds]string{"connect", "disconnect", "subscribe", "unsubscribe", "message",
	"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"}

func (k kind) String() string { return kindNames[k] }

func parseKind(s string) (kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return kind(k), true
		}
	}
	return 0, false
}

// event is one queued event: what the observer call told, copied where the caller may
// reuse it. The strings are kept as they are (Go strings are immutable, and the server's are
// ordinary heap strings); data is a copy.
type event struct {
	seq     uint64 // the id's counter, unique within the dispatcher
	at      int64  // Unix milliseconds when it happened
	kind    kind
	byClose bool  // unsubscribe: caused by the connection closing
	code    int32 // disconnect: the close code
	client  string
	user    string
	channel string
	data    []byte // message: the published JSON value; client_event: its data
	name    string // client_event: the event name
}

// appendID appends the event id as a JSON string: the dispatcher's random prefix and the
// sequence number, unique across nodes and restarts, unchanged by retries.
func (d *Dispatcher) appendID(dst []byte, seq uint64) []byte {
	dst = append(dst, '"')
	dst = append(dst, d.idPrefix...)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '"')
}

func (d *Dispatcher) eventID(seq uint64) string {
	b := d.appendID(make([]byte, 0, 40), seq)
	return string(b[1 : len(b)-1])
}

// appendEvent appends ev as the JSON object the receiver gets:
//
//	{"id","app_id","event","time","client_id","user_id","channel","data"}
//
// Every key is always present; user_id, channel and data are null when they do not apply.
func (d *Dispatcher) appendEvent(dst []byte, app string, ev *event) []byte {
	dst = append(dst, `{"id":`...)
	dst = d.appendID(dst, ev.seq)
	dst = append(dst, `,"app_id":`...)
	dst = protocol.AppendString(dst, app)
	dst = append(dst, `,"event":"`...)
	dst = append(dst, kindNames[ev.kind]...)
	dst = append(dst, `","time":`...)
	dst = strconv.AppendInt(dst, ev.at, 10)
	dst = append(dst, `,"client_id":`...)
	dst = protocol.AppendString(dst, ev.client)
	dst = append(dst, `,"user_id":`...)
	dst = appendNullable(dst, ev.user)
	dst = append(dst, `,"channel":`...)
	dst = appendNullable(dst, ev.channel)
	dst = append(dst, `,"data":`...)
	switch {
	case ev.kind == kindMessage:
		dst = append(dst, ev.data...)
	case ev.kind == kindDisconnect:
		dst = append(dst, `{"code":`...)
		dst = strconv.AppendInt(dst, int64(ev.code), 10)
		dst = append(dst, '}')
	case ev.byClose:
		dst = append(dst, `{"reason":"disconnect"}`...)
	default:
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return protocol.AppendString(dst, s)
}

// encode renders a batch: one object, or an array when the app batches.
func (d *Dispatcher) encode(dst []byte, app string, evs []event, array bool) []byte {
	if !array {
		return d.appendEvent(dst, app, &evs[0])
	}
	dst = append(dst, '[')
	for i := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = d.appendEvent(dst, app, &evs[i])
	}
	return append(dst, ']')
}
