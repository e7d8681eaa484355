// Package hub is this node's channel registry: which local connections subscribe to which
// channel, and the fan-out that turns one publication into one encoded frame queued to each
// of them. The registry is sharded so that no global lock serialises unrelated channels.
//
// A publication is queued on its channel; one fan-out task at a time, run by the caller's
// Spawner (at once, or later when the node is busy), hands every subscriber everything queued
// since its previous turn, so that a busy channel costs one queue operation per subscriber per
// batch rather than per message.
//
// Entry points: New, (*Hub).Subscribe, (*Hub).SubscribeWith, (*Hub).Unsubscribe,
// (*Hub).Broadcast, Fanout.Run.
package hub
