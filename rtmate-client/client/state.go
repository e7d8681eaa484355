package client

// State is the client's connection state.
type State int32

const (
	// StateDisconnected: Connect has not succeeded yet.
	StateDisconnected State = iota
	// StateConnecting: a connection was lost and the client is reconnecting.
	StateConnecting
	// StateConnected: connected and authenticated.
	StateConnected
	// StateClosed: Close was called, or the server disconnected the client for good
	// (close code 4004). Terminal.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// StateChange describes one transition. Err says why a connection ended or an attempt
// failed (a *CloseError when the server sent a close frame); nil for a successful connect
// and for Close.
type StateChange struct {
	From, To State
	Err      error
	// Attempt counts failed reconnection attempts since the connection was lost.
	Attempt int
}
