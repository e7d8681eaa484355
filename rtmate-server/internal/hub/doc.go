// Package hub is this node's channel registry: which local connections subscribe to which
// channel, and the fan-out that turns one publication into one encoded frame queued to each
// of them. The registry is sharded so that no global lock serialises unrelated channels.
//
// Entry points: New, (*Hub).Subscribe, (*Hub).Unsubscribe, (*Hub).Broadcast.
package hub
