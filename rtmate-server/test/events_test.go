package test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// TestEvents walks every event of the contract once, checking each success data shape.
func TestEvents(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	c := dial(t, srv.URL, nil)

	t.Run("ping before auth", func(t *testing.T) {
		m := c.ok(protocol.EventPing, nil)
		if string(m.Data) != "null" || m.event() != "ping" {
			t.Fatalf("ping: %s, want data null and event ping", m)
		}
	})
	t.Run("auth", func(t *testing.T) {
		m := c.ok(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": testserver.DevToken(t, "alice", time.Hour)})
		var d map[string]json.RawMessage
		m.decode(t, &d)
		if string(d["state"]) != "true" || len(d["client_id"]) < 3 || len(d) != 2 {
			t.Fatalf("auth data %s, want {state:true, client_id}", m.Data)
		}
		if m.event() != "auth" {
			t.Fatalf("auth response event %q", m.event())
		}
		c.clientID = strings.Trim(string(d["client_id"]), `"`)
	})
	for _, tc := range []struct {
		event, channel string
	}{
		{protocol.EventSubscribe, "news"},
		{protocol.EventSubscribe, "presence-room"},
		{protocol.EventUnsubscribe, "never-subscribed"},
	} {
		t.Run(tc.event+" "+tc.channel, func(t *testing.T) {
			m := c.ok(tc.event, obj{"channel": tc.channel})
			var d map[string]json.RawMessage
			m.decode(t, &d)
			if string(d["channel"]) != `"`+tc.channel+`"` || m.event() != tc.event {
				t.Fatalf("%s: %s", tc.event, m)
			}
		})
	}
	c.push(protocol.PushJoin) // our own join on presence-room
	t.Run("subscribe data carries the stream position when history is on", func(t *testing.T) {
		m := c.subscribe("positioned")
		var d streamData
		m.decode(t, &d)
		if d.Epoch == "" || d.Offset != 0 || d.Recovered != nil {
			t.Fatalf("subscribe data %s, want epoch, offset 0, no recovered", m.Data)
		}
	})
	t.Run("messageSend", func(t *testing.T) {
		m := c.ok(protocol.EventMessageSend, obj{"channel": "news", "data": obj{"k": "v"}})
		var d pubData
		m.decode(t, &d)
		if d.Channel != "news" || d.Offset != 1 || m.event() != "messageSend" {
			t.Fatalf("messageSend: %s, want channel news offset 1", m)
		}
		p := c.message("news")
		if string(p.Data) != `{"k":"v"}` || p.From != c.clientID || p.Offset != 1 {
			t.Fatalf("message push %+v", p)
		}
	})
	t.Run("presence", func(t *testing.T) {
		m := c.ok(protocol.EventPresence, obj{"channel": "presence-room"})
		var d struct {
			Channel string       `json:"channel"`
			Count   int          `json:"count"`
			Members []memberData `json:"members"`
		}
		m.decode(t, &d)
		if d.Channel != "presence-room" || d.Count != 1 || len(d.Members) != 1 ||
			d.Members[0].ClientID != c.clientID || d.Members[0].UserID != "alice" {
			t.Fatalf("presence: %s", m)
		}
	})
	t.Run("history", func(t *testing.T) {
		m := c.ok(protocol.EventHistory, obj{"channel": "news", "since": 0, "limit": 10})
		var d streamData
		m.decode(t, &d)
		if d.Channel != "news" || d.Epoch == "" || d.Offset != 1 || len(d.Publications) != 1 ||
			string(d.Publications[0].Data) != `{"k":"v"}` || d.Publications[0].From != c.clientID || d.Publications[0].Offset != 1 {
			t.Fatalf("history: %s", m)
		}
	})
	t.Run("unsubscribe stops delivery", func(t *testing.T) {
		c.ok(protocol.EventUnsubscribe, obj{"channel": "news"})
		c.publish("news", `1`)
		c.expectNoPush()
	})
}

// TestEnvelopeEcho checks id (string and number) and traceId (echoed or generated) on
// successes and on errors, and that an unparsable request's response has no event.
func TestEnvelopeEcho(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	c := dial(t, srv.URL, nil)

	cases := []struct {
		name    string
		event   string
		payload any
		code    protocol.WsBizCode
	}{
		{"success", protocol.EventPing, nil, protocol.Success},
		{"error", protocol.EventSubscribe, obj{"channel": "x"}, protocol.Unauthenticated},
		{"unknown event", "nope", nil, protocol.UnsupportedEvent},
		{"bad payload", protocol.EventAuth, raw(`{"appId":5}`), protocol.InvalidParams},
	}
	for _, tc := range cases {
		for _, id := range []string{`"abc-1"`, `42`, `-7`, `1.5e3`, `"中文"`} {
			for _, trace := range []string{"", "trace-xyz"} {
				t.Run(tc.name+" id="+id+" trace="+trace, func(t *testing.T) {
					m, err := c.tryRoundTrip(tc.event, tc.payload, id, trace)
					if err != nil {
						t.Fatal(err)
					}
					checkCode(t, m, tc.code)
					if string(m.ID) != id {
						t.Fatalf("id %s, want %s", m.ID, id)
					}
					if m.event() != tc.event {
						t.Fatalf("event %q, want %q", m.event(), tc.event)
					}
					if trace != "" && m.traceID() != trace || trace == "" && !isHex16(m.traceID()) {
						t.Fatalf("traceId %s (sent %q)", m.TraceID, trace)
					}
				})
			}
		}
	}
	t.Run("no id, no id in the response", func(t *testing.T) {
		c.sendRaw(`{"event":"ping"}`)
		m := c.next()
		if m.ID != nil || m.Code != 200 || !isHex16(m.traceID()) {
			t.Fatalf("got %s", m)
		}
	})
	t.Run("generated traceIds differ", func(t *testing.T) {
		a, b := c.call(protocol.EventPing, nil), c.call(protocol.EventPing, nil)
		if a.traceID() == b.traceID() {
			t.Fatalf("two requests got the same generated traceId %s", a.TraceID)
		}
	})
	for _, bad := range []string{`{"event":`, `not json`, `[]`, `"ping"`, `null`, `{}x`, `{"event":"ping"} {}`} {
		t.Run("unparsable "+bad, func(t *testing.T) {
			c.sendRaw(bad)
			m := c.next()
			checkCode(t, m, protocol.InvalidParams)
			if m.Event != nil && string(m.Event) != "null" {
				t.Fatalf("response to unparsable %q has event %s", bad, m.Event)
			}
			if m.ID != nil || !isHex16(m.traceID()) {
				t.Fatalf("response to unparsable %q: %s", bad, m)
			}
		})
	}
	t.Run("wrong-typed field still echoes id and traceId", func(t *testing.T) {
		c.sendRaw(`{"event":"ping","payload":7,"metadata":{"traceId":"tr-9"},"id":"keep"}`)
		m := c.next()
		checkCode(t, m, protocol.InvalidParams)
		if string(m.ID) != `"keep"` || m.traceID() != "tr-9" {
			t.Fatalf("got %s", m)
		}
	})
	// The connection survived every error.
	c.ok(protocol.EventPing, nil)
	if !bytes.Contains(c.call(protocol.EventPing, nil).raw, []byte(`"event":"ping"`)) {
		t.Fatal("ping response without event")
	}
}
