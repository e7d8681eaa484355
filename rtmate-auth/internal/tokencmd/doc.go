// Package tokencmd is the rtmate-token tool: it issues connection tokens for an app of the
// server's config (or the built-in development app) and explains why a token is refused.
//
// Entry point: Run, which cmd/rtmate-token calls with the process's arguments and streams,
// and which the tests call in-process.
package tokencmd
