package engine

import (
	"context"
	"strings"
)

// Presence members carry a user field, not just a user id: Pusher members carry user_info,
// and Pusher announces a user once however many connections it has. Both travel in
// ClientInfo.UserID and Publication.UserID after a NUL byte, which no user id of either
// protocol contains (JWT subjects and Pusher ids are text):
//
//	stored member (AddPresence, JoinMember):  user_id NUL user_info
//	join/leave publication:                   user_id NUL flag user_info
//
// where flag is memberOnce (the user's first connection to join, or last to leave: Pusher
// clients hear of it) or memberAgain (another connection of a user still present: they do
// not). With no NUL the member is a native connection's, with no info. The engine compares
// members by user id (MemberID) when it decides an announcement (MemberAnnouncer).

const (
	memberSep   = "\x00"
	memberOnce  = '\x01'
	memberAgain = '\x02'
)

// StoredMember is the user field of a member with user_info info (raw JSON, may be empty).
func StoredMember(userID string, info []byte) string {
	return userID + memberSep + string(info)
}

// AnnouncedMember is the user field of a join or leave; once says that Pusher clients hear
// of it.
func AnnouncedMember(userID, info string, once bool) string {
	flag := string(rune(memberAgain))
	if once {
		flag = string(rune(memberOnce))
	}
	return userID + memberSep + flag + info
}

// MemberID is the user id of a stored member or of a join or leave.
func MemberID(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// MemberParts splits a stored member or a join or leave into its user id, user_info (raw
// JSON, maybe empty) and whether Pusher clients hear of it (true when there is no flag: a
// native member, or a stored one).
func MemberParts(s string) (id, info string, once bool) {
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

// announced turns a stored member into the user field of its join or leave.
func announced(stored string, once bool) string {
	id, info, _ := MemberParts(stored)
	return AnnouncedMember(id, info, once)
}

// MemberAnnouncer is implemented by engines that several nodes share (Redis). Whether a
// join or leave is news for Pusher clients depends on the user's other members, which may
// change on another node at the same moment; a node that looked, then changed, then
// published could announce a user twice, never, or a departure after a later arrival.
// These methods change a member, decide and publish its join or leave in one step that
// every node's changes to the channel are ordered by.
//
// The engine does not know the node-local reason of the change; the caller still reports
// it (observers, webhooks) with the answer.
type MemberAnnouncer interface {
	// JoinMember adds info (its UserID a stored member) as AddPresence does and publishes
	// its join, flagged once when no other member of ch has its user id. It reports once.
	JoinMember(ctx context.Context, ch ChannelKey, info ClientInfo) (once bool, err error)
	// LeaveMember removes this node's member clientID, as RemovePresence does, and
	// publishes its leave, flagged once when no other member has its user id. It reports
	// once; ok is false when the member was not this node's (nothing is published).
	LeaveMember(ctx context.Context, ch ChannelKey, clientID string) (once, ok bool, err error)
}
