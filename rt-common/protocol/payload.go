package protocol

import "encoding/json"

// The DTOs below document every payload and push with encoding/json tags. The server encodes
// and decodes without them (see DecodePayload and the Append functions); clients, SDK
// generators and tests use them.

// Metadata is the request's optional metadata.
type Metadata struct {
	TraceID string `json:"traceId,omitempty"`
}

// ClientRequest is a request envelope as clients build it.
type ClientRequest struct {
	Event    string    `json:"event"`
	Payload  any       `json:"payload,omitempty"`
	Metadata *Metadata `json:"metadata,omitempty"`
	ID       any       `json:"id,omitempty"`
}

// ClientResponse is a response or push envelope as clients read it.
type ClientResponse struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Event   string          `json:"event,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
	TraceID string          `json:"traceId,omitempty"`
}

// AuthPayload is the payload of `auth`.
type AuthPayload struct {
	AppID string `json:"appId"`
	Token string `json:"token"`
}

// AuthData is the success data of `auth`.
type AuthData struct {
	State    bool   `json:"state"`
	ClientID string `json:"client_id"`
}

// ChannelPayload is the payload of `unsubscribe` and `presence`.
type ChannelPayload struct {
	Channel string `json:"channel"`
}

// SubscribePayload is the payload of `subscribe`; Recover asks for what was missed since
// Offset in Epoch.
type SubscribePayload struct {
	Channel string `json:"channel"`
	Recover bool   `json:"recover,omitempty"`
	Offset  uint64 `json:"offset,omitempty"`
	Epoch   string `json:"epoch,omitempty"`
}

// SubscribeData is the success data of `subscribe`. Epoch and Offset describe the channel's
// history stream (absent when the channel keeps none); Recovered and Publications answer a
// recovery request.
type SubscribeData struct {
	Channel      string        `json:"channel"`
	Epoch        string        `json:"epoch,omitempty"`
	Offset       uint64        `json:"offset,omitempty"`
	Recovered    *bool         `json:"recovered,omitempty"`
	Publications []Publication `json:"publications,omitempty"`
}

// ResyncData is the data of a resync push [ext]: the channel's stream went on under a new
// epoch while the client stayed subscribed, and publications of the old one may be lost.
// Offset is the position just before the first publication of the new epoch that follows.
type ResyncData struct {
	Channel string `json:"channel"`
	Epoch   string `json:"epoch"`
	Offset  uint64 `json:"offset"`
}

// MessageSendPayload is the payload of `messageSend`.
type MessageSendPayload struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// ChannelData is the success data of `unsubscribe` and `messageSend`.
type ChannelData struct {
	Channel string `json:"channel"`
	Offset  uint64 `json:"offset,omitempty"`
}

// Member is one presence member.
type Member struct {
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
}

// PresenceData is the success data of `presence`.
type PresenceData struct {
	Channel string   `json:"channel"`
	Count   int      `json:"count"`
	Members []Member `json:"members"`
}

// HistoryPayload is the payload of `history`.
type HistoryPayload struct {
	Channel string `json:"channel"`
	Since   uint64 `json:"since,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// HistoryData is the success data of `history`.
type HistoryData struct {
	Channel      string        `json:"channel"`
	Epoch        string        `json:"epoch"`
	Offset       uint64        `json:"offset"`
	Publications []Publication `json:"publications"`
}

// Publication is one published message: the `data` of a message push, and an element of
// recovery and history lists.
type Publication struct {
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data"`
	From    string          `json:"from"`
	Offset  uint64          `json:"offset,omitempty"`
}

// PresenceEvent is the data of a `join` or `leave` push.
type PresenceEvent struct {
	Channel  string `json:"channel"`
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
}
