// Package pusherapi serves the Pusher Channels HTTP API (/apps/{app_id}/...) with Pusher's
// request signing, so that the Pusher server SDKs (node, PHP, Python, Go, Ruby) publish to
// and query RTMate unchanged. Entry point: New; mount it with srv.Handle("/apps/", h).
// docs/pusher.md lists the endpoints and their answers.
package pusherapi
