package protocol

import "strconv"

// CloseCode is a WebSocket close status the server sends. The 1xxx codes are RFC 6455's; the
// 4xxx codes are RTMate's, from the private-use range so that no RFC code is ever redefined.
type CloseCode uint16

// The contract's close codes.
const (
	CloseNormal          CloseCode = 1000 // normal close
	CloseGoingAway       CloseCode = 1001 // server shutting down; clients reconnect with jitter
	CloseProtocolError   CloseCode = 1002 // RFC 6455 protocol error
	CloseUnsupportedData CloseCode = 1003 // RFC 6455 unsupported data (e.g. a binary message)
	CloseInvalidPayload  CloseCode = 1007 // RFC 6455 invalid frame payload (invalid UTF-8)
	CloseMessageTooBig   CloseCode = 1009 // message over the max message size
	CloseTokenExpired    CloseCode = 4001 // token expired without a refresh
	CloseDisconnected    CloseCode = 4004 // disconnected through the server API
	CloseAuthTimeout     CloseCode = 4008 // no successful auth within the auth timeout
	CloseRateLimited     CloseCode = 4029 // sustained rate-limit abuse
	CloseSlowConsumer    CloseCode = 4030 // outbound queue over its bound or a write timed out
)

type closeRow struct {
	code   CloseCode
	name   string
	reason string
}

// closeTable is the single source of truth for close codes; the JS SDK's CloseCode object is
// generated from it (see AllCloseCodes). Names are the SDK's; reasons are what the server
// sends in the close frame (each well under the 123-byte limit of a close reason).
var closeTable = [...]closeRow{
	{CloseNormal, "Normal", "normal close"},
	{CloseGoingAway, "GoingAway", "server shutting down"},
	{CloseProtocolError, "ProtocolError", "protocol error"},
	{CloseUnsupportedData, "UnsupportedData", "unsupported data"},
	{CloseInvalidPayload, "InvalidPayload", "invalid UTF-8"},
	{CloseMessageTooBig, "MessageTooBig", "message too big"},
	{CloseTokenExpired, "TokenExpired", "token expired"},
	{CloseDisconnected, "DisconnectedByServer", "disconnected by server"},
	{CloseAuthTimeout, "AuthTimeout", "auth timeout"},
	{CloseRateLimited, "RateLimitAbuse", "rate limit abuse"},
	{CloseSlowConsumer, "SlowConsumer", "slow consumer"},
}

func (c CloseCode) row() (closeRow, bool) {
	for _, r := range closeTable {
		if r.code == c {
			return r, true
		}
	}
	return closeRow{}, false
}

// Reason is the documented reason text sent with c; empty for a code outside the contract.
func (c CloseCode) Reason() string {
	r, _ := c.row()
	return r.reason
}

// String is the SDK's name for c (e.g. "TokenExpired"), or "CloseCode(N)" outside the contract.
func (c CloseCode) String() string {
	if r, ok := c.row(); ok {
		return r.name
	}
	return "CloseCode(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// CloseInfo is one exported row of the close-code table, for generators and documentation.
type CloseInfo struct {
	Name   string    `json:"name"`
	Code   CloseCode `json:"code"`
	Reason string    `json:"reason"`
}

// AllCloseCodes returns every close code of the contract in ascending order.
func AllCloseCodes() []CloseInfo {
	out := make([]CloseInfo, 0, len(closeTable))
	for _, r := range closeTable {
		out = append(out, CloseInfo{Name: r.name, Code: r.code, Reason: r.reason})
	}
	return out
}
