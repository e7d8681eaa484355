package api

import (
	"net/http"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Success data of the endpoints that have no DTO in rt-common.
type (
	broadcastData struct {
		Count    int                    `json:"count"`
		Channels []protocol.ChannelData `json:"channels"`
	}
	channelInfo struct {
		Channel     string `json:"channel"`
		Subscribers int    `json:"subscribers"`
	}
	channelsData struct {
		Count    int           `json:"count"`
		Channels []channelInfo `json:"channels"`
		gathered
	}
	disconnectData struct {
		Disconnected int `json:"disconnected"`
		gathered
	}
	// gathered says how many nodes a cluster-wide answer covers (cluster.go).
	gathered struct {
		Nodes        int      `json:"nodes,omitempty"` // with a node registry (Redis engine) only
		MissingNodes []string `json:"missing_nodes,omitempty"`
	}
	usageData struct {
		AppID             string `json:"appId"`
		Since             int64  `json:"since"`
		Connections       int64  `json:"connections"`
		ConnectionsPeak   int64  `json:"connections_peak"`
		ConnectionSeconds int64  `json:"connection_seconds"`
		ConnectionMinutes int64  `json:"connection_minutes"`
		MessagesIn        int64  `json:"messages_in"`
		MessagesOut       int64  `json:"messages_out"`
		BytesIn           int64  `json:"bytes_in"`
		BytesOut          int64  `json:"bytes_out"`
		gathered
	}
)

// POST /api/publish {"appId","channel","data"} → {"channel"[,"offset"]}.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request, appID string) (any, error) {
	var req publishRequest
	if err := h.decodeBody(w, r, appID, &req); err != nil {
		return nil, err
	}
	if req.Data == nil {
		return nil, protocol.Errorf(protocol.InvalidParams, "data is required")
	}
	offset, err := h.srv.PublishAPI(appID, req.Channel, req.Data)
	if err != nil {
		return nil, err
	}
	return protocol.ChannelData{Channel: req.Channel, Offset: offset}, nil
}

// POST /api/broadcast {"appId","channels":[...],"data"} → {"count","channels":[{"channel"[,"offset"]}]}.
func (h *Handler) broadcast(w http.ResponseWriter, r *http.Request, appID string) (any, error) {
	var req broadcastRequest
	if err := h.decodeBody(w, r, appID, &req); err != nil {
		return nil, err
	}
	if req.Data == nil {
		return nil, protocol.Errorf(protocol.InvalidParams, "data is required")
	}
	offsets, err := h.srv.BroadcastAPI(appID, req.Channels, req.Data)
	if err != nil {
		return nil, err
	}
	out := broadcastData{Count: len(offsets), Channels: make([]protocol.ChannelData, len(offsets))}
	for i, off := range offsets {
		out.Channels[i] = protocol.ChannelData{Channel: req.Channels[i], Offset: off}
	}
	return out, nil
}

// GET /api/presence?appId=&channel= → {"channel","count","members":[{"client_id","user_id"}]}.
func (h *Handler) presence(_ http.ResponseWriter, r *http.Request, appID string) (any, error) {
	q, err := query(r, appID)
	if err != nil {
		return nil, err
	}
	ch := q.Get("channel")
	members, err := h.srv.Presence(appID, ch)
	if err != nil {
		return nil, err
	}
	return protocol.PresenceData{Channel: ch, Count: len(members), Members: members}, nil
}

// GET /api/channels?appId=[&prefix=] → {"count","channels":[{"channel","subscribers"}]}.
func (h *Handler) channels(_ http.ResponseWriter, r *http.Request, appID string) (any, error) {
	q, err := query(r, appID)
	if err != nil {
		return nil, err
	}
	prefix := q.Get("prefix")
	if len(prefix) > protocol.MaxChannelLen {
		return nil, protocol.Errorf(protocol.InvalidParams, "prefix longer than %d bytes", protocol.MaxChannelLen)
	}
	chans, g, err := h.srv.ClusterChannels(appID, prefix)
	if err != nil {
		return nil, err
	}
	out := channelsData{Count: len(chans), Channels: make([]channelInfo, len(chans)), gathered: gatheredOf(g)}
	for i, c := range chans {
		out.Channels[i] = channelInfo{Channel: c.Name, Subscribers: c.Subscribers}
	}
	return out, nil
}

// POST /api/disconnect {"appId","client_id"} | {"appId","user_id"} → {"disconnected":N}.
func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request, appID string) (any, error) {
	var req disconnectRequest
	if err := h.decodeBody(w, r, appID, &req); err != nil {
		return nil, err
	}
	n, g, err := h.srv.ClusterDisconnect(appID, req.ClientID, req.UserID)
	if err != nil {
		return nil, err
	}
	return disconnectData{Disconnected: n, gathered: gatheredOf(g)}, nil
}

// GET /api/usage?appId= → the app's usage counters.
func (h *Handler) usage(_ http.ResponseWriter, r *http.Request, appID string) (any, error) {
	if _, err := query(r, appID); err != nil {
		return nil, err
	}
	u, g, err := h.srv.ClusterUsage(appID)
	if err != nil {
		return nil, err
	}
	return usageData{
		AppID:             u.AppID,
		Since:             u.Since.Unix(),
		Connections:       u.Connections,
		ConnectionsPeak:   u.ConnectionsPeak,
		ConnectionSeconds: u.ConnectionSeconds,
		ConnectionMinutes: u.ConnectionSeconds / 60,
		MessagesIn:        u.MessagesIn,
		MessagesOut:       u.MessagesOut,
		BytesIn:           u.BytesIn,
		BytesOut:          u.BytesOut,
		gathered:          gatheredOf(g),
	}, nil
}
