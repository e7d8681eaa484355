package server

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

type configLimits = config.Limits

// maxRecover bounds how many missed publications one subscribe may replay.
const maxRecover = 1000

// subscribe adds c to ch, answering with the stream position (and the missed publications
// when recovery was asked for) while the channel's fan-out is held, then announces a presence
// member. Read slot.
func (s *Server) subscribe(c *Conn, w *worker, a *appState, ch string, recoverReq bool, since uint64, epoch string) error {
	key := engine.ChannelKey{App: a.cfg.ID, Name: ch}
	ctx := context.Background()
	presence := a.isPresence(ch)
	// In an app that speaks Pusher a user is announced once (pusher_member.go): an engine
	// shared by nodes decides it as it adds the member; otherwise memberLocks make the look
	// at the others and the change one step.
	atomicJoin := presence && a.cfg.Pusher != nil && s.announcer != nil
	if presence && a.cfg.Pusher != nil && !atomicJoin {
		defer s.members.lock(key)() // see memberLocks
	}
	var joined, joinOnce bool
	// addMember runs just before the reply, so that a client that asks for presence as soon
	// as its subscribe is answered finds itself listed.
	addMember := func() {
		if !presence {
			return
		}
		member := engine.ClientInfo{ClientID: c.clientID, UserID: c.userID}
		var err error
		if atomicJoin {
			joinOnce, err = s.announcer.JoinMember(ctx, key, member)
			joined = err == nil
		} else {
			err = s.engine.AddPresence(ctx, key, member)
		}
		if err != nil {
			s.log.Error("add presence", zap.String("app_id", key.App), zap.String("channel", ch), zap.Error(err))
		}
	}
	added, first, err := s.hub.SubscribeWith(key, c, func(first bool) (uint64, string, error) {
		if first {
			if err := s.engine.Subscribe(ctx, key); err != nil {
				return 0, "", protocol.NewError(protocol.Internal, err)
			}
		}
		if a.history.Size <= 0 && !recoverReq {
			addMember()
			c.replyChannel(w, ch, 0)
			return 0, "", nil
		}
		limit := 1
		if recoverReq {
			limit = maxRecover
		}
		pubs, pos, err := s.engine.History(ctx, key, since, limit)
		if err != nil {
			return 0, "", protocol.NewError(protocol.Internal, err)
		}
		d := append(w.data[:0], `{"channel":`...)
		d = protocol.AppendString(d, ch)
		d = append(d, `,"epoch":`...)
		d = protocol.AppendString(d, pos.Epoch)
		d = append(d, `,"offset":`...)
		d = strconv.AppendUint(d, pos.Offset, 10)
		if recoverReq {
			sameEpoch := epoch == pos.Epoch
			if !sameEpoch {
				pubs = nil
			}
			recovered := sameEpoch && since <= pos.Offset && uint64(len(pubs)) == pos.Offset-since
			d = append(d, `,"recovered":`...)
			d = strconv.AppendBool(d, recovered)
			d = append(d, `,"publications":`...)
			d = appendPublications(d, pubs)
		}
		d = append(d, '}')
		w.data = d
		addMember()
		c.reply(w, protocol.Success, d)
		return pos.Offset, pos.Epoch, nil
	})
	if err != nil {
		return err
	}
	if !added {
		c.replyChannel(w, ch, 0)
		return nil
	}
	c.subs = append(c.subs, ch)
	info := c.info()
	if first {
		s.syncOccupancy(a, key)
	}
	s.obs.Subscribed(info, ch)
	switch {
	case joined:
		s.observeMember(key, engine.KindJoin, c.userID, joinOnce)
	case presence && !atomicJoin:
		s.announce(key, engine.KindJoin, c)
	}
	return nil
}

// unsubscribe removes c from ch (a no-op when it was not subscribed). Read slot.
func (s *Server) unsubscribe(c *Conn, ch string) {
	i := slices.Index(c.subs, ch)
	if i < 0 {
		return
	}
	c.subs = slices.Delete(c.subs, i, i+1)
	key := engine.ChannelKey{App: c.appID, Name: ch}
	ctx := context.Background()
	_, last := s.hub.UnsubscribeWith(key, c, func() {
		if err := s.engine.Unsubscribe(ctx, key); err != nil {
			s.log.Error("engine unsubscribe", zap.String("app_id", key.App), zap.String("channel", ch), zap.Error(err))
		}
	})
	s.obs.Unsubscribed(c.info(), ch)
	if a := c.app(); a != nil && a.isPresence(ch) && (c.pusher == nil || pusher.IsPresence(ch)) {
		if a.cfg.Pusher != nil && s.announcer != nil {
			s.leaveMember(key, c)
		} else {
			if a.cfg.Pusher != nil {
				defer s.members.lock(key)() // see memberLocks
			}
			if err := s.engine.RemovePresence(ctx, key, c.clientID); err != nil {
				s.log.Error("remove presence", zap.String("app_id", key.App), zap.String("channel", ch), zap.Error(err))
			}
			s.announce(key, engine.KindLeave, c)
		}
	}
	if last {
		s.syncOccupancy(c.app(), key) // after the member's departure, as Pusher reports them
	}
}

func (s *Server) announce(key engine.ChannelKey, kind engine.Kind, c *Conn) {
	user := c.userID
	if a := c.app(); a != nil && a.cfg.Pusher != nil {
		user = s.memberField(key, c) // Pusher clients hear of a user once (pusher_member.go)
	}
	s.publishMember(key, kind, c.clientID, user)
	if c.pusher != nil && kind == engine.KindLeave {
		c.pusher.dropMember(key.Name)
	}
}

// publish accepts a message for ch from a connection or the API.
func (s *Server) publish(a *appState, ch string, data []byte, from ConnInfo) (engine.StreamPosition, error) {
	if err := a.monthlyQuota(1); err != nil {
		return engine.StreamPosition{}, err
	}
	if !a.pub.allow(nowNano()) {
		return engine.StreamPosition{}, protocol.Errorf(protocol.QuotaExceeded, "app publish rate %v/s", a.limits.MaxPublishRate)
	}
	return s.publishAllowed(a, ch, data, from)
}

// publishAllowed is publish once the app's publish quota has been charged.
func (s *Server) publishAllowed(a *appState, ch string, data []byte, from ConnInfo) (engine.StreamPosition, error) {
	pub := engine.Publication{Kind: engine.KindMessage, Data: data, ClientID: from.ClientID}
	pos, err := s.engine.Publish(context.Background(), engine.ChannelKey{App: a.cfg.ID, Name: ch}, &pub, a.history)
	if err != nil {
		return pos, protocol.NewError(protocol.Internal, err)
	}
	a.usage.MessagesIn.Add(1)
	a.usage.BytesIn.Add(int64(len(data)))
	s.obs.Published(from, ch, data)
	pos.Offset = pub.Offset
	return pos, nil
}

// pushOverhead bounds a push's bytes besides its data, channel and ids: the envelope and
// field names (under 100 bytes), an offset (20 digits) and a few escapes.
const pushOverhead = 160

// HandlePublication is the engine's delivery into this node (engine.Handler): the push is
// encoded once, and the same bytes are queued to every local subscriber.
func (s *Server) HandlePublication(k engine.ChannelKey, pub *engine.Publication) {
	if k.App == controlApp {
		s.onControl(k, pub)
		return
	}
	// Room for the whole push (envelope, names, ids, offset) so that encoding never grows the
	// buffer: one allocation per publication, shared by every subscriber.
	buf := make([]byte, wire.HeaderReserve, wire.HeaderReserve+len(pub.Data)+len(k.Name)+len(pub.ClientID)+len(pub.UserID)+pushOverhead)
	switch pub.Kind {
	case engine.KindMessage:
		buf = protocol.AppendMessagePush(buf, k.Name, pub.Data, pub.ClientID, pub.Offset)
	case engine.KindJoin:
		buf = protocol.AppendPresencePush(buf, protocol.PushJoin, k.Name, pub.ClientID, engine.MemberID(pub.UserID))
	case engine.KindLeave:
		buf = protocol.AppendPresencePush(buf, protocol.PushLeave, k.Name, pub.ClientID, engine.MemberID(pub.UserID))
	default:
		return
	}
	frame := wire.FrameInPlace(buf, ws.OpText)
	a := s.apps.Load().app(k.App)
	var alt []byte
	var exclude hub.Sub
	if a != nil && a.cfg.Pusher != nil {
		alt, exclude = s.pusherFrame(k, pub)
	}
	n := s.hub.BroadcastPair(k, frame, alt, exclude, pub.Offset, pub.Epoch)
	if n > 0 {
		if a != nil {
			a.usage.MessagesOut.Add(int64(n))
			a.usage.BytesOut.Add(int64(n * len(frame)))
		}
		s.obs.Delivered(k.App, n, n*len(frame))
	}
}

// HandleEpochReset is the engine's notice that k's epoch changed under this node's
// subscribers (engine.Handler): every native subscriber gets a resync push, queued like a
// publication so that it precedes the new epoch's first one. Pusher subscribers have no
// recovery position and get nothing (no alternative frame). Rare: one allocation per notice.
func (s *Server) HandleEpochReset(k engine.ChannelKey, pos engine.StreamPosition) {
	if k.App == controlApp {
		return
	}
	buf := make([]byte, wire.HeaderReserve, wire.HeaderReserve+len(k.Name)+len(pos.Epoch)+pushOverhead)
	buf = protocol.AppendResyncPush(buf, k.Name, pos.Epoch, pos.Offset)
	n := s.hub.BroadcastPair(k, wire.FrameInPlace(buf, ws.OpText), nil, nil, 0, "")
	s.log.Warn("channel epoch changed under live subscribers; told them to resync",
		zap.String("app_id", k.App), zap.String("channel", k.Name), zap.String("epoch", pos.Epoch),
		zap.Uint64("offset", pos.Offset), zap.Int("subscribers", n))
}

// presenceData appends a presence response's data to dst.
func (s *Server) presenceData(a *appState, ch string, dst []byte) ([]byte, error) {
	members, err := s.engine.Presence(context.Background(), engine.ChannelKey{App: a.cfg.ID, Name: ch})
	if err != nil {
		return nil, protocol.NewError(protocol.Internal, err)
	}
	slices.SortFunc(members, func(x, y engine.ClientInfo) int { return strings.Compare(x.ClientID, y.ClientID) })
	d := append(dst, `{"channel":`...)
	d = protocol.AppendString(d, ch)
	d = append(d, `,"count":`...)
	d = strconv.AppendInt(d, int64(len(members)), 10)
	d = append(d, `,"members":[`...)
	for i, m := range members {
		if i > 0 {
			d = append(d, ',')
		}
		d = protocol.AppendMember(d, m.ClientID, engine.MemberID(m.UserID), true)
	}
	return append(d, "]}"...), nil
}
