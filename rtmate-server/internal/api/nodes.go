package api

import (
	"net/http"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// Cluster-wide answers and GET /api/nodes.

type (
	nodeData struct {
		ID             string `json:"id"`
		Self           bool   `json:"self,omitempty"`
		Address        string `json:"address"`
		Version        string `json:"version"`
		StartedAt      int64  `json:"started_at"`
		UptimeSeconds  int64  `json:"uptime_seconds"`
		HeartbeatAgeMs int64  `json:"heartbeat_age_ms"`
		Connections    int64  `json:"connections"`
		Subscriptions  int    `json:"subscriptions"`
		ControlVersion int    `json:"control_version"`
		ControlIgnored uint64 `json:"control_ignored"`
		Draining       bool   `json:"draining"`
	}
	nodesData struct {
		Count int        `json:"count"`
		Nodes []nodeData `json:"nodes"`
	}
)

func gatheredOf(g server.Gathered) gathered {
	return gathered{Nodes: g.Nodes, MissingNodes: g.Missing}
}

// GET /api/nodes?appId= → {"count","nodes":[…]}: the live nodes, the one asked first, with
// the app's own connections and subscriptions on each.
func (h *Handler) nodes(_ http.ResponseWriter, r *http.Request, appID string) (any, error) {
	if _, err := query(r, appID); err != nil {
		return nil, err
	}
	nodes, err := h.srv.Nodes(appID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := nodesData{Count: len(nodes), Nodes: make([]nodeData, len(nodes))}
	for i, n := range nodes {
		c := n.Status.Apps[appID]
		out.Nodes[i] = nodeData{
			ID: n.ID, Self: n.Self, Address: n.Status.Address, Version: n.Status.Version,
			StartedAt: n.Status.StartedAt, UptimeSeconds: now.Unix() - n.Status.StartedAt,
			HeartbeatAgeMs: now.Sub(n.Heartbeat).Milliseconds(), Connections: c.Connections, Subscriptions: c.Subscriptions,
			ControlVersion: n.Status.ControlVersion, ControlIgnored: n.Status.ControlIgnored, Draining: n.Status.Draining,
		}
	}
	return out, nil
}
