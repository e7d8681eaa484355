package server

import (
	"context"
	"slices"
	"strings"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
)

// What the Pusher HTTP API (package pusherapi) needs from a Server. Safe for concurrent use;
// errors a caller can cause are *protocol.RtWsError values.

// PusherApp returns an app's Pusher settings and limits; ok is false for an unknown app or
// one without a pusher block.
func (s *Server) PusherApp(appID string) (p config.Pusher, lim config.Limits, ok bool) {
	a := s.apps.Load().app(appID)
	if a == nil || a.cfg.Pusher == nil {
		return config.Pusher{}, config.Limits{}, false
	}
	return *a.cfg.Pusher, a.limits, true
}

// PusherEvent is one event to trigger: Data is its raw JSON value (the Pusher SDKs send a
// string), SocketID the connection not to deliver it to (may be empty).
type PusherEvent struct {
	Name     string
	Data     []byte
	Channels []string
	SocketID string
}

// PusherTrigger publishes events on their channels as native message data (see
// pusher_mapping.go), charging the app's publish quota for all of them at once.
func (s *Server) PusherTrigger(appID string, events []PusherEvent) error {
	a := s.apps.Load().app(appID)
	if a == nil || a.cfg.Pusher == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	n := 0
	for i := range events {
		n += len(events[i].Channels)
	}
	if !a.pub.allowN(nowNano(), n) {
		return protocol.Errorf(protocol.QuotaExceeded, "app publish rate %v/s", a.limits.MaxPublishRate)
	}
	from := ConnInfo{App: a.cfg.ID, ClientID: APIClientID}
	datas, err := s.pusherScriptTrigger(a, from, events)
	if err != nil {
		return err
	}
	for i := range events {
		for j, ch := range events[i].Channels {
			if _, err := s.publishAllowed(a, ch, datas[i][j], from); err != nil {
				return err
			}
		}
	}
	return nil
}

// PusherChannel is one occupied channel as the Pusher API reports it: its subscriptions and,
// for presence channels, its distinct users, both cluster-wide.
type PusherChannel struct {
	Name          string
	Subscriptions int
	Users         int
}

// PusherChannels lists an app's occupied channels whose names start with prefix, ordered by
// name; users counts the users of presence channels (one engine call each).
func (s *Server) PusherChannels(appID, prefix string, users bool) ([]PusherChannel, error) {
	chans, _, err := s.ClusterChannels(appID, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]PusherChannel, 0, len(chans))
	for _, ch := range chans {
		if strings.HasPrefix(ch.Name, pusher.ServerToUserPrefix) {
			continue // a user's own channel is not an app channel
		}
		pc := PusherChannel{Name: ch.Name, Subscriptions: ch.Subscribers}
		if users && pusher.IsPresence(ch.Name) {
			if pc.Users, err = s.pusherUserCount(appID, ch.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, pc)
	}
	return out, nil
}

// PusherChannelsInfo reports each named channel (occupied or not), in the order given, with
// one cluster-wide request for all of their subscriptions.
func (s *Server) PusherChannelsInfo(appID string, names []string) ([]PusherChannel, error) {
	counts, _, err := s.ClusterChannelCounts(appID, names)
	if err != nil {
		return nil, err
	}
	out := make([]PusherChannel, len(names))
	for i, name := range names {
		out[i].Name = name
		if j := slices.IndexFunc(counts, func(c ChannelInfo) bool { return c.Name == name }); j >= 0 {
			out[i].Subscriptions = counts[j].Subscribers
		}
		if pusher.IsPresence(name) {
			if out[i].Users, err = s.pusherUserCount(appID, name); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// PusherChannelInfo is PusherChannelsInfo for one channel.
func (s *Server) PusherChannelInfo(appID, name string) (PusherChannel, error) {
	pcs, err := s.PusherChannelsInfo(appID, []string{name})
	if err != nil {
		return PusherChannel{}, err
	}
	return pcs[0], nil
}

func (s *Server) pusherUserCount(appID, name string) (int, error) {
	ids, err := s.PusherUsers(appID, name)
	return len(ids), err
}

// PusherUsers returns the distinct user ids of a presence channel, ordered.
func (s *Server) PusherUsers(appID, name string) ([]string, error) {
	if s.apps.Load().app(appID) == nil {
		return nil, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	members, err := s.engine.Presence(context.Background(), engine.ChannelKey{App: appID, Name: name})
	if err != nil {
		return nil, protocol.NewError(protocol.Internal, err)
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if id := engine.MemberID(m.UserID); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// PusherTerminate closes, with 4009 as Pusher does, every connection of the app on every node
// whose user signed in as userID (Pusher connections) or authenticated as userID (native
// ones). It returns how many it closes; nodes that did not answer in time are logged.
func (s *Server) PusherTerminate(appID, userID string) (int, error) {
	n, err := s.pusherTerminateLocal(appID, userID)
	if err != nil {
		return 0, err
	}
	replies, _ := s.gather(ctlMsg{Type: "terminate", App: appID, UserID: userID})
	for _, r := range replies {
		n += r.Disconnected
	}
	return n, nil
}

// pusherTerminateLocal is PusherTerminate on this node.
func (s *Server) pusherTerminateLocal(appID, userID string) (int, error) {
	if userID == "" {
		return 0, protocol.Errorf(protocol.InvalidParams, "terminate needs a user id")
	}
	if s.apps.Load().app(appID) == nil {
		return 0, protocol.Errorf(protocol.AppNotFound, "app %q", appID)
	}
	var victims []*Conn
	s.clients.each(func(c *Conn) {
		if c.appID != appID {
			return
		}
		if c.pusher != nil && c.pusher.signedIn() == userID || c.pusher == nil && c.userID == userID {
			victims = append(victims, c)
		}
	})
	for _, c := range victims {
		if c.pusher != nil {
			c.requestClose(PusherCloseUnauthorized)
		} else {
			c.requestClose(CloseDisconnected)
		}
	}
	return len(victims), nil
}
