package admin

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// appFigures is one app's live figures on one node.
type appFigures struct {
	Connections int64   `json:"connections"`
	Channels    int     `json:"channels"`
	In          float64 `json:"messages_in_per_s"`
	Out         float64 `json:"messages_out_per_s"`
}

// nodeFigures is what a node's registry entry carries for the console (NodeStatus.Console).
type nodeFigures struct {
	Node server.NodeFigures    `json:"node"`
	Apps map[string]appFigures `json:"apps"`
}

// localFigures is this node's figures now.
func (a *Admin) localFigures() nodeFigures {
	f := nodeFigures{Node: a.srv.Node(), Apps: map[string]appFigures{}}
	for id, p := range a.live.snapshot() {
		af := appFigures{Connections: p.Connections, In: p.In, Out: p.Out}
		if p.Connections > 0 {
			af.Channels = a.srv.AppChannelCount(id)
		}
		f.Apps[id] = af
	}
	return f
}

// consoleStatus is this node's figures as its node registry entry carries them.
func (a *Admin) consoleStatus() []byte {
	raw, err := json.Marshal(a.localFigures())
	if err != nil {
		a.log.Warn("encode node figures", zap.Error(err))
		return nil
	}
	return raw
}

// allFigures is every live node's figures, ordered by node id, from the server's node
// registry (the one GET /api/nodes reads): every node of a Redis engine, this node alone
// with the memory engine. A live node without console figures (the admin API off, or a
// release that predates them) is listed with its id only.
func (a *Admin) allFigures(ctx context.Context) ([]nodeFigures, error) {
	nodes, err := a.srv.AllNodes(ctx)
	if err != nil {
		return nil, internal(err)
	}
	byID := make(map[string]nodeFigures, len(nodes))
	for _, n := range nodes {
		if n.Self {
			byID[n.ID] = a.localFigures() // fresher than the last heartbeat's
			continue
		}
		f := nodeFigures{Node: server.NodeFigures{ID: n.ID}, Apps: map[string]appFigures{}}
		if len(n.Status.Console) > 0 {
			if err := json.Unmarshal(n.Status.Console, &f); err != nil {
				a.log.Warn("undecodable node figures", zap.String("node", n.ID), zap.Error(err))
			}
			f.Node.ID = n.ID
		}
		byID[n.ID] = f
	}
	out := make([]nodeFigures, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, nil
}
