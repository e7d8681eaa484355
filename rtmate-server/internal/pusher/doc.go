// Package pusher holds the Pusher Channels protocol (version 7) as bytes and signatures,
// without any server state: decoding what pusher-js sends (Decode, DecodeSubscribe,
// DecodeSignin), encoding what it expects (AppendEvent, AppendError, ...), and the HMAC
// schemes of channel authorization, user authentication, HTTP API requests and webhooks
// (ChannelAuthValid, UserAuthValid, VerifyRequest, WebhookSignature).
//
// The server package wires it to connections; docs/pusher.md describes the wire behaviour.
// Everything here is safe for concurrent use; decoders alias their input.
package pusher
