package test

import (
	"slices"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

type presenceData struct {
	Channel string       `json:"channel"`
	Count   int          `json:"count"`
	Members []memberData `json:"members"`
}

func (c *client) presence(ch string) presenceData {
	c.t.Helper()
	var d presenceData
	c.ok(protocol.EventPresence, obj{"channel": ch}).decode(c.t, &d)
	if d.Channel != ch || d.Count != len(d.Members) {
		c.t.Fatalf("presence %+v: channel or count wrong", d)
	}
	return d
}

// members lists "client_id/user_id" sorted.
func (d presenceData) members() []string {
	var out []string
	for _, m := range d.Members {
		out = append(out, m.ClientID+"/"+m.UserID)
	}
	slices.Sort(out)
	return out
}

func memberList(cs ...*client) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.clientID+"/"+c.user)
	}
	slices.Sort(out)
	return out
}

func TestPresence(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		devApp(cfg).PresenceChannels = []string{"room-*", "lobby"}
	})
	alice := authed(t, srv, "alice")
	bob := authed(t, srv, "bob")
	carol := authed(t, srv, "carol")

	t.Run("join pushes to every subscriber, the joiner included", func(t *testing.T) {
		alice.subscribe("presence-chat")
		alice.member(protocol.PushJoin, "presence-chat")
		bob.subscribe("presence-chat")
		for _, c := range []*client{alice, bob} {
			if d := c.member(protocol.PushJoin, "presence-chat"); d.ClientID != bob.clientID || d.UserID != "bob" {
				t.Fatalf("join %+v, want bob %s", d, bob.clientID)
			}
		}
		d := carol.presence("presence-chat") // a non-member may ask
		if !slices.Equal(d.members(), memberList(alice, bob)) {
			t.Fatalf("members %v, want %v", d.members(), memberList(alice, bob))
		}
		carol.expectNoPush()
	})
	t.Run("configured patterns are presence channels", func(t *testing.T) {
		for _, ch := range []string{"room-1", "lobby"} {
			bob.subscribe(ch)
			bob.member(protocol.PushJoin, ch)
			if d := bob.presence(ch); d.Count != 1 {
				t.Fatalf("%s: %+v", ch, d)
			}
		}
		bob.fail(protocol.EventPresence, obj{"channel": "lobby2"}, protocol.InvalidParams)
	})
	t.Run("subscribing twice joins once", func(t *testing.T) {
		bob.subscribe("presence-chat")
		bob.ok(protocol.EventPing, nil)
		alice.expectNoPush()
		if d := alice.presence("presence-chat"); d.Count != 2 {
			t.Fatalf("count %d after a double subscribe", d.Count)
		}
	})
	t.Run("unsubscribe pushes leave", func(t *testing.T) {
		bob.ok(protocol.EventUnsubscribe, obj{"channel": "presence-chat"})
		if d := alice.member(protocol.PushLeave, "presence-chat"); d.ClientID != bob.clientID || d.UserID != "bob" {
			t.Fatalf("leave %+v", d)
		}
		bob.expectNoPush() // bob left: he does not get his own leave
		if d := alice.presence("presence-chat"); !slices.Equal(d.members(), memberList(alice)) {
			t.Fatalf("members %v", d.members())
		}
	})
	t.Run("closing leaves every channel at once", func(t *testing.T) {
		carol.subscribe("presence-chat")
		carol.member(protocol.PushJoin, "presence-chat")
		carol.subscribe("presence-two")
		carol.member(protocol.PushJoin, "presence-two")
		carol.subscribe("plain")
		alice.member(protocol.PushJoin, "presence-chat")
		alice.subscribe("presence-two")
		if d := alice.member(protocol.PushJoin, "presence-two"); d.ClientID != alice.clientID {
			t.Fatalf("join %+v", d)
		}
		_ = carol.ws.CloseNow() // no close handshake: the server sees EOF
		got := map[string]bool{}
		for range 2 {
			m := alice.push(protocol.PushLeave)
			var d memberData
			m.decode(t, &d)
			if d.ClientID != carol.clientID || d.UserID != "carol" {
				t.Fatalf("leave %+v, want carol", d)
			}
			got[d.Channel] = true
		}
		if !got["presence-chat"] || !got["presence-two"] {
			t.Fatalf("leaves on %v", got)
		}
		for _, ch := range []string{"presence-chat", "presence-two"} {
			if d := alice.presence(ch); !slices.Equal(d.members(), memberList(alice)) {
				t.Fatalf("%s members %v after carol left", ch, d.members())
			}
		}
		alice.expectNoPush()
	})
	t.Run("empty presence channel", func(t *testing.T) {
		d := alice.presence("presence-nobody")
		if d.Count != 0 || d.Members == nil {
			t.Fatalf("%+v, want count 0 and members []", d)
		}
	})
}

// TestPlainChannelNoPresence: plain channels push no join/leave.
func TestPlainChannelNoPresence(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	a := authed(t, srv, "a")
	b := authed(t, srv, "b")
	a.subscribe("plain")
	b.subscribe("plain")
	b.ok(protocol.EventPing, nil) // b's subscribe is completely handled
	b.publish("plain", `"marker1"`)
	for _, c := range []*client{a, b} {
		if d := c.message("plain"); string(d.Data) != `"marker1"` {
			t.Fatalf("got %s before the marker", d.Data)
		}
	}
	b.ok(protocol.EventUnsubscribe, obj{"channel": "plain"})
	b.publish("plain", `"marker2"`)
	if d := a.message("plain"); string(d.Data) != `"marker2"` {
		t.Fatalf("got %s before the marker", d.Data)
	}
	a.expectNoPush()
	b.expectNoPush()
}
