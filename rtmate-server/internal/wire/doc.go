// Package wire turns the bytes a socket delivers into WebSocket messages and back, with no I/O
// of its own: the event loop feeds whatever a read returned, in any split, and gets complete
// messages and control frames through a Handler. Headers are checked with gobwas/ws's
// CheckHeader and payloads unmasked with ws.Cipher; nothing is buffered beyond one incomplete
// frame, and a message larger than the limit is refused from its header, before its payload
// arrives.
//
// Entry points: Reader (Feed), AppendFrame / FrameInPlace for server frames, CloseFrame.
package wire
