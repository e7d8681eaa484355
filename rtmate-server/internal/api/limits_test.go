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
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// Each test sets one limit on the development app and checks that exceeding it gives
// exactly the documented error, that the offending connection is otherwise unharmed, and
// that the other app goes on as if nothing happened.

// otherAppWorks is the "nothing else affected" check: a fresh client of the other app
// subscribes, publishes and receives, and the API publishes for it.
func otherAppWorks(t *testing.T, s *stack) {
	t.Helper()
	c := connect(t, s, otherApp, otherSecret, "bystander")
	c.subscribe("room")
	for i := 0; i < 5; i++ {
		if r := c.call(protocol.EventMessageSend, map[string]any{"channel": "room", "data": i}); !r.is(protocol.Success) {
			t.Fatalf("the other app's messageSend %d: %s", i, r)
		}
		c.expectMessage("room", fmt.Sprint(i), c.clientID)
	}
	s.expectOK(t, http.MethodPost, "/api/publish", otherKey, `{"appId":"other-app","channel":"room","data":"api"}`)
	c.expectMessage("room", `"api"`, "server")
}

// TestLimitRequestRate: rate/burst per connection → 429 请求过于频繁 on that connection only.
func TestLimitRequestRate(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		l := &app(cfg, auth.DevAppID).Limits
		l.Rate, l.Burst = 0.001, 3 // no refill within the test
	}))
	c := connectDev(t, s, "flooder")
	for i := 1; i <= 3; i++ {
		c.stillOpen()
	}
	if r := c.call(protocol.EventPing, nil); !r.is(protocol.RateLimited) {
		t.Fatalf("4th request after auth: %s, want 429 请求过于频繁", r)
	}
	if r := c.call(protocol.EventSubscribe, map[string]any{"channel": "x"}); !r.is(protocol.RateLimited) {
		t.Fatalf("5th request: %s", r)
	}
	connectDev(t, s, "neighbour").stillOpen() // the bucket is the connection's, not the app's
	otherAppWorks(t, s)
}

// TestLimitMaxConnections: max_connections per app → auth gets 429 超出配额 until a
// connection of the app goes.
func TestLimitMaxConnections(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxConnections = 2
	}))
	a := connectDev(t, s, "a")
	connectDev(t, s, "b")
	c := dialWS(t, s, nil)
	authC := func() reply {
		return c.call(protocol.EventAuth, map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, "c", time.Hour)})
	}
	if r := authC(); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("3rd connection's auth: %s, want 429 超出配额", r)
	}
	otherAppWorks(t, s)
	a.stillOpen()

	_ = a.c.CloseNow()
	eventually(t, "a's close", func() bool {
		env := s.expectOK(t, http.MethodGet, "/api/usage?appId=demo-app", devKey, nil)
		return strings.Contains(string(env.Data), `"connections":1,`)
	})
	if r := authC(); !r.is(protocol.Success) {
		t.Fatalf("auth after a left: %s", r)
	}
}

// TestLimitPublishRate: max_publish_rate per app → 429 超出配额 for messageSend and for the
// API; a broadcast is charged whole, refused whole.
func TestLimitPublishRate(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxPublishRate = 0.001 // one message, then none within the test
	}))
	a := connectDev(t, s, "a")
	a.subscribe("news")
	if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": 1}); !r.is(protocol.Success) {
		t.Fatal(r)
	}
	a.expectMessage("news", "1", a.clientID)
	if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": 2}); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("2nd messageSend: %s, want 429 超出配额", r)
	}
	s.expectError(t, http.MethodPost, "/api/publish", devKey, `{"appId":"demo-app","channel":"news","data":3}`,
		http.StatusTooManyRequests, protocol.QuotaExceeded)
	s.expectError(t, http.MethodPost, "/api/broadcast", devKey, `{"appId":"demo-app","channels":["news"],"data":4}`,
		http.StatusTooManyRequests, protocol.QuotaExceeded)
	a.subscribe("other") // everything but publishing goes on
	a.stillOpen()
	otherAppWorks(t, s)
}

// TestLimitPublishRateBroadcastWhole: a broadcast to more channels than the quota has left
// publishes nothing.
func TestLimitPublishRateBroadcastWhole(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxPublishRate = 2 // burst 2
	}))
	a := connectDev(t, s, "a")
	a.subscribe("c1")
	s.expectError(t, http.MethodPost, "/api/broadcast", devKey, `{"appId":"demo-app","channels":["c1","c2","c3"],"data":"all"}`,
		http.StatusTooManyRequests, protocol.QuotaExceeded)
	s.expectOK(t, http.MethodPost, "/api/publish", devKey, `{"appId":"demo-app","channel":"c1","data":"one"}`)
	a.expectMessage("c1", `"one"`, "server") // not "all": the refused broadcast published nothing
}

// TestLimitMaxChannels: max_channels_per_connection → subscribe gets 429 超出配额;
// re-subscribing counts nothing and unsubscribing frees a place.
func TestLimitMaxChannels(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxChannels = 2
	}))
	a := connectDev(t, s, "a")
	a.subscribe("one")
	a.subscribe("two")
	if r := a.call(protocol.EventSubscribe, map[string]any{"channel": "three"}); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("3rd channel: %s, want 429 超出配额", r)
	}
	a.subscribe("one")
	if r := a.call(protocol.EventUnsubscribe, map[string]any{"channel": "one"}); !r.is(protocol.Success) {
		t.Fatal(r)
	}
	a.subscribe("three")
	connectDev(t, s, "b").subscribe("four") // per connection, not per app
	o := connect(t, s, otherApp, otherSecret, "o")
	for i := 0; i < 5; i++ {
		o.subscribe(fmt.Sprint("ch", i))
	}
	otherAppWorks(t, s)
}

// TestLimitMaxMessageSize: max_message_size → over WebSocket the connection is closed with
// 1009 before the message is buffered; through the API, 413 消息过大.
func TestLimitMaxMessageSize(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxMessageSize = 1024
	}))
	big := strings.Repeat("z", 2000)
	s.expectError(t, http.MethodPost, "/api/publish", devKey, map[string]any{"appId": "demo-app", "channel": "news", "data": big},
		http.StatusRequestEntityTooLarge, protocol.MessageTooLarge)
	s.expectOK(t, http.MethodPost, "/api/publish", otherKey, map[string]any{"appId": otherApp, "channel": "news", "data": big})

	a := connectDev(t, s, "a")
	b := connectDev(t, s, "b")
	b.subscribe("news")
	if err := a.write([]byte(`{"event":"messageSend","payload":{"channel":"news","data":"` + big + `"}}`)); err != nil {
		t.Fatal(err)
	}
	a.expectClose(1009)
	b.stillOpen()
	o := connect(t, s, otherApp, otherSecret, "o")
	o.subscribe("news")
	if r := o.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": big}); !r.is(protocol.Success) {
		t.Fatalf("the other app's 2000-byte message: %s", r)
	}
	otherAppWorks(t, s)
}

// TestLimitAuthTimeout: a connection that does not authenticate within auth_timeout is
// closed with 4008.
func TestLimitAuthTimeout(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		cfg.Defaults.AuthTimeout = 300 * time.Millisecond // before auth, the defaults apply
	}))
	idle := dialWS(t, s, nil)
	a := connectDev(t, s, "a")
	idle.expectClose(4008)
	a.stillOpen()
	otherAppWorks(t, s)
}

// TestLimitSlowConsumer: a subscriber that stops reading is closed with 4030 once its queue
// passes max_queue_bytes; the publisher and the other subscribers never wait for it; the
// metrics count the disconnect and the dropped frames.
func TestLimitSlowConsumer(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		app(cfg, auth.DevAppID).Limits.MaxQueueBytes = 64 << 10
	}))
	slow := dialWS(t, s, smallReceiveBuffer())
	r := slow.call(protocol.EventAuth, map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, "slow", time.Hour)})
	if !r.is(protocol.Success) {
		t.Fatal(r)
	}
	slow.subscribe("firehose")
	fast := connectDev(t, s, "fast")
	fast.subscribe("firehose")

	data := `"` + strings.Repeat("f", 16<<10) + `"`
	body := `{"appId":"demo-app","channel":"firehose","data":` + data + `}`
	sent := 0
	for ; sent < 2000 && s.Stats().QueueDrops == 0; sent++ {
		s.expectOK(t, http.MethodPost, "/api/publish", devKey, body)
		fast.expectMessage("firehose", data, "server") // never held back by the slow one
	}
	if s.Stats().QueueDrops == 0 {
		t.Fatalf("no drop after %d messages of 16 KiB", sent)
	}
	t.Logf("cut off after %d messages of 16 KiB", sent)
	slow.expectClose(4030)
	fast.stillOpen()
	otherAppWorks(t, s)

	eventually(t, "the slow consumer in the metrics", func() bool {
		fams := s.scrape(t)
		return value(fams, "rtmate_app_slow_consumer_disconnects_total", "app", "demo-app") == 1 &&
			value(fams, "rtmate_connections_closed_total", "code", "4030") == 1 &&
			value(fams, "rtmate_outbound_dropped_frames_total") >= 1
	})
}
