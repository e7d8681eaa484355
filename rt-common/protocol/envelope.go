package protocol

import (
	"errors"
	"strconv"
)

// Event names of protocol v1 (client → server).
const (
	EventAuth        = "auth"
	EventSubscribe   = "subscribe"
	EventUnsubscribe = "unsubscribe"
	EventMessageSend = "messageSend"
	EventPresence    = "presence"
	EventPing        = "ping"
	EventHistory     = "history"
	// EventRPC calls the app's rpc script (an RTMate extension, docs/scripts.md).
	EventRPC = "rpc"
)

// Push kinds (server → client).
const (
	PushMessage = "message"
	PushJoin    = "join"
	PushLeave   = "leave"
	// PushResync [ext]: the channel's epoch changed under a live subscription (a Redis
	// failover); publications may have been lost without the client being told otherwise.
	PushResync = "resync"
)

// Request is one decoded client message. Every slice aliases the decoded buffer (unless a
// string had escapes), so a Request is valid only while that buffer is.
type Request struct {
	// Event is the decoded event name; nil when absent.
	Event []byte
	// Payload is the raw payload object; nil when absent or null.
	Payload []byte
	// TraceID is metadata.traceId, decoded; nil when absent.
	TraceID []byte
	// ID is the raw JSON id (a string or a number), echoed verbatim; nil when absent.
	ID []byte
}

// Reset clears r for reuse.
func (r *Request) Reset() { *r = Request{} }

var (
	errEnvelope = errors.New("request is not a valid JSON object")
	errEvent    = errors.New("event must be a string")
	errPayload  = errors.New("payload must be an object")
	errMetadata = errors.New("metadata must be an object")
	errTraceID  = errors.New("metadata.traceId must be a string")
	errID       = errors.New("id must be a string or a number")
)

// DecodeRequest parses msg into r. A field of the wrong type is an InvalidParams error, but
// every other well-formed field is still decoded, before and after it, so that the error
// response can echo id and traceId. When msg is not a syntactically valid JSON object, r is
// empty. With duplicate keys the last one wins. r aliases msg (see Request).
func DecodeRequest(msg []byte, r *Request) error {
	r.Reset()
	// One pass: the iterator validates as it goes (each value once), and a syntax error
	// anywhere, or bytes after the object, discards whatever was read.
	it, err := NewObjectIter(msg)
	if err != nil {
		return NewError(InvalidParams, errEnvelope)
	}
	var first error
	fail := func(e error) {
		if first == nil {
			first = NewError(InvalidParams, e)
		}
	}
	for {
		key, val, ok, err := it.Next()
		if err != nil || (!ok && skipSpace(msg, it.i) != len(msg)) {
			r.Reset()
			return NewError(InvalidParams, errEnvelope)
		}
		if !ok {
			break
		}
		switch {
		case KeyIs(key, "event"):
			s, err := StringValue(val)
			if err != nil {
				fail(errEvent)
				continue
			}
			r.Event = s
		case KeyIs(key, "payload"):
			switch val[0] {
			case '{':
				r.Payload = val
			case 'n':
				r.Payload = nil
			default:
				fail(errPayload)
			}
		case KeyIs(key, "metadata"):
			if err := decodeMetadata(val, r); err != nil {
				fail(err)
			}
		case KeyIs(key, "id"):
			switch c := val[0]; {
			case c == '"' || c == '-' || isDigit(c):
				r.ID = val
			case c == 'n':
				r.ID = nil
			default:
				fail(errID)
			}
		}
	}
	if first == nil && r.Event == nil {
		fail(errEvent)
	}
	return first
}

func decodeMetadata(val []byte, r *Request) error {
	if val[0] == 'n' {
		// A later "metadata":null overrides an earlier one, as with encoding/json.
		r.TraceID = nil
		return nil
	}
	it, err := NewObjectIter(val)
	if err != nil {
		return errMetadata
	}
	for {
		key, v, ok, _ := it.Next() // val was validated when the envelope's iterator read it
		if !ok {
			return nil
		}
		if KeyIs(key, "traceId") {
			if v[0] == 'n' {
				continue
			}
			s, err := StringValue(v)
			if err != nil {
				return errTraceID
			}
			r.TraceID = s
		}
	}
}

// Payload is the decoded payload of any client event: one flat view, because every event's
// fields are a subset of these. Slices alias the payload. Handlers check which fields they need.
type Payload struct {
	AppID   []byte // auth
	Token   []byte // auth
	Channel []byte // subscribe, unsubscribe, messageSend, presence, history
	Data    []byte // messageSend: raw JSON, relayed byte for byte; nil when absent
	Recover bool   // subscribe
	Offset  uint64 // subscribe (with Recover)
	Epoch   []byte // subscribe (with Recover)
	Since   uint64 // history
	Limit   uint64 // history; 0 means the server's default
	Method  []byte // rpc
}

// DecodePayload parses a raw payload object (usually Request.Payload) into p. A field of the
// wrong type, a syntax error or bytes after the object are an InvalidParams error; unknown
// fields are ignored. With duplicate keys the last one wins. Payload slices alias raw.
func DecodePayload(raw []byte, p *Payload) error {
	*p = Payload{}
	it, err := NewObjectIter(raw)
	if err != nil {
		return NewError(InvalidParams, errPayload)
	}
	for {
		key, val, ok, err := it.Next()
		if err != nil {
			return NewError(InvalidParams, err)
		}
		if !ok {
			// The payload may come from elsewhere than DecodeRequest (an HTTP body), so
			// trailing bytes are checked here rather than trusted away.
			if skipSpace(raw, it.i) != len(raw) {
				return NewError(InvalidParams, errSyntax)
			}
			return nil
		}
		var ferr error
		switch {
		case KeyIs(key, "channel"):
			p.Channel, ferr = StringValue(val)
		case KeyIs(key, "data"):
			p.Data = val
		case KeyIs(key, "appId"):
			p.AppID, ferr = StringValue(val)
		case KeyIs(key, "token"):
			p.Token, ferr = StringValue(val)
		case KeyIs(key, "recover"):
			p.Recover, ferr = BoolValue(val)
		case KeyIs(key, "offset"):
			p.Offset, ferr = Uint64Value(val)
		case KeyIs(key, "epoch"):
			p.Epoch, ferr = StringValue(val)
		case KeyIs(key, "since"):
			p.Since, ferr = Uint64Value(val)
		case KeyIs(key, "limit"):
			p.Limit, ferr = Uint64Value(val)
		case KeyIs(key, "method"):
			p.Method, ferr = StringValue(val)
		}
		if ferr != nil {
			return Errorf(InvalidParams, "payload field %s: %w", key, ferr)
		}
	}
}

// Response is a server envelope. Data and ID are raw JSON; a nil Data is encoded as null,
// a nil ID is omitted, an empty Event or TraceID is omitted.
type Response struct {
	Code    WsBizCode
	Event   []byte
	ID      []byte
	TraceID []byte
	Data    []byte
}

// AppendResponse appends r's JSON envelope to dst.
func AppendResponse(dst []byte, r *Response) []byte {
	dst = appendHead(dst, r.Code)
	dst = append(dst, `,"data":`...)
	if r.Data == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, r.Data...)
	}
	if len(r.Event) > 0 {
		dst = append(dst, `,"event":`...)
		dst = AppendStringBytes(dst, r.Event)
	}
	if r.ID != nil {
		dst = append(dst, `,"id":`...)
		dst = append(dst, r.ID...)
	}
	if len(r.TraceID) > 0 {
		dst = append(dst, `,"traceId":`...)
		dst = AppendStringBytes(dst, r.TraceID)
	}
	return append(dst, '}')
}

func appendHead(dst []byte, c WsBizCode) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code()), 10)
	dst = append(dst, `,"message":`...)
	return AppendString(dst, c.Message())
}

func appendPushHead(dst []byte, event string) []byte {
	dst = append(dst, `{"code":200,"message":"success","event":`...)
	dst = AppendString(dst, event)
	return append(dst, `,"data":`...)
}

// AppendMessagePush appends a `message` push. data is the publisher's raw JSON; offset 0
// means the channel keeps no history and the field is omitted.
func AppendMessagePush(dst []byte, channel string, data []byte, from string, offset uint64) []byte {
	dst = appendPushHead(dst, PushMessage)
	dst = AppendPublication(dst, channel, data, from, offset)
	return append(dst, '}')
}

// AppendResyncPush appends a resync push: channel, the new epoch, and the offset just before
// the first publication of it that the subscriber will receive.
func AppendResyncPush(dst []byte, channel, epoch string, offset uint64) []byte {
	dst = appendPushHead(dst, PushResync)
	dst = append(dst, `{"channel":`...)
	dst = AppendString(dst, channel)
	dst = append(dst, `,"epoch":`...)
	dst = AppendString(dst, epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, offset, 10)
	return append(dst, "}}"...)
}

// AppendPublication appends the data object of a message push (also one element of a
// recovery or history list, where channel may be empty and is then omitted).
func AppendPublication(dst []byte, channel string, data []byte, from string, offset uint64) []byte {
	dst = append(dst, '{')
	if channel != "" {
		dst = append(dst, `"channel":`...)
		dst = AppendString(dst, channel)
		dst = append(dst, ',')
	}
	dst = append(dst, `"data":`...)
	dst = append(dst, data...)
	dst = append(dst, `,"from":`...)
	dst = AppendString(dst, from)
	if offset > 0 {
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendUint(dst, offset, 10)
	}
	return append(dst, '}')
}

// AppendPresencePush appends a `join` or `leave` push.
func AppendPresencePush(dst []byte, event, channel, clientID, userID string) []byte {
	dst = appendPushHead(dst, event)
	dst = append(dst, `{"channel":`...)
	dst = AppendString(dst, channel)
	dst = AppendMember(dst, clientID, userID, false)
	return append(dst, "}}"...)
}

// AppendMember appends `"client_id":…,"user_id":…` as an object (wrap true) or as the tail
// of an already open object (wrap false, with a leading comma).
func AppendMember(dst []byte, clientID, userID string, wrap bool) []byte {
	if wrap {
		dst = append(dst, '{')
	} else {
		dst = append(dst, ',')
	}
	dst = append(dst, `"client_id":`...)
	dst = AppendString(dst, clientID)
	dst = append(dst, `,"user_id":`...)
	dst = AppendString(dst, userID)
	if wrap {
		dst = append(dst, '}')
	}
	return dst
}
