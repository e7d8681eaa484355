// Package engine is what lets one RTMate node or many serve the same channels: a Broker that
// orders and distributes publications (and join/leave events) to every node with subscribers,
// a PresenceManager that keeps channel members, and per-channel history with offsets and an
// epoch so that clients can recover what they missed.
//
// Entry points: Engine (the interface the server uses), NewMemory (single node, the default).
// The Redis engine for several nodes lives beside it as engine_redis.go.
package engine
