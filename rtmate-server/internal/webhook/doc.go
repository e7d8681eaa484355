// Package webhook tells each app's backend what happens on RTMate — connect, disconnect,
// subscribe, unsubscribe, message — with signed HTTP POSTs, and asks its optional connect
// hook whether a connection or a subscription may go ahead.
//
// Entry points: New (a Dispatcher, which is both a server.Observer and server.Hooks),
// (*Dispatcher).Reload, (*Dispatcher).Close, (*Dispatcher).Stats, and Verify for receivers.
//
// Events never slow the event loop: an observer call copies what it keeps into a bounded
// per-app queue and returns. The queue is sharded by client id, one delivery goroutine per
// shard, so the events of one connection reach the backend in order; a full shard drops its
// oldest events and counts them. docs/webhooks.md is the user-facing description.
package webhook
