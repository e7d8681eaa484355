package pusher

import (
	"strconv"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// AppendEvent appends {"event":event,"channel":channel,"data":data[,"user_id":userID]}: data
// is a raw JSON value relayed as it came (Pusher's own events carry strings, client events
// anything). channel and userID are omitted when empty.
func AppendEvent(dst []byte, event, channel string, data []byte, userID string) []byte {
	dst = appendHead(dst, event, channel)
	dst = append(dst, data...)
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = protocol.AppendString(dst, userID)
	}
	return append(dst, '}')
}

// AppendStringEvent is AppendEvent with data as a JSON string of text: the form of every
// pusher_internal event and of connection_established.
func AppendStringEvent(dst []byte, event, channel string, text []byte) []byte {
	dst = appendHead(dst, event, channel)
	dst = protocol.AppendStringBytes(dst, text)
	return append(dst, '}')
}

// appendHead appends a message up to its data: {"event":…[,"channel":…],"data":
func appendHead(dst []byte, event, channel string) []byte {
	dst = append(dst, `{"event":`...)
	dst = protocol.AppendString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = protocol.AppendString(dst, channel)
	}
	return append(dst, `,"data":`...)
}

// AppendConnectionEstablished appends pusher:connection_established for socketID.
func AppendConnectionEstablished(dst []byte, socketID string, activityTimeout int) []byte {
	var text [96]byte
	t := append(text[:0], `{"socket_id":`...)
	t = protocol.AppendString(t, socketID)
	t = append(t, `,"activity_timeout":`...)
	t = strconv.AppendInt(t, int64(activityTimeout), 10)
	t = append(t, '}')
	return AppendStringEvent(dst, EventConnectionEstablished, "", t)
}

// AppendError appends pusher:error {"code":code,"message":message}; code 0 is omitted, as
// Pusher does for errors that are not about the connection.
func AppendError(dst []byte, code int, message string) []byte {
	dst = append(dst, `{"event":"pusher:error","data":{`...)
	if code != 0 {
		dst = append(dst, `"code":`...)
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"message":`...)
	dst = protocol.AppendString(dst, message)
	return append(dst, "}}"...)
}

// AppendSubscriptionError appends pusher:subscription_error for channel, in the shape
// pusher-js reports to the app: {"type":kind,"error":message,"status":status}.
func AppendSubscriptionError(dst []byte, channel, kind, message string, status int) []byte {
	dst = append(dst, `{"event":"pusher:subscription_error","channel":`...)
	dst = protocol.AppendString(dst, channel)
	dst = append(dst, `,"data":{"type":`...)
	dst = protocol.AppendString(dst, kind)
	dst = append(dst, `,"error":`...)
	dst = protocol.AppendString(dst, message)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	return append(dst, "}}"...)
}

// AppendMemberAdded appends pusher_internal:member_added for a presence member.
func AppendMemberAdded(dst []byte, channel, userID string, userInfo []byte) []byte {
	var text [256]byte
	t := append(text[:0], `{"user_id":`...)
	t = protocol.AppendString(t, userID)
	if len(userInfo) > 0 {
		t = append(t, `,"user_info":`...)
		t = append(t, userInfo...)
	}
	t = append(t, '}')
	return AppendStringEvent(dst, EventMemberAdded, channel, t)
}

// AppendMemberRemoved appends pusher_internal:member_removed.
func AppendMemberRemoved(dst []byte, channel, userID string) []byte {
	var text [160]byte
	t := append(text[:0], `{"user_id":`...)
	t = protocol.AppendString(t, userID)
	t = append(t, '}')
	return AppendStringEvent(dst, EventMemberRemoved, channel, t)
}

// PresenceMember is one user of a presence channel as subscription_succeeded lists it.
type PresenceMember struct {
	UserID   string
	UserInfo []byte // raw JSON; nil means null
}

// AppendPresenceText appends {"presence":{"ids":[…],"hash":{id:info},"count":n}}, the text
// of a presence channel's subscription_succeeded.
func AppendPresenceText(dst []byte, members []PresenceMember) []byte {
	dst = append(dst, `{"presence":{"ids":[`...)
	for i := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, members[i].UserID)
	}
	dst = append(dst, `],"hash":{`...)
	for i := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, members[i].UserID)
		dst = append(dst, ':')
		if len(members[i].UserInfo) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, members[i].UserInfo...)
		}
	}
	dst = append(dst, `},"count":`...)
	dst = strconv.AppendInt(dst, int64(len(members)), 10)
	return append(dst, "}}"...)
}
