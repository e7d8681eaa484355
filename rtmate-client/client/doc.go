// Package client is a Go client for RTMate's WebSocket protocol v1 (see the project's
// docs/protocol.md), with the features of the JavaScript SDK: request/response matching by
// id, automatic reconnection with exponential backoff and jitter, resubscription with
// history recovery (missed publications delivered in order, without duplicates), token
// refresh before expiry, application-level pings to detect dead connections, and state
// change callbacks.
//
// Entry points:
//   - Dial (or New followed by Connect) opens a connection and authenticates.
//   - Client.Subscribe returns a Subscription whose Handlers receive pushes;
//     Subscription.Unsubscribe ends it.
//   - Client.Publish, Client.Presence and Client.History are single requests.
//   - Client.Close ends everything.
//
// A Client is safe for concurrent use by multiple goroutines. Handlers and callbacks run
// one at a time, in the order the server sent the events, on one goroutine owned by the
// client; they may call the client's methods, and should return quickly because they
// delay every later event.
//
// Server errors are *Error values carrying the envelope's code and message; compare them
// with errors.Is against the ErrInvalidParams … ErrInternal values. Close codes the server
// sends are reported as *CloseError through Config.OnStateChange and in the errors of
// requests the close interrupted.
package client
