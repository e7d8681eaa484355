// Package engine is what lets one RTMate node or many serve the same channels: a Broker that
// orders and distributes publications (and join/leave events) to every node with subscribers,
// a PresenceManager that keeps channel members, and per-channel history with offsets and an
// epoch so that clients can recover what they missed.
//
// Entry points: Engine (the interface the server uses), NewMemory (single node, the default),
// NewRedis (several nodes on one Redis, engine_redis*.go: standalone, Redis Cluster with
// RedisOptions.Cluster in engine_redis_cluster.go, or Sentinel with RedisOptions.Sentinel) and
// FromConfig, which picks one from the server configuration; (*Redis).Collector exports its
// counters to Prometheus; (*Redis).SetNodeStatus, Nodes and Peers are the node registry
// (engine_redis_nodes.go).
// docs/scaling.md describes the Redis engine's key layout, failure behaviour and metrics.
package engine
