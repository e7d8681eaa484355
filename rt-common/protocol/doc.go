// Package protocol is RTMate's wire contract in Go: the request and response envelopes, the
// WsBizCode error table, the close codes, the payload DTOs of every event and push,
// channel-name rules and the JWT claims type.
//
// Entry points:
//   - DecodeRequest parses one client message without reflection; the returned Request
//     aliases the input buffer. DecodePayload does the same for its payload.
//   - AppendResponse, AppendMessagePush and AppendPresencePush encode a server envelope into
//     a caller's []byte, keeping data as raw JSON so that a push is encoded once and shared
//     by every subscriber.
//   - WsBizCode and RtWsError carry the contract's codes and exact messages; CloseCode the
//     close statuses. AllCodes and AllCloseCodes feed the JS SDK generator
//     (rt-common/cmd/gen-sdk-codes).
//
// The package imports only the standard library and nothing that touches the network, so
// that SDKs, the CLI and the load tool can share it with the server.
package protocol

//go:generate go run ../cmd/gen-sdk-codes -out ../../sdk/js/src/codes.ts
