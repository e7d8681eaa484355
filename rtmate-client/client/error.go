package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Error is a server response whose code is not 200. Code and Message are the envelope's
// (see the protocol's error table); Event is the request's event.
type Error struct {
	Code    int
	Message string
	Event   string
	// Reason is a server script's reason for a rejection or an rpc error (the response's
	// data.reason); empty otherwise.
	Reason string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("rtmate: %d %s", e.Code, e.Message)
	if e.Event != "" {
		msg = fmt.Sprintf("rtmate: %s: %d %s", e.Event, e.Code, e.Message)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// reasonOf reads data.reason of an error response.
func reasonOf(data []byte) string {
	var d struct {
		Reason string `json:"reason"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return ""
	}
	return d.Reason
}

// Is matches another *Error with the same code and message (the target's empty Event
// matches any event), and a *protocol.RtWsError of the same table row, so that both
// errors.Is(err, client.ErrForbidden) and errors.Is(err, protocol.NewError(protocol.Forbidden, nil))
// work.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Code == e.Code && t.Message == e.Message && (t.Event == "" || t.Event == e.Event)
	case *protocol.RtWsError:
		return t.Code.Code() == e.Code && t.Code.Message() == e.Message
	}
	return false
}

// BizCode returns the row of the protocol's error table that e matches.
func (e *Error) BizCode() (protocol.WsBizCode, bool) {
	// AllCodes lists the rows in WsBizCode order, so the index is the code.
	for i, row := range protocol.AllCodes() {
		if row.Code == e.Code && row.Message == e.Message {
			return protocol.WsBizCode(i), true
		}
	}
	return 0, false
}

func codeError(c protocol.WsBizCode) *Error { return &Error{Code: c.Code(), Message: c.Message()} }

// Values to compare server errors with errors.Is; they come from rt-common's table.
var (
	ErrInvalidParams    = codeError(protocol.InvalidParams)
	ErrAppNotFound      = codeError(protocol.AppNotFound)
	ErrInvalidToken     = codeError(protocol.InvalidToken)
	ErrExpiredToken     = codeError(protocol.ExpiredToken)
	ErrSignatureInvalid = codeError(protocol.SignatureInvalid)
	ErrAuthMismatch     = codeError(protocol.AuthMismatch)
	ErrUnsupportedEvent = codeError(protocol.UnsupportedEvent)
	ErrUnauthenticated  = codeError(protocol.Unauthenticated)
	ErrForbidden        = codeError(protocol.Forbidden)
	ErrMessageTooLarge  = codeError(protocol.MessageTooLarge)
	ErrRateLimited      = codeError(protocol.RateLimited)
	ErrQuotaExceeded    = codeError(protocol.QuotaExceeded)
	ErrInternal         = codeError(protocol.Internal)
)

// Client-side conditions.
var (
	// ErrClosed: the client was closed (by Close, or by the server with CloseDisconnected).
	ErrClosed = errors.New("rtmate: client closed")
	// ErrNotConnected: Connect has not succeeded yet.
	ErrNotConnected = errors.New("rtmate: not connected")
	// ErrDisconnected: the connection was lost before the response arrived; whether the
	// server acted on the request is unknown.
	ErrDisconnected = errors.New("rtmate: connection lost")
	// ErrTimeout: no response within Config.RequestTimeout (or no pong within PingTimeout).
	ErrTimeout = errors.New("rtmate: request timed out")
	// ErrAlreadySubscribed: this client already has a Subscription to the channel.
	ErrAlreadySubscribed = errors.New("rtmate: already subscribed")
	// ErrInvalidChannel: the name breaks the protocol's channel rules; nothing was sent.
	ErrInvalidChannel = errors.New("rtmate: invalid channel name")
	// ErrInvalidData: published data is not valid JSON; nothing was sent.
	ErrInvalidData = errors.New("rtmate: data is not valid JSON")
	// ErrInvalidMethod: an rpc method name breaks the protocol's rules (1-64 bytes of
	// [A-Za-z0-9_.:-]); nothing was sent.
	ErrInvalidMethod = errors.New("rtmate: invalid rpc method")
)

// WebSocket close codes of protocol v1 (see its "Close codes" table).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001 // server shutting down: reconnect with jitter
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseInvalidUTF8   = 1007
	CloseTooBig        = 1009 // a message over the server's size limit
	CloseTokenExpired  = 4001 // token expired without refresh
	CloseDisconnected  = 4004 // disconnected by the server API: the client does not reconnect
	CloseAuthTimeout   = 4008
	CloseRateLimited   = 4029 // sustained rate-limit abuse
	CloseSlowConsumer  = 4030
)

// CloseError is the close frame the server ended a connection with.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	name := closeNames[e.Code]
	if name == "" {
		name = "closed"
	}
	if e.Reason == "" {
		return fmt.Sprintf("rtmate: server closed the connection: %d (%s)", e.Code, name)
	}
	return fmt.Sprintf("rtmate: server closed the connection: %d (%s): %s", e.Code, name, e.Reason)
}

// Is matches a *CloseError with the same code.
func (e *CloseError) Is(target error) bool {
	t, ok := target.(*CloseError)
	return ok && t.Code == e.Code
}

// Reconnect reports whether the client tries again after this close: always, except after
// CloseDisconnected (the application's backend asked for this client to go away).
func (e *CloseError) Reconnect() bool { return e.Code != CloseDisconnected }

var closeNames = map[int]string{
	CloseNormal:        "normal",
	CloseGoingAway:     "server shutting down",
	CloseProtocolError: "protocol error",
	CloseUnsupported:   "unsupported data",
	CloseInvalidUTF8:   "invalid UTF-8",
	CloseTooBig:        "message too big",
	CloseTokenExpired:  "token expired",
	CloseDisconnected:  "disconnected by the server API",
	CloseAuthTimeout:   "auth timeout",
	CloseRateLimited:   "rate limit abuse",
	CloseSlowConsumer:  "slow consumer",
}
