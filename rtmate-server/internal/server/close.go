package server

import "github.com/rtmate/rtmate/rt-common/protocol"

// Close codes of the contract as untyped constants, so they compare with ws.StatusCode and
// uint16 alike; close_test.go checks them against rt-common's protocol.CloseCode table.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	CloseTokenExpired   = 4001
	CloseDisconnected   = 4004
	CloseAuthTimeout    = 4008
	CloseRateLimited    = 4029
	CloseSlowConsumer   = 4030
	closeTimeoutReason  = "close timeout"
	closeHandshakeGrace = 3 // seconds to wait for the peer's close frame
)

// closeReason is the contract's reason text for code (rt-common is its one source).
func closeReason(code uint32) string { return protocol.CloseCode(code).Reason() }
