package server

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
)

// Pusher's channel_occupied and channel_vacated webhooks are about the whole cluster: the
// first subscriber anywhere, the last one anywhere. Each node records in the engine's presence
// of a shadow channel ("#occupancy:" + name, a name no client can subscribe to) whether it has
// subscribers of the channel; a node that joins an empty shadow reports channel_occupied, one
// that leaves it empty channel_vacated. The Redis engine's presence is cluster-wide and reaps
// the entries of dead nodes, so this needs nothing of the engine beyond its presence API.
// Only apps whose webhook has format pusher pay for it (two engine calls when a channel
// becomes occupied or vacated on a node).

const occupancyPrefix = "#occupancy:"

// occupancy is the node's view, per channel stripe: whether it recorded itself in the shadow.
type occupancy struct {
	stripes [64]struct {
		mu   sync.Mutex
		here map[engine.ChannelKey]bool
	}
}

func wantsOccupancy(a *appState) bool {
	return a != nil && a.cfg.Webhook != nil && a.cfg.Webhook.Format == config.WebhookFormatPusher
}

// syncOccupancy brings the shadow in line with the hub after a channel's first local
// subscription or last local unsubscription. It re-reads the hub under the stripe's lock, so
// that a subscribe and an unsubscribe racing on this node leave the shadow right whatever
// order they take the lock in. Read slot.
func (s *Server) syncOccupancy(a *appState, key engine.ChannelKey) {
	if !wantsOccupancy(a) {
		return
	}
	st := &s.occupancy.stripes[fnv(key.App, key.Name)%uint32(len(s.occupancy.stripes))]
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.here == nil {
		st.here = make(map[engine.ChannelKey]bool)
	}
	here := s.hub.Count(key) > 0
	if here == st.here[key] {
		return
	}
	ctx := context.Background()
	shadow := engine.ChannelKey{App: key.App, Name: occupancyPrefix + key.Name}
	var err error
	if here {
		err = s.engine.AddPresence(ctx, shadow, engine.ClientInfo{ClientID: s.nodeID})
		st.here[key] = true
	} else {
		err = s.engine.RemovePresence(ctx, shadow, s.nodeID)
		delete(st.here, key)
	}
	if err != nil {
		s.log.Error("channel occupancy", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
		return
	}
	nodes, err := s.engine.Presence(ctx, shadow)
	if err != nil {
		s.log.Error("channel occupancy", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
		return
	}
	switch {
	case here && len(nodes) == 1:
		s.pobs.ChannelOccupied(key.App, key.Name)
	case !here && len(nodes) == 0:
		s.pobs.ChannelVacated(key.App, key.Name)
	}
}
