package engine

import (
	"strings"
	"testing"
)

// A member's user field is read back from what any client may put in a Pusher user id and
// user_info.
func FuzzMemberParts(f *testing.F) {
	f.Add("alice", "", true)
	f.Add("bob", `{"name":"B"}`, false)
	f.Fuzz(func(t *testing.T, id, info string, once bool) {
		if strings.IndexByte(id, 0) >= 0 {
			return // user ids never hold NUL (memberSep)
		}
		gid, ginfo, gonce := MemberParts(AnnouncedMember(id, info, once))
		if gid != id || ginfo != info || gonce != once {
			t.Fatalf("AnnouncedMember(%q,%q,%v) read back as %q,%q,%v", id, info, once, gid, ginfo, gonce)
		}
		if MemberID(StoredMember(id, []byte(info))) != id {
			t.Fatal("StoredMember lost the id")
		}
		_, _, _ = MemberParts(info) // any engine value
	})
}
