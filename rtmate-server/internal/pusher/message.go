package pusher

import (
	"bytes"
	"errors"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Events of the protocol that the server reads or writes.
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventSubscriptionError     = "pusher:subscription_error"
	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	ClientEventPrefix          = "client-"
)

// Channel name prefixes with a meaning.
const (
	PrivatePrefix          = "private-"
	PrivateEncryptedPrefix = "private-encrypted-"
	PresencePrefix         = "presence-"
	ServerToUserPrefix     = "#server-to-user-"
)

// MaxChannelLen is Pusher's longest channel name.
const MaxChannelLen = 200

// MaxEventNameLen is Pusher's longest event name.
const MaxEventNameLen = 200

// Errors of the decoders; the server answers them with pusher:error 4200-range codes.
var (
	ErrNotObject    = errors.New("pusher: message is not a JSON object")
	ErrNoEvent      = errors.New("pusher: message has no event")
	ErrBadField     = errors.New("pusher: a field has the wrong type")
	ErrNoChannel    = errors.New("pusher: no channel")
	ErrBadUserData  = errors.New("pusher: user data is not a JSON object with a string id")
	ErrBadChannelDt = errors.New("pusher: channel_data is not a JSON object with a user_id")
)

// eachMember calls f with every member of the JSON object raw; bad is the error for
// anything but an object.
func eachMember(raw []byte, bad error, f func(k, v []byte) error) error {
	it, err := protocol.NewObjectIter(raw)
	if err != nil {
		return bad
	}
	for {
		k, v, ok, err := it.Next()
		switch {
		case err != nil:
			return bad
		case !ok:
			return nil
		}
		if err := f(k, v); err != nil {
			return err
		}
	}
}

// Message is one decoded client message. Its slices alias the input.
type Message struct {
	Event   []byte // unescaped event name
	Channel []byte // unescaped channel name; nil when absent
	Data    []byte // the raw JSON value of data; nil when absent
}

// Decode reads {"event":…,"channel":…,"data":…}; other members are ignored, as Pusher does.
func Decode(msg []byte, m *Message) error {
	*m = Message{}
	err := eachMember(msg, ErrNotObject, func(k, v []byte) (err error) {
		switch {
		case protocol.KeyIs(k, "event"):
			m.Event, err = protocol.StringValue(v)
		case protocol.KeyIs(k, "channel"):
			m.Channel, err = protocol.StringValue(v)
		case protocol.KeyIs(k, "data"):
			m.Data = v
		}
		if err != nil {
			return ErrBadField
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(m.Event) == 0 {
		return ErrNoEvent
	}
	return nil
}

// Subscribe is pusher:subscribe's data.
type Subscribe struct {
	Channel     []byte
	Auth        []byte
	ChannelData []byte // the unescaped JSON text (Pusher sends it as a string); nil when absent
}

// DecodeSubscribe reads pusher:subscribe's and pusher:unsubscribe's data object.
func DecodeSubscribe(data []byte, s *Subscribe) error {
	*s = Subscribe{}
	err := eachMember(data, ErrBadField, func(k, v []byte) (err error) {
		var dst *[]byte
		switch {
		case protocol.KeyIs(k, "channel"):
			dst = &s.Channel
		case protocol.KeyIs(k, "auth"):
			dst = &s.Auth
		case protocol.KeyIs(k, "channel_data"):
			dst = &s.ChannelData
		default:
			return nil
		}
		if string(v) == "null" {
			return nil
		}
		if *dst, err = protocol.StringValue(v); err != nil {
			return ErrBadField
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(s.Channel) == 0 {
		return ErrNoChannel
	}
	return nil
}

// Signin is pusher:signin's data.
type Signin struct {
	Auth     []byte
	UserData []byte // unescaped JSON text
}

// DecodeSignin reads pusher:signin's data object.
func DecodeSignin(data []byte, s *Signin) error {
	*s = Signin{}
	err := eachMember(data, ErrBadField, func(k, v []byte) (err error) {
		switch {
		case protocol.KeyIs(k, "auth"):
			s.Auth, err = protocol.StringValue(v)
		case protocol.KeyIs(k, "user_data"):
			s.UserData, err = protocol.StringValue(v)
		}
		if err != nil {
			return ErrBadField
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.Auth == nil || s.UserData == nil {
		return ErrBadField
	}
	return nil
}

// Member is a presence member as channel_data declares it.
type Member struct {
	UserID   string
	UserInfo []byte // raw JSON value; nil when absent
}

// DecodeChannelData reads presence channel_data {"user_id":…,"user_info":…}. A numeric
// user_id is taken as its decimal text, as Pusher's libraries do.
func DecodeChannelData(cd []byte, m *Member) error {
	*m = Member{}
	err := eachMember(cd, ErrBadChannelDt, func(k, v []byte) error {
		switch {
		case protocol.KeyIs(k, "user_id"):
			id, err := idValue(v)
			if err != nil {
				return ErrBadChannelDt
			}
			m.UserID = string(id)
		case protocol.KeyIs(k, "user_info"):
			m.UserInfo = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.UserID == "" {
		return ErrBadChannelDt
	}
	return nil
}

// DecodeUserData reads pusher:signin's user_data and returns its id (a string or number).
func DecodeUserData(ud []byte) (string, error) {
	id := ""
	err := eachMember(ud, ErrBadUserData, func(k, v []byte) error {
		if protocol.KeyIs(k, "id") {
			b, err := idValue(v)
			if err != nil {
				return ErrBadUserData
			}
			id = string(b)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", ErrBadUserData
	}
	return id, nil
}

// idValue accepts a JSON string or a non-negative integer.
func idValue(v []byte) ([]byte, error) {
	if len(v) > 0 && v[0] == '"' {
		return protocol.StringValue(v)
	}
	if _, err := protocol.Uint64Value(v); err != nil {
		return nil, err
	}
	return v, nil
}

// ValidChannel reports whether name is a channel a client may subscribe to: Pusher's
// characters [A-Za-z0-9_\-=@,.;] (RTMate's but ':' and '/'), at most MaxChannelLen bytes.
// #server-to-user- channels are not subscribed to by name: pusher:signin joins them.
func ValidChannel(name []byte) bool {
	return len(name) <= MaxChannelLen && protocol.ValidChannel(string(name)) &&
		bytes.IndexByte(name, ':') < 0 && bytes.IndexByte(name, '/') < 0
}

// IsPrivate reports whether channel needs an authorization (private-, private-encrypted-
// and presence- channels).
func IsPrivate(channel string) bool {
	return hasPrefix(channel, PrivatePrefix) || hasPrefix(channel, PresencePrefix)
}

// IsPresence reports whether channel is a Pusher presence channel.
func IsPresence(channel string) bool { return hasPrefix(channel, PresencePrefix) }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
