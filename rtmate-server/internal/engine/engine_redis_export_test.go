package engine

// Test-only access for the black-box tests of package engine_test.

// Abort stops the engine like a killed process: connections drop, the heartbeat stops, and
// nothing is cleaned up in Redis.
func (e *Redis) Abort() { _ = e.close(false) }

// SetBeforeResubscribe makes the subscription worker run f before it resubscribes after a
// reconnection (call before Start).
func (e *Redis) SetBeforeResubscribe(f func()) { e.beforeResubscribe = f }
