package protocol_test

import (
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestCloseCodes(t *testing.T) {
	tests := []struct {
		c      protocol.CloseCode
		code   uint16
		name   string
		reason string
	}{
		{protocol.CloseNormal, 1000, "Normal", "normal close"},
		{protocol.CloseGoingAway, 1001, "GoingAway", "server shutting down"},
		{protocol.CloseProtocolError, 1002, "ProtocolError", "protocol error"},
		{protocol.CloseUnsupportedData, 1003, "UnsupportedData", "unsupported data"},
		{protocol.CloseInvalidPayload, 1007, "InvalidPayload", "invalid UTF-8"},
		{protocol.CloseMessageTooBig, 1009, "MessageTooBig", "message too big"},
		{protocol.CloseTokenExpired, 4001, "TokenExpired", "token expired"},
		{protocol.CloseDisconnected, 4004, "DisconnectedByServer", "disconnected by server"},
		{protocol.CloseAuthTimeout, 4008, "AuthTimeout", "auth timeout"},
		{protocol.CloseRateLimited, 4029, "RateLimitAbuse", "rate limit abuse"},
		{protocol.CloseSlowConsumer, 4030, "SlowConsumer", "slow consumer"},
	}
	all := protocol.AllCloseCodes()
	if len(all) != len(tests) {
		t.Fatalf("AllCloseCodes() has %d rows, want %d", len(all), len(tests))
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if uint16(tc.c) != tc.code {
				t.Errorf("value = %d, want %d", tc.c, tc.code)
			}
			if got := tc.c.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.c.Reason(); got != tc.reason {
				t.Errorf("Reason() = %q, want %q", got, tc.reason)
			}
			if len(tc.c.Reason()) > 123 {
				t.Errorf("reason is %d bytes, over RFC 6455's 123", len(tc.c.Reason()))
			}
			if got := all[i]; got.Code != tc.c || got.Name != tc.name || got.Reason != tc.reason {
				t.Errorf("AllCloseCodes()[%d] = %+v", i, got)
			}
		})
	}
}

func TestCloseCodeUnknown(t *testing.T) {
	c := protocol.CloseCode(4999)
	if c.String() != "CloseCode(4999)" || c.Reason() != "" {
		t.Fatalf("unknown close code: String() = %q, Reason() = %q", c.String(), c.Reason())
	}
}
