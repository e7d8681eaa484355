package test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// TestInvalidParams: malformed requests, wrong types, missing fields and bad channel names
// are 400 参数错误, echo the id, and leave the connection open.
func TestInvalidParams(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	c := authed(t, srv, "alice")

	cases := []struct {
		name    string
		event   string
		payload any
	}{
		{"auth without token", protocol.EventAuth, obj{"appId": auth.DevAppID}},
		{"auth without appId", protocol.EventAuth, obj{"token": "x"}},
		{"auth appId wrong type", protocol.EventAuth, raw(`{"appId":1,"token":"x"}`)},
		{"auth token wrong type", protocol.EventAuth, raw(`{"appId":"demo-app","token":["x"]}`)},
		{"subscribe without payload", protocol.EventSubscribe, nil},
		{"subscribe without channel", protocol.EventSubscribe, obj{}},
		{"subscribe channel wrong type", protocol.EventSubscribe, raw(`{"channel":5}`)},
		{"subscribe channel null", protocol.EventSubscribe, raw(`{"channel":null}`)},
		{"subscribe empty channel", protocol.EventSubscribe, obj{"channel": ""}},
		{"subscribe 256-byte channel", protocol.EventSubscribe, obj{"channel": strings.Repeat("a", 256)}},
		{"subscribe channel with a space", protocol.EventSubscribe, obj{"channel": "a b"}},
		{"subscribe channel with a star", protocol.EventSubscribe, obj{"channel": "news*"}},
		{"subscribe non-ASCII channel", protocol.EventSubscribe, obj{"channel": "新闻"}},
		{"subscribe recover wrong type", protocol.EventSubscribe, raw(`{"channel":"a","recover":"yes"}`)},
		{"subscribe negative offset", protocol.EventSubscribe, raw(`{"channel":"a","recover":true,"offset":-1}`)},
		{"unsubscribe without channel", protocol.EventUnsubscribe, obj{}},
		{"unsubscribe bad channel", protocol.EventUnsubscribe, obj{"channel": "a b"}},
		{"messageSend without data", protocol.EventMessageSend, obj{"channel": "a"}},
		{"messageSend without channel", protocol.EventMessageSend, obj{"data": 1}},
		{"messageSend bad channel", protocol.EventMessageSend, obj{"channel": strings.Repeat("x", 256), "data": 1}},
		{"presence on a plain channel", protocol.EventPresence, obj{"channel": "plain"}},
		{"presence without channel", protocol.EventPresence, obj{}},
		{"history without channel", protocol.EventHistory, obj{}},
		{"history since wrong type", protocol.EventHistory, raw(`{"channel":"a","since":"x"}`)},
		{"history limit negative", protocol.EventHistory, raw(`{"channel":"a","limit":-5}`)},
		{"payload not an object", protocol.EventSubscribe, raw(`"a"`)},
		{"payload an array", protocol.EventSubscribe, raw(`["a"]`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := c.tryRoundTrip(tc.event, tc.payload, `"bad-1"`, "tr-bad")
			if err != nil {
				t.Fatal(err)
			}
			checkCode(t, m, protocol.InvalidParams)
			if string(m.ID) != `"bad-1"` || m.traceID() != "tr-bad" || m.event() != tc.event {
				t.Fatalf("id/traceId/event not echoed: %s", m)
			}
		})
	}
	for _, tc := range []struct{ name, req string }{
		{"event wrong type", `{"event":5,"id":1}`},
		{"id wrong type", `{"event":"ping","id":true}`},
		{"metadata wrong type", `{"event":"ping","metadata":"x","id":2}`},
		{"traceId wrong type", `{"event":"ping","metadata":{"traceId":5},"id":3}`},
		{"no event", `{"payload":{},"id":4}`},
		// Invalid JSON inside the payload makes the whole message unparsable.
		{"messageSend invalid data", `{"event":"messageSend","payload":{"channel":"a","data":[1,}},"id":5}`},
		{"payload trailing garbage", `{"event":"subscribe","payload":{"channel":"a"}},"id":6}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.sendRaw(tc.req)
			checkCode(t, c.next(), protocol.InvalidParams)
		})
	}
	t.Run("255-byte channel is valid", func(t *testing.T) {
		c.subscribe(strings.Repeat("b", 255))
		c.subscribe("A-z_0-9=@,.;:/")
	})
	c.ok(protocol.EventPing, nil)
}

// TestAuthErrors covers every way auth can fail, each leaving the connection open.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	srv := start(t, withAppB)
	c := dial(t, srv.URL, nil)

	good := testserver.DevToken(t, "alice", time.Hour)
	cases := []struct {
		name  string
		app   string
		token string
		want  protocol.WsBizCode
	}{
		{"unknown app", "no-such-app", good, protocol.AppNotFound},
		{"garbage token", auth.DevAppID, "garbage", protocol.InvalidToken},
		{"not base64", auth.DevAppID, "a.b.c", protocol.InvalidToken},
		{"empty token", auth.DevAppID, "", protocol.InvalidToken},
		{"expired", auth.DevAppID, testserver.DevToken(t, "alice", -time.Minute), protocol.ExpiredToken},
		{"signed with another secret", auth.DevAppID, testserver.Token(t, auth.DevAppID, "not-the-secret", "alice", time.Hour, nil), protocol.SignatureInvalid},
		{"signature cut", auth.DevAppID, good[:strings.LastIndexByte(good, '.')+1], protocol.SignatureInvalid},
		// Signed with app-b's key but claiming demo-app, presented to app-b.
		{"token for another app", appB, testserver.Token(t, auth.DevAppID, appBSecret, "alice", time.Hour, nil), protocol.AuthMismatch},
		{"demo token presented to app-b", appB, good, protocol.SignatureInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := c.fail(protocol.EventAuth, obj{"appId": tc.app, "token": tc.token}, tc.want)
			if m.event() != "auth" {
				t.Fatalf("event %q", m.event())
			}
			// Still unauthenticated, still open.
			c.fail(protocol.EventSubscribe, obj{"channel": "a"}, protocol.Unauthenticated)
		})
	}
	t.Run("alg none", func(t *testing.T) {
		parts := strings.Split(good, ".")
		none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
		c.fail(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": none}, protocol.InvalidToken)
	})
	t.Run("succeeds after failures", func(t *testing.T) {
		c.auth(auth.DevAppID, good)
	})
	t.Run("app-b token works on app-b", func(t *testing.T) {
		b := dial(t, srv.URL, nil)
		b.auth(appB, testserver.Token(t, appB, appBSecret, "bob", time.Hour, nil))
	})
}

// TestUnauthenticated: every event but auth and ping needs auth.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	c := dial(t, srv.URL, nil)
	for _, tc := range []struct {
		event   string
		payload any
	}{
		{protocol.EventSubscribe, obj{"channel": "a"}},
		{protocol.EventUnsubscribe, obj{"channel": "a"}},
		{protocol.EventMessageSend, obj{"channel": "a", "data": 1}},
		{protocol.EventPresence, obj{"channel": "presence-a"}},
		{protocol.EventHistory, obj{"channel": "a"}},
		// Even with a payload the handler would refuse: auth is checked first.
		{protocol.EventSubscribe, obj{"channel": "a b"}},
	} {
		t.Run(tc.event, func(t *testing.T) {
			c.fail(tc.event, tc.payload, protocol.Unauthenticated)
		})
	}
	c.fail("nope", nil, protocol.UnsupportedEvent)
	c.fail("Subscribe", obj{"channel": "a"}, protocol.UnsupportedEvent) // event names are case-sensitive
	c.fail("", nil, protocol.UnsupportedEvent)
	c.ok(protocol.EventPing, nil)
}

// TestForbidden: the token's channels claim, and the app's allowed origins.
func TestForbidden(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		withAppB(cfg)
		cfg.Apps[1].AllowedOrigins = []string{"https://good.example"}
	})

	t.Run("channels claim", func(t *testing.T) {
		c := dial(t, srv.URL, nil)
		c.auth(auth.DevAppID, testserver.Token(t, auth.DevAppID, auth.DevSecret, "alice", time.Hour, []string{"room-*", "exact", "presence-x"}))
		for _, ch := range []string{"room-1", "room-", "exact", "presence-x"} {
			c.subscribe(ch)
		}
		c.push(protocol.PushJoin)
		for _, tc := range []struct {
			event   string
			payload any
		}{
			{protocol.EventSubscribe, obj{"channel": "other"}},
			{protocol.EventSubscribe, obj{"channel": "exact2"}},
			{protocol.EventSubscribe, obj{"channel": "room"}},
			{protocol.EventMessageSend, obj{"channel": "other", "data": 1}},
			{protocol.EventPresence, obj{"channel": "presence-y"}},
			{protocol.EventHistory, obj{"channel": "other"}},
		} {
			c.fail(tc.event, tc.payload, protocol.Forbidden)
		}
		c.publish("room-1", `"allowed"`)
		c.message("room-1")
		c.ok(protocol.EventPresence, obj{"channel": "presence-x"})
	})
	t.Run("origin not allowed", func(t *testing.T) {
		c := dial(t, srv.URL, http.Header{"Origin": {"https://evil.example"}})
		c.fail(protocol.EventAuth, obj{"appId": appB, "token": testserver.Token(t, appB, appBSecret, "bob", time.Hour, nil)}, protocol.Forbidden)
		c.fail(protocol.EventSubscribe, obj{"channel": "a"}, protocol.Unauthenticated)
	})
	t.Run("origin allowed", func(t *testing.T) {
		c := dial(t, srv.URL, http.Header{"Origin": {"https://good.example"}})
		c.auth(appB, testserver.Token(t, appB, appBSecret, "bob", time.Hour, nil))
	})
	t.Run("any origin for an app without allowed_origins", func(t *testing.T) {
		c := dial(t, srv.URL, http.Header{"Origin": {"https://evil.example"}})
		c.auth(auth.DevAppID, testserver.DevToken(t, "alice", time.Hour))
	})
}

// TestQuotas: channels per connection, connections per app, app publish rate.
func TestQuotas(t *testing.T) {
	t.Parallel()
	t.Run("max_channels_per_connection", func(t *testing.T) {
		t.Parallel()
		srv := start(t, func(cfg *config.Config) { devApp(cfg).Limits.MaxChannels = 2 })
		c := authed(t, srv, "alice")
		c.subscribe("a")
		c.subscribe("b")
		c.fail(protocol.EventSubscribe, obj{"channel": "c"}, protocol.QuotaExceeded)
		c.subscribe("a") // already subscribed: not a new channel
		c.ok(protocol.EventUnsubscribe, obj{"channel": "b"})
		c.subscribe("c")
	})
	t.Run("max_connections", func(t *testing.T) {
		t.Parallel()
		srv := start(t, func(cfg *config.Config) {
			devApp(cfg).Limits.MaxConnections = 2
			withAppB(cfg)
		})
		authed(t, srv, "alice")
		second := authed(t, srv, "bob")
		third := dial(t, srv.URL, nil)
		third.fail(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": testserver.DevToken(t, "carol", time.Hour)}, protocol.QuotaExceeded)
		third.ok(protocol.EventPing, nil)
		// Other apps are not affected.
		b := dial(t, srv.URL, nil)
		b.auth(appB, testserver.Token(t, appB, appBSecret, "bob", time.Hour, nil))
		// A closed connection frees its slot (asynchronously: the server tears it down after
		// reading our close, so poll, bounded).
		if err := second.ws.Close(1000, ""); err != nil {
			t.Fatalf("close: %v", err)
		}
		tok := testserver.DevToken(t, "carol", time.Hour)
		deadline := time.Now().Add(readTimeout)
		for {
			m := third.call(protocol.EventAuth, obj{"appId": auth.DevAppID, "token": tok})
			if m.Code == 200 {
				break
			}
			checkCode(t, m, protocol.QuotaExceeded)
			if time.Now().After(deadline) {
				t.Fatal("the closed connection's slot was never freed")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("max_publish_rate", func(t *testing.T) {
		t.Parallel()
		srv := start(t, func(cfg *config.Config) {
			withAppB(cfg)
			cfg.Apps[1].Limits.MaxPublishRate = 0.001 // a burst of one, then one per ~17 minutes
		})
		p := dial(t, srv.URL, nil)
		p.auth(appB, testserver.Token(t, appB, appBSecret, "pub", time.Hour, nil))
		p.publish("a", "1")
		p.fail(protocol.EventMessageSend, obj{"channel": "a", "data": 2}, protocol.QuotaExceeded)
		// The limit is app-wide: another connection of the app is refused too.
		q := dial(t, srv.URL, nil)
		q.auth(appB, testserver.Token(t, appB, appBSecret, "pub2", time.Hour, nil))
		q.fail(protocol.EventMessageSend, obj{"channel": "b", "data": 3}, protocol.QuotaExceeded)
		q.subscribe("b") // other requests are fine
	})
}

// TestRateLimited: a small per-connection rate gives 429 请求过于频繁 (with id and traceId),
// for every kind of request, and the connection stays open.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		devApp(cfg).Limits.Rate = 0.001
		devApp(cfg).Limits.Burst = 4
		devApp(cfg).Limits.AbuseAfter = time.Hour
		cfg.Defaults.Rate = 0.001 // before auth the defaults apply
		cfg.Defaults.Burst = 4
	})
	c := dial(t, srv.URL, nil)
	c.auth(auth.DevAppID, testserver.DevToken(t, "alice", time.Hour)) // 1
	c.subscribe("a")                                                  // 2
	c.ok(protocol.EventPing, nil)                                     // 3
	c.ok(protocol.EventPing, nil)                                     // 4
	for i := 0; i < 3; i++ {
		m, err := c.tryRoundTrip(protocol.EventMessageSend, obj{"channel": "a", "data": i}, `7`, "tr")
		if err != nil {
			t.Fatal(err)
		}
		checkCode(t, m, protocol.RateLimited)
		if string(m.ID) != "7" || m.traceID() != "tr" {
			t.Fatalf("429 without id/traceId echo: %s", m)
		}
	}
	// Unparsable requests count too: otherwise a client could flood the server with
	// garbage, each piece earning a response, and never be limited.
	c.sendRaw("{")
	checkCode(t, c.next(), protocol.RateLimited)
	c.fail(protocol.EventPing, nil, protocol.RateLimited)
}
