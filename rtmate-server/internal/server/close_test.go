package server

import (
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestCloseCodesMatchProtocol(t *testing.T) {
	for _, tc := range []struct {
		local uint16
		want  protocol.CloseCode
	}{
		{CloseNormal, protocol.CloseNormal},
		{CloseGoingAway, protocol.CloseGoingAway},
		{CloseTokenExpired, protocol.CloseTokenExpired},
		{CloseDisconnected, protocol.CloseDisconnected},
		{CloseAuthTimeout, protocol.CloseAuthTimeout},
		{CloseRateLimited, protocol.CloseRateLimited},
		{CloseSlowConsumer, protocol.CloseSlowConsumer},
	} {
		if tc.local != uint16(tc.want) {
			t.Errorf("%v: server has %d", tc.want, tc.local)
		}
		if closeReason(uint32(tc.local)) == "" {
			t.Errorf("%v: no reason text", tc.want)
		}
	}
}
