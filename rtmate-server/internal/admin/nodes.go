package admin

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// nodeMaxAge is how recent a node's figures must be to be listed: it reports every second.
const nodeMaxAge = 5 * time.Second

// appFigures is one app's live figures on one node.
type appFigures struct {
	Connections int64   `json:"connections"`
	Channels    int     `json:"channels"`
	In          float64 `json:"messages_in_per_s"`
	Out         float64 `json:"messages_out_per_s"`
}

// nodeFigures is what a node leaves on a shared store's board every second.
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

// report leaves this node's figures on the board every second until ctx ends.
func (a *Admin) report(ctx context.Context, b store.Board) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		raw, err := json.Marshal(a.localFigures())
		if err == nil {
			err = b.PutNode(ctx, a.srv.NodeID(), raw)
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("node figures not shared", zap.Error(err))
		}
	}
}

// allFigures is every node's figures, ordered by node id: from the board when the store is
// shared, else this node's alone.
func (a *Admin) allFigures(ctx context.Context) ([]nodeFigures, error) {
	local := a.localFigures()
	b, ok := a.st.(store.Board)
	if !ok {
		return []nodeFigures{local}, nil
	}
	raw, err := b.Nodes(ctx, nodeMaxAge)
	if err != nil {
		return nil, internal(err)
	}
	byID := map[string]nodeFigures{local.Node.ID: local} // this node's own, fresher than its last report
	for id, r := range raw {
		if id == local.Node.ID {
			continue
		}
		var f nodeFigures
		if json.Unmarshal(r, &f) == nil {
			byID[id] = f
		}
	}
	out := make([]nodeFigures, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out, nil
}
