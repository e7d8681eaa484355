package server

import (
	"context"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
)

// Pusher members carry user_info and are announced once per user: the engine's member
// encoding (engine/engine_member.go) carries both through the engine.

// presenceUsers lists the distinct users of members, ordered by id, each with the
// user_info of its first connection.
func presenceUsers(members []engine.ClientInfo) []pusher.PresenceMember {
	users := make([]pusher.PresenceMember, 0, len(members))
	for _, m := range members {
		id, info, _ := engine.MemberParts(m.UserID)
		if id == "" || containsUser(users, id) {
			continue
		}
		pm := pusher.PresenceMember{UserID: id}
		if info != "" {
			pm.UserInfo = []byte(info)
		}
		users = append(users, pm)
	}
	slices.SortFunc(users, func(x, y pusher.PresenceMember) int { return strings.Compare(x.UserID, y.UserID) })
	return users
}

func containsUser(users []pusher.PresenceMember, id string) bool {
	for i := range users {
		if users[i].UserID == id {
			return true
		}
	}
	return false
}

// memberLocks serialize, per presence channel of an app that speaks Pusher, a member's
// AddPresence or RemovePresence with the look at the others that decides whether it is
// announced (memberField): two connections of one user joining or leaving at once on this
// node would otherwise both be announced, or neither. An engine shared by nodes decides in
// its own step instead (engine.MemberAnnouncer); the Pusher subscribe still takes the lock,
// which keeps a node's presence member limit exact. Lock order: a member lock, then the hub's.
type memberLocks [64]sync.Mutex

// lock locks key's stripe and returns its unlock.
func (m *memberLocks) lock(key engine.ChannelKey) func() {
	mu := &m[fnv(key.App, key.Name)%uint32(len(m))]
	mu.Lock()
	return mu.Unlock
}

func fnv(a, b string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * 16777619
	}
	h *= 16777619
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * 16777619
	}
	return h
}

// memberField is what a join or leave of c on key carries in an app that speaks Pusher:
// whether c is the user's only connection in the channel (after AddPresence or
// RemovePresence). An engine failure errs on the side of announcing.
func (s *Server) memberField(key engine.ChannelKey, c *Conn) string {
	user, info := c.userID, ""
	if c.pusher != nil {
		user, info = c.pusher.member(key.Name)
	}
	members, err := s.engine.Presence(context.Background(), key)
	if err != nil {
		s.log.Error("presence for a Pusher announcement", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
		return engine.AnnouncedMember(user, info, true)
	}
	for _, m := range members {
		if m.ClientID != c.clientID && engine.MemberID(m.UserID) == user {
			return engine.AnnouncedMember(user, info, false)
		}
	}
	return engine.AnnouncedMember(user, info, true)
}

// publishMember publishes a join or leave.
func (s *Server) publishMember(key engine.ChannelKey, kind engine.Kind, clientID, userField string) {
	id, _, once := engine.MemberParts(userField)
	s.observeMember(key, kind, id, once)
	pub := engine.Publication{Kind: kind, ClientID: clientID, UserID: userField}
	if _, err := s.engine.Publish(context.Background(), key, &pub, engine.HistoryOptions{}); err != nil {
		s.log.Error("announce presence", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
	}
}

// observeMember reports a user's arrival or departure to the Pusher webhooks when it is
// news (once).
func (s *Server) observeMember(key engine.ChannelKey, kind engine.Kind, userID string, once bool) {
	switch {
	case !once:
	case kind == engine.KindJoin:
		s.pobs.MemberAdded(key.App, key.Name, userID)
	default:
		s.pobs.MemberRemoved(key.App, key.Name, userID)
	}
}

// leaveMember removes c from key's members and announces it in one engine step (an engine
// shared by nodes: s.announcer is set).
func (s *Server) leaveMember(key engine.ChannelKey, c *Conn) {
	user := c.userID
	if c.pusher != nil {
		user, _ = c.pusher.member(key.Name)
		defer c.pusher.dropMember(key.Name)
	}
	once, ok, err := s.announcer.LeaveMember(context.Background(), key, c.clientID)
	switch {
	case err != nil:
		s.log.Error("remove presence", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
	case ok:
		s.observeMember(key, engine.KindLeave, user, once)
	}
}
