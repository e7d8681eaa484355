package server

// Close codes of the contract (RFC 6455 ones come from gobwas/ws).
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

func closeReason(code uint32) string {
	switch code {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "server shutting down"
	case CloseTokenExpired:
		return "token expired"
	case CloseDisconnected:
		return "disconnected by server"
	case CloseAuthTimeout:
		return "auth timeout"
	case CloseRateLimited:
		return "rate limit exceeded"
	case CloseSlowConsumer:
		return "slow consumer"
	}
	return ""
}
