// Package wsframe reads and writes WebSocket frames on the client side of a connection,
// on top of github.com/gobwas/ws.
//
// Entry points:
//   - Reader.Next returns the next server message (fragments joined) or control frame, its
//     payload aliasing the bufio.Reader's buffer when it fits there, so that a reader of
//     many small frames copies nothing.
//   - AppendClientFrame appends one masked frame to a byte slice, so that a whole frame
//     (header and payload) goes out in a single write.
//
// The client package and the load tool share it; the load tool reads thousands of
// connections and must not pay for a copy per frame.
package wsframe
