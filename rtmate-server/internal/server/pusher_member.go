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

// Presence members of Pusher connections carry user_info, and Pusher announces a user once
// however many connections it has; the engine knows neither. Both travel in the engine's
// user id, after a NUL byte that no user id of either protocol contains (JWT subjects and
// Pusher ids are text):
//
//	stored member (AddPresence):  user_id NUL user_info
//	join/leave publication:       user_id NUL flag user_info
//
// where flag is memberOnce (the user's first connection to join, or last to leave: Pusher
// clients hear of it) or memberAgain (another connection of a user still present: they
// do not). Native pushes and presence lists show the user id alone (memberID). With no
// NUL the member is a native connection's, with no info.

const (
	memberSep   = "\x00"
	memberOnce  = '\x01'
	memberAgain = '\x02'
)

func storedMember(userID string, info []byte) string {
	return userID + memberSep + string(info)
}

func pubMember(userID, info string, once bool) string {
	flag := string(rune(memberAgain))
	if once {
		flag = string(rune(memberOnce))
	}
	return userID + memberSep + flag + info
}

// memberID is the user id of an engine member or join/leave.
func memberID(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// memberParts splits an engine member or join/leave into its user id, user_info (raw JSON,
// maybe empty) and whether Pusher clients hear of it (true when there is no flag: a member
// reaped by the Redis engine, or a native one).
func memberParts(s string) (id, info string, once bool) {
	id, rest, ok := strings.Cut(s, memberSep)
	if !ok {
		return s, "", true
	}
	if rest != "" {
		switch rest[0] {
		case memberOnce:
			return id, rest[1:], true
		case memberAgain:
			return id, rest[1:], false
		}
	}
	return id, rest, true
}

// presenceUsers lists the distinct users of members, ordered by id, each with the
// user_info of its first connection.
func presenceUsers(members []engine.ClientInfo) []pusher.PresenceMember {
	users := make([]pusher.PresenceMember, 0, len(members))
	for _, m := range members {
		id, info, _ := memberParts(m.UserID)
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
// node would otherwise both be announced, or neither. Across nodes (Redis) the look is not
// atomic with the change: docs/pusher.md says so. Lock order: a member lock, then the hub's.
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
		return pubMember(user, info, true)
	}
	for _, m := range members {
		if m.ClientID != c.clientID && memberID(m.UserID) == user {
			return pubMember(user, info, false)
		}
	}
	return pubMember(user, info, true)
}

// publishMember publishes a join or leave.
func (s *Server) publishMember(key engine.ChannelKey, kind engine.Kind, clientID, userField string) {
	if id, _, once := memberParts(userField); once {
		if kind == engine.KindJoin {
			s.pobs.MemberAdded(key.App, key.Name, id)
		} else {
			s.pobs.MemberRemoved(key.App, key.Name, id)
		}
	}
	pub := engine.Publication{Kind: kind, ClientID: clientID, UserID: userField}
	if _, err := s.engine.Publish(context.Background(), key, &pub, engine.HistoryOptions{}); err != nil {
		s.log.Error("announce presence", zap.String("app_id", key.App), zap.String("channel", key.Name), zap.Error(err))
	}
}
