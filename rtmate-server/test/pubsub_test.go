package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// TestAppIsolation: two apps' channels of the same name never see each other's messages or
// members.
func TestAppIsolation(t *testing.T) {
	t.Parallel()
	srv := start(t, withAppB)
	a := authed(t, srv, "alice")
	b := dial(t, srv.URL, nil)
	b.auth(appB, testserver.Token(t, appB, appBSecret, "bob", time.Hour, nil))

	for _, c := range []*client{a, b} {
		c.subscribe("room")
		c.subscribe("presence-room")
		if d := c.member(protocol.PushJoin, "presence-room"); d.ClientID != c.clientID {
			t.Fatalf("own join %+v, want %s", d, c.clientID)
		}
	}
	a.ok(protocol.EventPing, nil) // a's join announcement is done
	a.publish("room", `"for app A"`)
	b.publish("room", `"for app B"`)
	if d := a.message("room"); string(d.Data) != `"for app A"` {
		t.Fatalf("a got %s", d.Data)
	}
	if d := b.message("room"); string(d.Data) != `"for app B"` {
		t.Fatalf("b got %s", d.Data)
	}
	a.expectNoPush()
	b.expectNoPush()
	for _, c := range []*client{a, b} {
		m := c.ok(protocol.EventPresence, obj{"channel": "presence-room"})
		var d struct {
			Count   int          `json:"count"`
			Members []memberData `json:"members"`
		}
		m.decode(t, &d)
		if d.Count != 1 || len(d.Members) != 1 || d.Members[0].ClientID != c.clientID {
			t.Fatalf("presence for %s: %s", c.clientID, m.Data)
		}
	}
	// History is per app as well (app-b keeps none).
	var h streamData
	a.ok(protocol.EventHistory, obj{"channel": "room"}).decode(t, &h)
	if len(h.Publications) != 1 || string(h.Publications[0].Data) != `"for app A"` {
		t.Fatalf("app A history %+v", h)
	}
	b.ok(protocol.EventHistory, obj{"channel": "room"}).decode(t, &h)
	if len(h.Publications) != 0 {
		t.Fatalf("app B history %+v", h)
	}
	// Leaving in one app is not seen in the other.
	b.ok(protocol.EventUnsubscribe, obj{"channel": "presence-room"})
	b.ok(protocol.EventPing, nil)
	a.expectNoPush()
	if d := a.presence("presence-room"); d.Count != 1 {
		t.Fatalf("app A presence after app B left: %+v", d)
	}
}

// TestDelivery: subscribing twice never doubles delivery, a sender need not be subscribed,
// a subscribed sender gets its own message.
func TestDelivery(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	sub := authed(t, srv, "sub")
	pub := authed(t, srv, "pub")

	sub.subscribe("news")
	m := sub.subscribe("news") // again: success, no second subscription
	var d streamData
	m.decode(t, &d)
	if d.Channel != "news" {
		t.Fatalf("second subscribe: %s", m)
	}
	pub.publish("news", `"one"`)
	pub.publish("news", `"two"`)
	for _, want := range []string{`"one"`, `"two"`} {
		if got := sub.message("news"); string(got.Data) != want || got.From != pub.clientID {
			t.Fatalf("got %+v, want %s from %s", got, want, pub.clientID)
		}
	}
	sub.expectNoPush()
	pub.expectNoPush() // not subscribed: does not get its own message

	pub.subscribe("news")
	pub.publish("news", `"three"`)
	if got := pub.message("news"); string(got.Data) != `"three"` || got.From != pub.clientID {
		t.Fatalf("own message %+v", got)
	}
	sub.message("news")

	// After unsubscribing once, nothing is delivered (the double subscribe left no extra).
	sub.ok(protocol.EventUnsubscribe, obj{"channel": "news"})
	pub.publish("news", `"four"`)
	pub.message("news")
	sub.expectNoPush()
	sub.ok(protocol.EventUnsubscribe, obj{"channel": "news"}) // not subscribed: still success
}

// TestDataVerbatim: the data a subscriber receives is the sender's JSON, byte for byte.
func TestDataVerbatim(t *testing.T) {
	t.Parallel()
	srv := start(t, unlimited)
	sender := authed(t, srv, "sender")
	other := authed(t, srv, "other")
	sender.subscribe("raw")
	other.subscribe("raw")

	big := `{"list":[` + strings.Repeat(`{"k":"v","n":1.5e-7},`, 1500) + `0]}`
	cases := []struct{ name, data string }{
		{"odd whitespace", "{ \"a\" :\t1 ,\n\"b\" : [ 1 ,2,\r\n 3 ]   }"},
		{"unicode", `"你好, мир 🌍 é"`},
		{"escapes", `"\"quoted\" \\ \/ \u00e9 \ud83c\udf0d \u2028 \n\t"`},
		{"nested", `{"a":{"b":{"c":[[[{"d":[true,false,null]}]]]}}}`},
		{"big integer", `123456789012345678901234567890123456789012345678901234567890`},
		{"huge exponent", `-1.7976931348623157e+309`},
		{"precise float", `0.10000000000000000555111512312578270211815834045410156250`},
		{"negative zero", `-0`},
		{"null", `null`},
		{"true", `true`},
		{"empty string", `""`},
		{"empty array", `[ ]`},
		{"empty object", `{ }`},
		{"duplicate keys", `{"a":1,"a":2}`},
		{"large", big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Spaces around the value are not part of it; everything inside is.
			req := `{"event":"messageSend","payload":{"channel":"raw","data":  ` + tc.data + "  \n},\"id\":1}"
			if _, err := sender.tryRoundTripRaw([]byte(req), "1"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*client{sender, other} {
				m := c.push(protocol.PushMessage)
				var d pubData
				m.decode(t, &d)
				if !bytes.Equal(d.Data, []byte(tc.data)) {
					t.Fatalf("data = %q, want %q", d.Data, tc.data)
				}
				// And literally inside the frame, not merely equal after re-encoding.
				if !bytes.Contains(m.raw, []byte(tc.data)) {
					t.Fatalf("frame %q does not carry the data verbatim", m.raw)
				}
			}
		})
	}
	t.Run("history keeps the bytes", func(t *testing.T) {
		var h streamData
		sender.ok(protocol.EventHistory, obj{"channel": "raw", "since": 0, "limit": 1000}).decode(t, &h)
		if len(h.Publications) != len(cases) {
			t.Fatalf("history has %d publications, want %d", len(h.Publications), len(cases))
		}
		for i, p := range h.Publications {
			if !bytes.Equal(p.Data, []byte(cases[i].data)) {
				t.Fatalf("history[%d] = %q, want %q", i, p.Data, cases[i].data)
			}
		}
	})
}

// TestOrdering: 1000 messages from two concurrent publishers on one channel reach three
// subscribers in one and the same order, each publisher's own messages in its order.
func TestOrdering(t *testing.T) {
	t.Parallel()
	const (
		perPublisher = 500
		total        = 2 * perPublisher
	)
	srv := start(t, unlimited)
	subs := make([]*client, 3)
	for i := range subs {
		subs[i] = authed(t, srv, "sub"+strconv.Itoa(i))
		subs[i].subscribe("ordered")
	}
	pubs := []*client{authed(t, srv, "p0"), authed(t, srv, "p1")}

	type seen struct {
		data   string
		offset uint64
	}
	got := make([][]seen, len(subs))
	errs := make(chan error, len(subs)+len(pubs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(got[i]) < total {
				m, err := s.tryNextPush()
				if err != nil {
					errs <- fmt.Errorf("subscriber %d after %d messages: %w", i, len(got[i]), err)
					return
				}
				var d pubData
				if err := json.Unmarshal(m.Data, &d); err != nil || m.event() != protocol.PushMessage {
					errs <- fmt.Errorf("subscriber %d: unexpected %s", i, m)
					return
				}
				got[i] = append(got[i], seen{string(d.Data), d.Offset})
			}
		}()
	}
	for p, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				if err := c.tryPublish("ordered", fmt.Sprintf(`{"p":%d,"i":%d}`, p, i)); err != nil {
					errs <- fmt.Errorf("publisher %d, message %d: %w", p, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 1; i < len(got); i++ {
		for k := range got[0] {
			if got[i][k] != got[0][k] {
				t.Fatalf("subscriber %d message %d = %+v, subscriber 0 has %+v", i, k, got[i][k], got[0][k])
			}
		}
	}
	next := [2]int{}
	for k, s := range got[0] {
		if s.offset != uint64(k+1) {
			t.Fatalf("message %d has offset %d, want %d", k, s.offset, k+1)
		}
		var v struct{ P, I int }
		if err := json.Unmarshal([]byte(s.data), &v); err != nil {
			t.Fatal(err)
		}
		if v.I != next[v.P] {
			t.Fatalf("message %d is %s, want publisher %d's message %d", k, s.data, v.P, next[v.P])
		}
		next[v.P]++
	}
	for _, s := range subs {
		s.expectNoPush()
	}
}
