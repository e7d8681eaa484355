// Package test is the black-box end-to-end suite of the RTMate server: every test starts a
// real server in-process on its own loopback port (testserver.Start) and talks to it over
// real sockets with github.com/coder/websocket, a WebSocket implementation other than the
// server's gobwas/ws, plus a few hand-made raw TCP clients for what a well-behaved library
// refuses to send (huge frame headers, ping floods, half-open handshakes).
//
// It relies only on the wire contract (/work/shared/protocol-v1.md and docs/protocol.md),
// never on server internals. Entry points: helpers_test.go (dial, client.call, client.push,
// client.expectClose, rawDial); one file per area of the contract.
//
// Run it with: go test -race ./rtmate-server/test/
package test
