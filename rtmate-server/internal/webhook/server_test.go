package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// These tests run the real server in-process with the dispatcher as its observer and
// hooks, real WebSocket clients (coder/websocket) and a real receiver, all on loopback.

// step is an event as the receiver saw it, reduced to what the script decides.
func step(ev wireEvent) string {
	s := ev.Event
	if ev.Channel != nil {
		s += " " + *ev.Channel
	}
	if ev.Event == "message" || ev.Event == "disconnect" || string(ev.Data) != "null" {
		s += " " + string(ev.Data)
	}
	return s
}

func byClient(evs []wireEvent) map[string][]wireEvent {
	m := map[string][]wireEvent{}
	for _, ev := range evs {
		m[ev.ClientID] = append(m[ev.ClientID], ev)
	}
	return m
}

func TestEveryEventKind(t *testing.T) {
	rc := newReceiver(t, nil)
	srv, d := startServer(t, devConfig(t, hookCfg(rc.URL())))

	anon := dial(t, srv.URL) // never authenticates: no events
	a := authed(t, srv, "alice")
	a.ok(protocol.EventSubscribe, map[string]any{"channel": "news"})
	a.ok(protocol.EventSubscribe, map[string]any{"channel": "presence-room"})
	a.ok(protocol.EventSubscribe, map[string]any{"channel": "news"}) // again: no second event
	a.ok(protocol.EventMessageSend, map[string]any{"channel": "news", "data": json.RawMessage(`{"text":"hi, \"bob\"","n":[1,2]}`)})
	a.ok(protocol.EventUnsubscribe, map[string]any{"channel": "news"})
	a.ok(protocol.EventUnsubscribe, map[string]any{"channel": "never-subscribed"}) // not in it: no event
	before := time.Now().UnixMilli()
	anon.close()
	a.close()

	want := []string{
		"connect",
		"subscribe news",
		"subscribe presence-room",
		`message news {"text":"hi, \"bob\"","n":[1,2]}`,
		"unsubscribe news",
		`unsubscribe presence-room {"reason":"disconnect"}`,
		`disconnect {"code":1000}`,
	}
	rc.waitEvents(len(want))
	time.Sleep(50 * time.Millisecond) // nothing more may come
	evs := rc.events()
	var got []string
	ids := map[string]bool{}
	for _, ev := range evs {
		got = append(got, step(ev))
		if ev.ClientID != a.clientID || ev.AppID != auth.DevAppID || ev.UserID == nil || *ev.UserID != "alice" {
			t.Errorf("%s: app %q client %q user %v, want %q %q alice", ev.Event, ev.AppID, ev.ClientID, ev.UserID, auth.DevAppID, a.clientID)
		}
		if ev.ID == "" || ids[ev.ID] {
			t.Errorf("%s: id %q empty or repeated", ev.Event, ev.ID)
		}
		ids[ev.ID] = true
		if ev.Time < before-60_000 || ev.Time > time.Now().UnixMilli() {
			t.Errorf("%s: time %d is not a recent Unix millisecond", ev.Event, ev.Time)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, r := range rc.requests() {
		if r.header.Get("User-Agent") != userAgent || r.header.Get(HeaderEventID) != r.events[0].ID {
			t.Errorf("headers %v", r.header)
		}
	}
	if s := stats(d); s.Sent != uint64(len(want)) || s.Failed+s.Dropped+s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestEventSelection: only the selected kinds are sent.
func TestEventSelection(t *testing.T) {
	rc := newReceiver(t, nil)
	wh := hookCfg(rc.URL())
	wh.Events = []string{"connect", "disconnect"}
	srv, _ := startServer(t, devConfig(t, wh))
	a := authed(t, srv, "alice")
	a.ok(protocol.EventSubscribe, map[string]any{"channel": "news"})
	a.ok(protocol.EventMessageSend, map[string]any{"channel": "news", "data": 1})
	a.close()
	rc.waitEvents(2)
	time.Sleep(50 * time.Millisecond)
	if evs := rc.events(); len(evs) != 2 || evs[0].Event != "connect" || step(evs[1]) != `disconnect {"code":1000}` {
		t.Fatalf("events %v", evs)
	}
}

// TestOrderPerConnection: several connections run the same script at once while the
// receiver answers every fourth request with a 500; each connection's events arrive
// complete and in script order.
func TestOrderPerConnection(t *testing.T) {
	var n atomic.Int64
	rc := newReceiver(t, func(context.Context, int, *request) int {
		if n.Add(1)%4 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	wh := hookCfg(rc.URL())
	wh.Workers, wh.MaxRetries = 2, 10
	srv, d := startServer(t, devConfig(t, wh))

	const clients, rounds = 6, 15
	var want []string
	want = append(want, "connect")
	for i := 0; i < rounds; i++ {
		ch := fmt.Sprintf("ch-%d", i)
		want = append(want, "subscribe "+ch, fmt.Sprintf(`message %s {"n":%d}`, ch, i), "unsubscribe "+ch)
	}
	want = append(want, "subscribe last", `unsubscribe last {"reason":"disconnect"}`, `disconnect {"code":1000}`)

	ids := make([]string, clients)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		cl := authed(t, srv, fmt.Sprintf("user-%d", c))
		ids[c] = cl.clientID
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				ch := fmt.Sprintf("ch-%d", i)
				cl.ok(protocol.EventSubscribe, map[string]any{"channel": ch})
				cl.ok(protocol.EventMessageSend, map[string]any{"channel": ch, "data": map[string]int{"n": i}})
				cl.ok(protocol.EventUnsubscribe, map[string]any{"channel": ch})
			}
			cl.ok(protocol.EventSubscribe, map[string]any{"channel": "last"})
			cl.close()
		}()
	}
	wg.Wait()
	m := byClient(rc.waitEvents(clients * len(want)))
	for _, id := range ids {
		var got []string
		for _, ev := range m[id] {
			got = append(got, step(ev))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("client %s got %d events:\n  %s\nwant %d:\n  %s", id, len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
		}
	}
	s := stats(d)
	t.Logf("stats: %+v", s)
	if s.Retried == 0 || s.Failed+s.Dropped != 0 {
		t.Fatalf("stats %+v: want retries and nothing lost", s)
	}
}

// TestBlockedReceiverDoesNotDelayMessages measures message delivery between two clients
// with no webhook, then with a webhook (every event, messages included) whose receiver
// never answers. The sender paces its messages (about one per pace) so that the figures
// are per-message latency rather than the backlog of a burst. The figures are logged; only
// completeness is asserted.
func TestBlockedReceiverDoesNotDelayMessages(t *testing.T) {
	const n, pace = 1000, 2 * time.Millisecond
	run := func(t *testing.T, withHook bool) (lat []time.Duration, total time.Duration, st AppStats) {
		cfg := devConfig(t, nil)
		if withHook {
			rc := newReceiver(t, block)
			wh := hookCfg(rc.URL())
			wh.Timeout, wh.QueueSize = 30*time.Second, 256
			cfg = devConfig(t, wh)
		}
		srv, d := startServer(t, cfg)
		sender := authed(t, srv, "sender")
		recv := authed(t, srv, "receiver")
		recv.ok(protocol.EventSubscribe, map[string]any{"channel": "room"})

		got := make(chan []time.Duration, 1)
		go func() {
			var ls []time.Duration
			for len(ls) < n {
				r, err := recv.tryRead()
				if err != nil {
					t.Errorf("receiver read after %d messages: %v", len(ls), err)
					break
				}
				if r.Event != protocol.PushMessage {
					continue
				}
				var p struct {
					Data struct{ T int64 } `json:"data"`
				}
				if err := json.Unmarshal(r.Data, &p); err != nil {
					t.Errorf("push %s: %v", r.Data, err)
					break
				}
				ls = append(ls, time.Since(time.Unix(0, p.Data.T)))
			}
			got <- ls
		}()
		go func() { // drain the sender's responses
			for {
				if _, err := sender.tryRead(); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		for i := 0; i < n; i++ {
			sender.send(protocol.EventMessageSend, map[string]any{"channel": "room", "data": map[string]int64{"i": int64(i), "t": time.Now().UnixNano()}})
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * pace)))
		}
		lat = <-got
		total = time.Since(start)
		return lat, total, stats(d)
	}
	pct := func(ls []time.Duration, p float64) time.Duration {
		if len(ls) == 0 {
			return 0
		}
		s := slices.Clone(ls)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[min(len(s)-1, int(p*float64(len(s))))]
	}
	var results [2][]time.Duration
	for i, withHook := range []bool{false, true} {
		name := map[bool]string{false: "no webhook", true: "blocked webhook"}[withHook]
		t.Run(name, func(t *testing.T) {
			lat, total, st := run(t, withHook)
			results[i] = lat
			if len(lat) != n {
				t.Fatalf("%d of %d messages delivered", len(lat), n)
			}
			t.Logf("%s: %d messages in %v; latency p50 %v p99 %v max %v; webhook stats %+v",
				name, n, total.Round(time.Millisecond), pct(lat, .5), pct(lat, .99), pct(lat, 1), st)
		})
	}
	t.Logf("p50 %v vs %v, p99 %v vs %v (no webhook vs blocked webhook)",
		pct(results[0], .5), pct(results[1], .5), pct(results[0], .99), pct(results[1], .99))
}

// hookServer is a connect hook on loopback that records requests (signatures verified).
type hookServer struct {
	*receiver
	mu    sync.Mutex
	calls []hookRequest
}

func newHookServer(t *testing.T, respond func(ctx context.Context, hr hookRequest) (int, string)) *hookServer {
	h := &hookServer{}
	h.receiver = newReceiver(t, func(ctx context.Context, _ int, r *request) int {
		var hr hookRequest
		if err := json.Unmarshal(r.body, &hr); err != nil {
			t.Errorf("hook body %s: %v", r.body, err)
		}
		h.mu.Lock()
		h.calls = append(h.calls, hr)
		h.mu.Unlock()
		status, body := respond(ctx, hr)
		r.reply = body
		return status
	})
	return h
}

func (h *hookServer) last() hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[len(h.calls)-1]
}

func TestConnectHook(t *testing.T) {
	tests := []struct {
		name     string
		status   int    // 0: never answers (timeout)
		body     string // reply body
		failOpen bool
		code     int    // auth response code
		user     string // user id presence shows after a successful auth
	}{
		{name: "204 accepts", status: 204, code: 200, user: "alice"},
		{name: "200 {} accepts", status: 200, body: `{}`, code: 200, user: "alice"},
		{name: "200 user_id replaces", status: 200, body: `{"user_id":"u-42","extra":true}`, code: 200, user: "u-42"},
		{name: "403 rejects", status: 403, code: 403},
		{name: "403 rejects even when failing open", status: 403, failOpen: true, code: 403},
		{name: "500 fails closed", status: 500, code: 500},
		{name: "500 fails open", status: 500, failOpen: true, code: 200, user: "alice"},
		{name: "401 is a failure, not a rejection", status: 401, code: 500},
		{name: "timeout fails closed", status: 0, code: 500},
		{name: "timeout fails open", status: 0, failOpen: true, code: 200, user: "alice"},
		{name: "HTML reply fails closed", status: 200, body: `<html>ok</html>`, code: 500},
		{name: "user_id too long fails closed", status: 200, body: `{"user_id":"` + strings.Repeat("x", 300) + `"}`, code: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHookServer(t, func(ctx context.Context, hr hookRequest) (int, string) {
				if tc.status == 0 {
					<-ctx.Done()
					return 0, ""
				}
				return tc.status, tc.body
			})
			wh := &config.Webhook{ConnectHook: h.URL(), Secret: testSecret, HookTimeout: 5 * time.Second, HookFailOpen: tc.failOpen}
			if tc.status == 0 {
				wh.HookTimeout = 300 * time.Millisecond // only as short where a timeout is the point
			}
			srv, d := startServer(t, devConfig(t, wh))
			c := dial(t, srv.URL)
			start := time.Now()
			r := c.call(protocol.EventAuth, map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, "alice", time.Hour)})
			took := time.Since(start)
			if r.Code != tc.code {
				t.Fatalf("auth: %d %s, want %d", r.Code, r.Message, tc.code)
			}
			if want := protocol.Forbidden; tc.code == 403 && r.Message != want.Message() {
				t.Errorf("message %q, want %q", r.Message, want.Message())
			}
			if tc.status == 0 {
				t.Logf("auth answered after %v with hook_timeout 300ms", took)
			}
			hr := h.last()
			if hr.Event != "connect" || hr.AppID != auth.DevAppID || hr.ClientID == "" || hr.UserID == nil || *hr.UserID != "alice" ||
				hr.Claims == nil || hr.Claims.Sub != "alice" || hr.Claims.AppID != auth.DevAppID || hr.ID == "" {
				t.Errorf("hook request %+v (claims %+v)", hr, hr.Claims)
			}
			s := stats(d)
			if s.HookCalls != 1 {
				t.Errorf("stats %+v", s)
			}
			if tc.code != 200 {
				return
			}
			c.ok(protocol.EventSubscribe, map[string]any{"channel": "presence-room"})
			p := c.ok(protocol.EventPresence, map[string]any{"channel": "presence-room"})
			var pd protocol.PresenceData
			if err := json.Unmarshal(p.Data, &pd); err != nil || len(pd.Members) != 1 || pd.Members[0].UserID != tc.user {
				t.Fatalf("presence %s (%v), want user %q", p.Data, err, tc.user)
			}
		})
	}
}

func TestSubscribeHook(t *testing.T) {
	h := newHookServer(t, func(_ context.Context, hr hookRequest) (int, string) {
		switch {
		case hr.Event == "connect":
			return 200, `{"user_id":"member-7"}`
		case strings.HasPrefix(hr.Channel, "private-"):
			return 403, ""
		}
		return 204, ""
	})
	rc := newReceiver(t, nil)
	wh := hookCfg(rc.URL())
	wh.ConnectHook = h.URL()
	srv, d := startServer(t, devConfig(t, wh))
	c := authed(t, srv, "alice")
	c.ok(protocol.EventSubscribe, map[string]any{"channel": "news"})
	if hr := h.last(); hr.Event != "subscribe" || hr.Channel != "news" || hr.UserID == nil || *hr.UserID != "member-7" || hr.Claims != nil {
		t.Fatalf("subscribe hook request %+v", hr)
	}
	c.ok(protocol.EventSubscribe, map[string]any{"channel": "news"}) // already in: no hook call
	if r := c.call(protocol.EventSubscribe, map[string]any{"channel": "private-x"}); r.Code != 403 {
		t.Fatalf("subscribe private-x: %d %s, want 403", r.Code, r.Message)
	}
	c.close()
	// The webhook events carry the hook's user id; the rejected subscription is not an event.
	var got []string
	for _, ev := range rc.waitEvents(4) {
		got = append(got, step(ev)+" as "+*ev.UserID)
	}
	want := []string{"connect as member-7", "subscribe news as member-7", `unsubscribe news {"reason":"disconnect"} as member-7`, `disconnect {"code":1000} as member-7`}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if s := stats(d); s.HookCalls != 3 || s.HookRejected != 1 || s.HookErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHookConcurrencyBound: with the server's pool of 2 workers, one hook may wait at a
// time; a second one fails at once ("busy") and takes the fallback.
func TestHookConcurrencyBound(t *testing.T) {
	release := make(chan struct{})
	h := newHookServer(t, func(ctx context.Context, _ hookRequest) (int, string) {
		select {
		case <-release:
		case <-ctx.Done():
			return 0, ""
		}
		return 204, ""
	})
	cfg := devConfig(t, &config.Webhook{ConnectHook: h.URL(), Secret: testSecret, HookTimeout: 5 * time.Second})
	cfg.Workers = 2
	d := newTestDispatcher(t, cfg)
	first := make(chan error, 1)
	go func() {
		_, err := d.Connect(context.Background(), devInfo("a"), &protocol.Claims{AppID: auth.DevAppID})
		first <- err
	}()
	eventually(t, "the first hook call", func() bool { return len(h.requests()) == 1 })
	_, err := d.Connect(context.Background(), devInfo("b"), &protocol.Claims{AppID: auth.DevAppID})
	if protocol.CodeOf(err) != protocol.Internal {
		t.Fatalf("second hook while the first waits: %v, want Internal (busy)", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first hook: %v", err)
	}
	if s := stats(d); s.HookCalls != 2 || s.HookErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}
