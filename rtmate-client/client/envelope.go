package client

import (
	"errors"
	"strconv"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// envelope is one decoded server message: a response (HasID) or a push. Data aliases the
// decoded buffer.
type envelope struct {
	Code    int
	Message string
	Event   string
	ID      uint64
	HasID   bool
	Data    []byte // raw JSON; nil when null or absent
}

var errEnvelope = errors.New("rtmate: malformed server message")

// parseEnvelope decodes a server message with rt-common's scanner instead of reflection:
// the read loop runs it for every push. Unknown fields are ignored; a non-numeric id (this
// client only sends numbers) leaves HasID false.
func parseEnvelope(b []byte) (envelope, error) {
	var env envelope
	if !protocol.Valid(b) {
		return env, errEnvelope
	}
	it, err := protocol.NewObjectIter(b)
	if err != nil {
		return env, errEnvelope
	}
	hasCode := false
	for {
		key, val, ok, err := it.Next()
		if err != nil {
			return env, errEnvelope
		}
		if !ok {
			break
		}
		switch {
		case protocol.KeyIs(key, "code"):
			n, err := strconv.Atoi(string(val))
			if err != nil {
				return env, errEnvelope
			}
			env.Code, hasCode = n, true
		case protocol.KeyIs(key, "message"):
			s, err := protocol.StringValue(val)
			if err != nil {
				return env, errEnvelope
			}
			env.Message = string(s)
		case protocol.KeyIs(key, "event"):
			if val[0] == 'n' {
				continue
			}
			s, err := protocol.StringValue(val)
			if err != nil {
				return env, errEnvelope
			}
			env.Event = string(s)
		case protocol.KeyIs(key, "id"):
			if id, err := protocol.Uint64Value(val); err == nil {
				env.ID, env.HasID = id, true
			}
		case protocol.KeyIs(key, "data"):
			if val[0] != 'n' {
				env.Data = val
			}
		}
	}
	if !hasCode {
		return env, errEnvelope
	}
	return env, nil
}

// appendRequest appends a request envelope; payload is a raw JSON object or nil.
func appendRequest(dst []byte, event string, id uint64, payload []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = protocol.AppendString(dst, event)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	if payload != nil {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
	}
	return append(dst, '}')
}

// appendMessageSend appends a messageSend payload keeping data byte for byte (encoding/json
// would re-compact a json.RawMessage).
func appendMessageSend(dst []byte, channel string, data []byte) []byte {
	dst = append(dst, `{"channel":`...)
	dst = protocol.AppendString(dst, channel)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}
