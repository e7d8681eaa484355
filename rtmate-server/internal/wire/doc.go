// Package wire turns the bytes a socket delivers into WebSocket messages and back, with no I/O
// of its own: the event loop feeds whatever a read returned, in any split, and gets complete
// messages and control frames through a Handler. Headers are checked with gobwas/ws's
// CheckHeader and payloads unmasked with ws.Cipher. A frame that arrives whole is handled in
// place; a data frame that arrives in pieces is unmasked straight into its message, so a
// reader holds at most one message (MaxMessage) plus one control frame. A message larger
// than the limit is refused from its header, before its payload arrives (1009); invalid UTF-8
// fails as soon as it arrives (1007); any other protocol violation fails with 1002.
//
// Entry points: Reader (Feed), AppendFrame / FrameInPlace for server frames, CloseFrame.
package wire
