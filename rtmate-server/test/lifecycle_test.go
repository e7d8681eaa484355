package test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// TestTokenRefreshAndExpiry: two connections authenticate with the same short token; one
// refreshes it. The other is closed with 4001 when the token expires, and only then is the
// refreshed one checked: it must still be open, so its expiry moved.
func TestTokenRefreshAndExpiry(t *testing.T) {
	t.Parallel()
	srv := start(t, withAppB)
	short := testserver.DevToken(t, "alice", 3*time.Second) // expires in 2-3 s (exp is in whole seconds)
	refreshed := dial(t, srv.URL, nil)
	refreshed.auth(auth.DevAppID, short)
	expiring := dial(t, srv.URL, nil)
	expiring.auth(auth.DevAppID, short)
	expiring.subscribe("presence-x")
	expiring.member(protocol.PushJoin, "presence-x")
	refreshed.subscribe("presence-x")
	refreshed.member(protocol.PushJoin, "presence-x")
	expiring.member(protocol.PushJoin, "presence-x")

	t.Run("refresh keeps the client id", func(t *testing.T) {
		id := refreshed.clientID
		refreshed.auth(auth.DevAppID, testserver.DevToken(t, "alice", time.Hour))
		if refreshed.clientID != id {
			t.Fatalf("refresh changed the client id from %s to %s", id, refreshed.clientID)
		}
	})
	t.Run("refresh errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, app, token string
			want             protocol.WsBizCode
		}{
			{"another user", auth.DevAppID, testserver.DevToken(t, "mallory", time.Hour), protocol.Forbidden},
			{"another app", appB, testserver.Token(t, appB, appBSecret, "alice", time.Hour, nil), protocol.AuthMismatch},
			{"expired", auth.DevAppID, testserver.DevToken(t, "alice", -time.Minute), protocol.ExpiredToken},
			{"bad signature", auth.DevAppID, testserver.Token(t, auth.DevAppID, "wrong", "alice", time.Hour, nil), protocol.SignatureInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				refreshed.fail(protocol.EventAuth, obj{"appId": tc.app, "token": tc.token}, tc.want)
			})
		}
		// A failed refresh leaves the session as it was.
		refreshed.publish("presence-x", `"still here"`)
		refreshed.message("presence-x")
		expiring.message("presence-x")
	})
	t.Run("expiry closes with 4001 and leaves presence", func(t *testing.T) {
		expiring.expectClose(4001)
		if d := refreshed.member(protocol.PushLeave, "presence-x"); d.ClientID != expiring.clientID {
			t.Fatalf("leave %+v", d)
		}
		if d := refreshed.presence("presence-x"); d.Count != 1 {
			t.Fatalf("presence after expiry: %+v", d)
		}
	})
}

// TestAuthTimeout: a connection that does not authenticate is closed with 4008; pings do
// not count as authenticating.
func TestAuthTimeout(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) { cfg.Defaults.AuthTimeout = time.Second })
	c := dial(t, srv.URL, nil)
	c.ok(protocol.EventPing, nil)
	ok := dial(t, srv.URL, nil)
	ok.auth(auth.DevAppID, testserver.DevToken(t, "alice", time.Hour))
	c.expectClose(4008)
	ok.ok(protocol.EventPing, nil) // authenticated in time: never closed
}

// TestCloseCodes: frames the server refuses close the connection with the RFC code.
func TestCloseCodes(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		devApp(cfg).Limits.MaxMessageSize = 1024
		cfg.Defaults.MaxMessageSize = 2048
	})
	cases := []struct {
		name string
		auth bool
		send func(c *client) error
		code int
	}{
		{"oversize after auth (app limit)", true, func(c *client) error {
			return c.writeText([]byte(`{"event":"messageSend","payload":{"channel":"a","data":"` + strings.Repeat("x", 1100) + `"}}`))
		}, 1009},
		{"oversize before auth (default limit)", false, func(c *client) error {
			return c.writeText([]byte(`{"event":"ping","x":"` + strings.Repeat("x", 2100) + `"}`))
		}, 1009},
		{"binary", true, func(c *client) error {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			defer cancel()
			return c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"event":"ping"}`))
		}, 1003},
		{"invalid utf-8", true, func(c *client) error {
			return c.writeText([]byte("{\"event\":\"ping\",\"x\":\"\xff\xfe\"}"))
		}, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, srv.URL, nil)
			if tc.auth {
				c.auth(auth.DevAppID, testserver.DevToken(t, "u", time.Hour))
			}
			if err := tc.send(c); err != nil {
				t.Fatalf("send: %v", err)
			}
			c.expectClose(tc.code)
		})
	}
	t.Run("just under the limit is fine", func(t *testing.T) {
		t.Parallel()
		c := authed(t, srv, "u")
		req := `{"event":"messageSend","payload":{"channel":"a","data":"` + "%s" + `"}}`
		pad := 1024 - len(req) + 2
		c.sendRaw(fmt.Sprintf(req, strings.Repeat("y", pad)))
		if m := c.next(); m.Code != 200 {
			t.Fatalf("1024-byte message: %s", m)
		}
	})
}

// TestRateLimitAbuse: a connection that stays rate limited past abuse_after is closed with
// 4029, whether it floods requests, garbage or pings.
func TestRateLimitAbuse(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		for _, l := range []*config.Limits{&devApp(cfg).Limits, &cfg.Defaults} {
			l.Rate, l.Burst, l.AbuseAfter = 5, 5, time.Second
		}
	})
	floods := []struct {
		name string
		req  string
	}{
		{"requests", `{"event":"ping"}`},
		{"garbage", `{{{`},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			c := authed(t, srv, "flooder")
			bystander := authed(t, srv, "bystander")
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // flood until the server hangs up, bounded
				defer wg.Done()
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				deadline := time.After(3 * readTimeout)
				for {
					select {
					case <-stop:
						return
					case <-deadline:
						return
					case <-tick.C:
					}
					if c.writeText([]byte(f.req)) != nil {
						return
					}
				}
			}()
			limited := 0
			var code int
			for {
				m, err := c.tryNext()
				if err != nil {
					code = int(websocket.CloseStatus(err))
					break
				}
				if m.Code == protocol.RateLimited.Code() {
					limited++
				}
			}
			close(stop)
			wg.Wait()
			if code != 4029 || limited == 0 {
				t.Fatalf("close code %d after %d 429 responses, want 4029", code, limited)
			}
			bystander.ok(protocol.EventPing, nil)
		})
	}
	t.Run("pings", func(t *testing.T) {
		t.Parallel()
		r := rawDial(t, srv.Addr)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			ping := frame(true, opPing, []byte("p"))
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(3 * readTimeout)
			for {
				select {
				case <-stop:
					return
				case <-deadline:
					return
				case <-tick.C:
				}
				if r.write(ping) != nil {
					return
				}
			}
		}()
		code, err := r.readClose()
		close(stop)
		wg.Wait()
		if code != 4029 {
			t.Fatalf("ping flood: close %d (%v), want 4029", code, err)
		}
	})
}

// TestSlowConsumer: a subscriber that stops reading is closed with 4030 once its queue
// passes max_queue_bytes, while another subscriber receives every message in order and the
// publisher is never blocked.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const (
		size   = 16 << 10
		maxMsg = 4000 // 64 MiB: far more than any kernel buffers between server and client
		window = 4    // publisher stays at most this many messages ahead of the reader
	)
	srv := start(t, func(cfg *config.Config) {
		unlimited(cfg)
		devApp(cfg).Limits.MaxQueueBytes = 64 << 10
	})
	reader := authed(t, srv, "reader")
	slow := dialSmallBuffer(t, srv.URL)
	slow.auth(auth.DevAppID, testserver.DevToken(t, "slow", time.Hour))
	pub := authed(t, srv, "pub")
	reader.subscribe("firehose")
	slow.subscribe("firehose") // and never reads again, until it is closed

	// n reads the sequence number of a firehose message.
	n := func(m msg) (int, bool) {
		var d struct {
			Data struct {
				N int    `json:"n"`
				P string `json:"p"`
			} `json:"data"`
		}
		err := json.Unmarshal(m.Data, &d)
		return d.Data.N, err == nil && m.event() == protocol.PushMessage && len(d.Data.P) == size
	}
	received := make(chan int, maxMsg)
	readErr := make(chan error, 1)
	go func() {
		for want := 0; ; want++ {
			m, err := reader.tryNextPush()
			if err != nil {
				readErr <- fmt.Errorf("reader after %d messages: %w", want, err)
				return
			}
			if got, ok := n(m); !ok || got != want {
				readErr <- fmt.Errorf("reader: message %d is %.80s…", want, m.raw)
				return
			}
			received <- want
		}
	}()

	subs := func() int { return srv.Stats().Subscriptions }
	pad := strings.Repeat("z", size)
	published, seen := 0, -1
	for ; published < maxMsg && subs() == 2; published++ {
		for seen < published-window {
			select {
			case seen = <-received:
			case err := <-readErr:
				t.Fatal(err)
			}
		}
		pub.publish("firehose", fmt.Sprintf(`{"n":%d,"p":"%s"}`, published, pad))
	}
	if subs() != 1 {
		t.Fatalf("after %d messages (%d MiB) the slow subscriber is still subscribed", published, published*size>>20)
	}
	t.Logf("slow consumer cut after %d messages of %d KiB", published, size>>10)

	// The slow one reads again at once (the server waits only a few seconds for a closing
	// peer): what reached its socket before the cut, an in-order prefix, then 4030.
	slowDone := make(chan error, 1)
	go func() {
		for k := 0; ; k++ {
			m, err := slow.tryNext()
			if err != nil {
				if code := websocket.CloseStatus(err); code != 4030 {
					slowDone <- fmt.Errorf("slow consumer after %d messages: %w (close %d), want close 4030", k, err, code)
				} else {
					slowDone <- nil
				}
				return
			}
			if got, ok := n(m); !ok || got != k {
				slowDone <- fmt.Errorf("slow consumer message %d is %.80s…", k, m.raw)
				return
			}
		}
	}()
	// The reader gets everything, in order.
	for seen < published-1 {
		select {
		case seen = <-received:
		case err := <-readErr:
			t.Fatal(err)
		}
	}
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	pub.ok(protocol.EventPing, nil)
}

// TestShutdown: Shutdown closes every connection with 1001, authenticated or not.
func TestShutdown(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	clients := []*client{authed(t, srv, "a"), authed(t, srv, "b"), dial(t, srv.URL, nil)}
	clients[0].subscribe("presence-x")
	clients[1].subscribe("news")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*readTimeout)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	for _, c := range clients {
		c.expectClose(1001)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := tryDial(srv.URL, nil); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
}
