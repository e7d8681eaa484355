package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// TestPublishReachesSubscribers: an API publish is pushed exactly like a messageSend, with
// from = "server" and data byte for byte (odd whitespace, escapes and all), to this app's
// subscribers only.
func TestPublishReachesSubscribers(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	alice := connectDev(t, s, "alice")
	bob := connectDev(t, s, "bob")
	stranger := connect(t, s, otherApp, otherSecret, "eve") // same channel name, other app
	for _, c := range []*wsClient{alice, bob, stranger} {
		c.subscribe("news")
	}

	data := `{"text" :  "héllo \u00e9\n", "n":[1, 2.50e3 ,null],"ok":true}`
	env := s.expectOK(t, http.MethodPost, "/api/publish", devKey,
		`{"appId":"demo-app","channel":"news","data":`+data+`}`)
	var resp protocol.ChannelData
	env.decode(t, &resp)
	if resp.Channel != "news" || resp.Offset == 0 { // the development app keeps history
		t.Fatalf("publish response %s", env.Data)
	}
	for _, c := range []*wsClient{alice, bob} {
		m := c.expectMessage("news", data, "server")
		if m.Offset != resp.Offset {
			t.Fatalf("push offset %d, response offset %d", m.Offset, resp.Offset)
		}
	}

	// A WebSocket publish after it arrives after it, in order, from its sender.
	if r := alice.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": "from alice"}); !r.is(protocol.Success) {
		t.Fatalf("messageSend: %s", r)
	}
	bob.expectMessage("news", `"from alice"`, alice.clientID)

	// Scalars and null are JSON values too.
	for _, d := range []string{`42`, `"s"`, `null`, `[]`} {
		s.expectOK(t, http.MethodPost, "/api/publish", devKey, `{"appId":"demo-app","channel":"news","data":`+d+`}`)
		bob.expectMessage("news", d, "server")
	}

	// The other app's subscriber of "news" saw nothing: its next push is its own app's.
	s.expectOK(t, http.MethodPost, "/api/publish", otherKey, `{"appId":"other-app","channel":"news","data":"mine"}`)
	stranger.expectMessage("news", `"mine"`, "server")
}

// TestBroadcast: one API call reaches the subscribers of every listed channel.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	a := connectDev(t, s, "a")
	a.subscribe("room-1")
	b := connectDev(t, s, "b")
	b.subscribe("room-2")
	env := s.expectOK(t, http.MethodPost, "/api/broadcast", devKey,
		map[string]any{"appId": "demo-app", "channels": []string{"room-1", "room-2", "room-3"}, "data": map[string]any{"k": "v"}})
	var d struct {
		Count    int                    `json:"count"`
		Channels []protocol.ChannelData `json:"channels"`
	}
	env.decode(t, &d)
	if d.Count != 3 || len(d.Channels) != 3 || d.Channels[2].Channel != "room-3" {
		t.Fatalf("broadcast response %s", env.Data)
	}
	a.expectMessage("room-1", `{"k":"v"}`, "server")
	b.expectMessage("room-2", `{"k":"v"}`, "server")
}

// TestPresence lists a presence channel's members with their user ids, ordered by client id.
func TestPresence(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	alice := connectDev(t, s, "alice")
	bob := connectDev(t, s, "bob")
	alice.subscribe("presence-lobby")
	bob.subscribe("presence-lobby")

	env := s.expectOK(t, http.MethodGet, "/api/presence?appId=demo-app&channel=presence-lobby", devKey, nil)
	var d protocol.PresenceData
	env.decode(t, &d)
	want := []protocol.Member{{ClientID: alice.clientID, UserID: "alice"}, {ClientID: bob.clientID, UserID: "bob"}}
	if want[0].ClientID > want[1].ClientID {
		want[0], want[1] = want[1], want[0]
	}
	if d.Channel != "presence-lobby" || d.Count != 2 || fmt.Sprint(d.Members) != fmt.Sprint(want) {
		t.Fatalf("presence %s, want members %v", env.Data, want)
	}

	env = s.expectOK(t, http.MethodGet, "/api/presence?appId=demo-app&channel=presence-empty", devKey, nil)
	if string(env.Data) != `{"channel":"presence-empty","count":0,"members":[]}` {
		t.Fatalf("empty presence %s", env.Data)
	}
}

// TestChannels lists the app's active channels with subscriber counts, by prefix; another
// app's channels never show.
func TestChannels(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	a := connectDev(t, s, "a")
	b := connectDev(t, s, "b")
	a.subscribe("news")
	b.subscribe("news")
	a.subscribe("news.sport")
	b.subscribe("chat")
	o := connect(t, s, otherApp, otherSecret, "o")
	o.subscribe("news")
	o.subscribe("news.secret")

	env := s.expectOK(t, http.MethodGet, "/api/channels?appId=demo-app", devKey, nil)
	if got := string(env.Data); got != `{"count":3,"channels":[{"channel":"chat","subscribers":1},{"channel":"news","subscribers":2},{"channel":"news.sport","subscribers":1}]}` {
		t.Fatalf("channels %s", got)
	}
	env = s.expectOK(t, http.MethodGet, "/api/channels?appId=demo-app&prefix=news.", devKey, nil)
	if got := string(env.Data); got != `{"count":1,"channels":[{"channel":"news.sport","subscribers":1}]}` {
		t.Fatalf("channels by prefix %s", got)
	}
	env = s.expectOK(t, http.MethodGet, "/api/channels?appId=demo-app&prefix=zzz", devKey, nil)
	if got := string(env.Data); got != `{"count":0,"channels":[]}` {
		t.Fatalf("no channels %s", got)
	}
}

// TestDisconnect closes one client, or all of a user's, with 4004; nobody else, and never
// another app's client.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	alice := connectDev(t, s, "alice")
	bob1 := connectDev(t, s, "bob")
	bob2 := connectDev(t, s, "bob")
	carol := connectDev(t, s, "carol")
	otherBob := connect(t, s, otherApp, otherSecret, "bob")

	// Another app's key, or another app's client id under one's own app, reaches nothing.
	s.expectError(t, http.MethodPost, "/api/disconnect", otherKey,
		map[string]any{"appId": "demo-app", "client_id": carol.clientID}, http.StatusForbidden, protocol.Forbidden)
	env := s.expectOK(t, http.MethodPost, "/api/disconnect", otherKey, map[string]any{"appId": otherApp, "client_id": carol.clientID})
	if string(env.Data) != `{"disconnected":0}` {
		t.Fatalf("cross-app disconnect: %s", env.Data)
	}
	carol.stillOpen()

	env = s.expectOK(t, http.MethodPost, "/api/disconnect", devKey, map[string]any{"appId": "demo-app", "client_id": alice.clientID})
	if string(env.Data) != `{"disconnected":1}` {
		t.Fatalf("disconnect by client id: %s", env.Data)
	}
	alice.expectClose(4004)

	env = s.expectOK(t, http.MethodPost, "/api/disconnect", devKey, map[string]any{"appId": "demo-app", "user_id": "bob"})
	if string(env.Data) != `{"disconnected":2}` {
		t.Fatalf("disconnect by user id: %s", env.Data)
	}
	bob1.expectClose(4004)
	bob2.expectClose(4004)
	carol.stillOpen()
	otherBob.stillOpen()

	env = s.expectOK(t, http.MethodPost, "/api/disconnect", devKey, map[string]any{"appId": "demo-app", "client_id": "nobody"})
	if string(env.Data) != `{"disconnected":0}` {
		t.Fatalf("disconnect of an unknown client: %s", env.Data)
	}
}

// TestUsage reports connections, their peak and time, messages and bytes, per app.
func TestUsage(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	a := connectDev(t, s, "a")
	b := connectDev(t, s, "b")
	c := connectDev(t, s, "c")
	connect(t, s, otherApp, otherSecret, "o") // counted for its own app only
	a.subscribe("news")
	b.subscribe("news")
	s.expectOK(t, http.MethodPost, "/api/publish", devKey, `{"appId":"demo-app","channel":"news","data":"12345"}`)
	if r := c.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": 1}); !r.is(protocol.Success) {
		t.Fatal(r)
	}
	a.push()
	a.push()
	b.push()
	b.push()
	_ = c.c.CloseNow()
	time.Sleep(1100 * time.Millisecond) // a and b live for a whole second

	type usage struct {
		AppID             string `json:"appId"`
		Since             int64  `json:"since"`
		Connections       int64  `json:"connections"`
		ConnectionsPeak   int64  `json:"connections_peak"`
		ConnectionSeconds int64  `json:"connection_seconds"`
		ConnectionMinutes int64  `json:"connection_minutes"`
		MessagesIn        int64  `json:"messages_in"`
		MessagesOut       int64  `json:"messages_out"`
		BytesIn           int64  `json:"bytes_in"`
		BytesOut          int64  `json:"bytes_out"`
	}
	var u usage
	eventually(t, "c's close to be counted", func() bool {
		env := s.expectOK(t, http.MethodGet, "/api/usage?appId=demo-app", devKey, nil)
		env.decode(t, &u)
		return u.Connections == 2
	})
	if u.AppID != "demo-app" || u.ConnectionsPeak != 3 || u.ConnectionSeconds < 2 ||
		u.MessagesIn != 2 || u.MessagesOut != 4 || u.BytesIn != int64(len(`"12345"`)+len(`1`)) || u.BytesOut <= 0 ||
		time.Since(time.Unix(u.Since, 0)) > time.Minute {
		t.Fatalf("usage %+v", u)
	}
	env := s.expectOK(t, http.MethodGet, "/api/usage?appId=other-app", otherKey, nil)
	env.decode(t, &u)
	if u.AppID != otherApp || u.Connections != 1 || u.MessagesIn != 0 {
		t.Fatalf("other app's usage %+v", u)
	}
}

// TestAPIErrors: every error the API answers, with its HTTP status and envelope.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) { app(cfg, auth.DevAppID).Limits.MaxMessageSize = 2000 }))
	pub := func(body string) string { return body }
	big := `"` + strings.Repeat("x", 2000) + `"`
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	cases := []struct {
		name         string
		method, path string
		key          string
		body         any
		status       int
		code         protocol.WsBizCode
	}{
		{"no key", "POST", "/api/publish", "", pub(`{"appId":"demo-app","channel":"a","data":1}`), 401, protocol.Unauthenticated},
		{"wrong key", "POST", "/api/publish", "nope", pub(`{"appId":"demo-app","channel":"a","data":1}`), 401, protocol.Unauthenticated},
		{"wrong key on GET", "GET", "/api/usage?appId=demo-app", "demo-api-key-x", nil, 401, protocol.Unauthenticated},
		{"another app's key", "POST", "/api/publish", otherKey, pub(`{"appId":"demo-app","channel":"a","data":1}`), 403, protocol.Forbidden},
		{"another app's key on GET", "GET", "/api/channels?appId=demo-app", otherKey, nil, 403, protocol.Forbidden},
		{"an unknown appId", "GET", "/api/usage?appId=nope", devKey, nil, 403, protocol.Forbidden},
		{"appId missing", "POST", "/api/publish", devKey, pub(`{"channel":"a","data":1}`), 400, protocol.InvalidParams},
		{"appId missing on GET", "GET", "/api/usage", devKey, nil, 400, protocol.InvalidParams},
		{"appId twice", "GET", "/api/usage?appId=demo-app&appId=demo-app", devKey, nil, 400, protocol.InvalidParams},
		{"bad query encoding", "GET", "/api/usage?appId=%zz", devKey, nil, 400, protocol.InvalidParams},
		{"malformed JSON", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app",`), 400, protocol.InvalidParams},
		{"empty body", "POST", "/api/publish", devKey, "", 400, protocol.InvalidParams},
		{"body not an object", "POST", "/api/publish", devKey, `["demo-app"]`, 400, protocol.InvalidParams},
		{"unknown field", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a","data":1,"x":1}`), 400, protocol.InvalidParams},
		{"trailing data", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a","data":1}{}`), 400, protocol.InvalidParams},
		{"ill-typed channel", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":5,"data":1}`), 400, protocol.InvalidParams},
		{"data missing", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a"}`), 400, protocol.InvalidParams},
		{"bad channel name", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a b","data":1}`), 400, protocol.InvalidParams},
		{"channel missing", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","data":1}`), 400, protocol.InvalidParams},
		{"data with invalid UTF-8", "POST", "/api/publish", devKey, "{\"appId\":\"demo-app\",\"channel\":\"a\",\"data\":\"\xff\"}", 400, protocol.InvalidParams},
		{"data nested too deep", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a","data":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`), 400, protocol.InvalidParams},
		{"data too large", "POST", "/api/publish", devKey, pub(`{"appId":"demo-app","channel":"a","data":` + big + `}`), 413, protocol.MessageTooLarge},
		{"body too large", "POST", "/api/publish", devKey, `{"appId":"demo-app","channel":"a","data":1,"pad":"` + strings.Repeat(" ", 70<<10) + `"}`, 413, protocol.MessageTooLarge},
		{"broadcast without channels", "POST", "/api/broadcast", devKey, pub(`{"appId":"demo-app","channels":[],"data":1}`), 400, protocol.InvalidParams},
		{"broadcast to 101 channels", "POST", "/api/broadcast", devKey, map[string]any{"appId": "demo-app", "channels": many, "data": 1}, 400, protocol.InvalidParams},
		{"broadcast to a channel twice", "POST", "/api/broadcast", devKey, pub(`{"appId":"demo-app","channels":["a","a"],"data":1}`), 400, protocol.InvalidParams},
		{"broadcast with a bad channel", "POST", "/api/broadcast", devKey, pub(`{"appId":"demo-app","channels":["a","b*"],"data":1}`), 400, protocol.InvalidParams},
		{"presence of a plain channel", "GET", "/api/presence?appId=demo-app&channel=news", devKey, nil, 400, protocol.InvalidParams},
		{"presence without channel", "GET", "/api/presence?appId=demo-app", devKey, nil, 400, protocol.InvalidParams},
		{"channels with a huge prefix", "GET", "/api/channels?appId=demo-app&prefix=" + strings.Repeat("a", 256), devKey, nil, 400, protocol.InvalidParams},
		{"disconnect naming nobody", "POST", "/api/disconnect", devKey, pub(`{"appId":"demo-app"}`), 400, protocol.InvalidParams},
		{"disconnect naming both", "POST", "/api/disconnect", devKey, pub(`{"appId":"demo-app","client_id":"a","user_id":"b"}`), 400, protocol.InvalidParams},
		{"unknown endpoint", "GET", "/api/nope", devKey, nil, 404, protocol.UnsupportedEvent},
		{"wrong method", "GET", "/api/publish", devKey, nil, 405, protocol.InvalidParams},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := s.expectError(t, tc.method, tc.path, tc.key, tc.body, tc.status, tc.code)
			switch tc.status {
			case 401:
				if h.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			case 405:
				if h.Get("Allow") != http.MethodPost {
					t.Errorf("405 with Allow %q", h.Get("Allow"))
				}
			}
		})
	}
	// Other authorization header forms.
	for _, hdr := range []string{"Basic ZGVtbzpkZW1v", "Bearer", "bearer  " + devKey + "x", devKey} {
		req, _ := http.NewRequest(http.MethodGet, s.HTTP+"/api/usage?appId=demo-app", nil)
		req.Header.Set("Authorization", hdr)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s", hdr, resp.Status)
		}
	}
	// The scheme is case-insensitive (RFC 7235).
	req, _ := http.NewRequest(http.MethodGet, s.HTTP+"/api/usage?appId=demo-app", nil)
	req.Header.Set("Authorization", "bearer "+devKey)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case bearer: %s", resp.Status)
	}
}
