package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusherapi"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
	"github.com/rtmate/rtmate/rtmate-server/internal/webhook"
)

// startPusherNode runs a node of a Redis cluster with the Pusher HTTP API mounted.
func startPusherNode(t *testing.T, rds *redistest.Server, id string) *testserver.Server {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	eng, err := engine.NewRedis(engine.RedisOptions{Address: rds.Addr, NodeID: id}, log)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	cfg := testserver.Config(t, func(c *config.Config) {
		c.Engine = config.Engine{Type: "redis", Redis: config.Redis{Address: rds.Addr}}
	})
	srv := testserver.Start(t, cfg, server.Options{Engine: eng})
	srv.Handle("/apps/", pusherapi.New(srv.Server, log))
	return srv
}

// TestPusherCluster: on two nodes sharing Redis, a user with connections on both is one
// presence member, announced once and removed once; API triggers and client events cross
// nodes; users lists are cluster-wide.
func TestPusherCluster(t *testing.T) {
	rds := redistest.Start(t)
	n1, n2 := startPusherNode(t, rds, "n1"), startPusherNode(t, rds, "n2")
	a, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	b1, _ := dialPusher(t, n2, config.DevPusherKey, "protocol=7")
	b2, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	const room = "presence-cluster"
	if m := a.subscribe(room, config.DevPusherSecret, `{"user_id":"a"}`); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("a: %+v", m)
	}
	if m := b1.subscribe(room, config.DevPusherSecret, `{"user_id":"b","user_info":{"node":2}}`); m.text(t) != `{"presence":{"ids":["a","b"],"hash":{"a":null,"b":{"node":2}},"count":2}}` {
		t.Fatalf("b1 on n2: %s", m.Data)
	}
	if m := a.next(); m.Event != pusher.EventMemberAdded || m.text(t) != `{"user_id":"b","user_info":{"node":2}}` {
		t.Fatalf("a saw %s %s", m.Event, m.Data)
	}
	if m := b2.subscribe(room, config.DevPusherSecret, `{"user_id":"b"}`); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("b2: %+v", m)
	}
	// The trigger through n2 reaches a on n1; had b2's join been announced, a would read
	// member_added first.
	if code, body := pusherAPI(t, n2, "POST", "/apps/demo-app/events", map[string]any{"name": "ping", "channel": room, "data": "1"}); code != 200 {
		t.Fatalf("trigger: %d %s", code, body)
	}
	if m := a.next(); m.Event != "ping" || string(m.Data) != `"1"` {
		t.Fatalf("a saw %s %s, want the trigger (and no second member_added)", m.Event, m.Data)
	}
	b1.send(map[string]any{"event": "client-hi", "channel": room, "data": map[string]int{"x": 1}})
	if m := a.next(); m.Event != "client-hi" || m.UserID != "b" {
		t.Fatalf("a saw %+v, want b's client event from n2", m)
	}
	if code, body := pusherAPI(t, n1, "GET", "/apps/demo-app/channels/"+room+"/users", nil); code != 200 || body != `{"users":[{"id":"a"},{"id":"b"}]}`+"\n" {
		t.Fatalf("users on n1: %d %s", code, body)
	}
	// Both of b's connections leave at once (TestPusherClusterMemberRace does it many times).
	b1.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": room}})
	b2.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": room}})
	if m := a.next(); m.Event != pusher.EventMemberRemoved || m.text(t) != `{"user_id":"b"}` {
		t.Fatalf("a saw %s %s, want one member_removed", m.Event, m.Data)
	}
	b1.sync()
	b2.sync()
	if code, body := pusherAPI(t, n2, "POST", "/apps/demo-app/events", map[string]any{"name": "after", "channel": room, "data": "2"}); code != 200 {
		t.Fatalf("trigger: %d %s", code, body)
	}
	if m := a.next(); m.Event != "after" {
		t.Fatalf("a saw %s %s, want the trigger (and no second member_removed)", m.Event, m.Data)
	}
}

// TestPusherClusterOccupancy: channel_occupied and channel_vacated are the cluster's — one
// each for a channel that gains subscribers on two nodes and loses them again — and every
// webhook carries Pusher's signature.
func TestPusherClusterOccupancy(t *testing.T) {
	rds := redistest.Start(t)
	var mu sync.Mutex
	var names []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("X-Pusher-Key") != config.DevPusherKey ||
			r.Header.Get("X-Pusher-Signature") != pusher.WebhookSignature(config.DevPusherSecret, body) {
			t.Errorf("webhook not signed as Pusher signs: %v %v", err, r.Header)
		}
		var hook struct {
			TimeMS int64 `json:"time_ms"`
			Events []struct {
				Name    string `json:"name"`
				Channel string `json:"channel"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &hook); err != nil || hook.TimeMS == 0 {
			t.Errorf("webhook body %s: %v", body, err)
		}
		mu.Lock()
		for _, e := range hook.Events {
			if e.Channel == "occ" {
				names = append(names, e.Name)
			}
		}
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	node := func(id string) *testserver.Server {
		log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
		eng, err := engine.NewRedis(engine.RedisOptions{Address: rds.Addr, NodeID: id}, log)
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		cfg := testserver.Config(t, func(c *config.Config) {
			c.Engine = config.Engine{Type: "redis", Redis: config.Redis{Address: rds.Addr}}
			devApp(c).Webhook = &config.Webhook{URL: recv.URL, Format: config.WebhookFormatPusher, Events: []string{"channel_occupied", "channel_vacated"}}
		})
		hooks := webhook.New(cfg, log)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hooks.Close(ctx); err != nil {
				t.Errorf("webhooks: %v", err)
			}
		})
		return testserver.Start(t, cfg, server.Options{Engine: eng, Observer: hooks, Hooks: hooks})
	}
	n1, n2 := node("n1"), node("n2")
	got := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(readTimeout)
		for {
			mu.Lock()
			ok := slices.Equal(names, want)
			snapshot := slices.Clone(names)
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) || len(snapshot) > len(want) {
				t.Fatalf("webhooks %v, want %v", snapshot, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, n2, config.DevPusherKey, "protocol=7")
	a.subscribe("occ", "", "")
	got("channel_occupied")
	b.subscribe("occ", "", "")
	b.sync() // n2's occupancy is recorded once its subscription is fully handled
	a.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "occ"}})
	a.sync()
	time.Sleep(200 * time.Millisecond) // nothing more may arrive: the channel is still occupied on n2
	got("channel_occupied")
	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "occ"}})
	got("channel_occupied", "channel_vacated")
}

// TestPusherClusterMemberRace: two connections of one user on two nodes that join at the
// same moment, leave at the same moment, or hand over (one leaves as the other joins) are
// announced as Pusher does and in the order of the changes: a watcher's member_added and
// member_removed for the user alternate, and its last word matches whether the user is there.
func TestPusherClusterMemberRace(t *testing.T) {
	rds := redistest.Start(t)
	n1, n2 := startPusherNode(t, rds, "n1"), startPusherNode(t, rds, "n2")
	const room, user = "presence-race", `{"user_id":"u"}`
	w, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	if m := w.subscribe(room, config.DevPusherSecret, `{"user_id":"w"}`); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("watcher: %+v", m)
	}
	u1, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	u2, _ := dialPusher(t, n2, config.DevPusherKey, "protocol=7")
	join := func(cs ...*pusherClient) {
		t.Helper()
		for _, c := range cs { // sent back to back: the two nodes handle them at once
			c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": room,
				"channel_data": user, "auth": config.DevPusherKey + ":" + pusher.Sign(config.DevPusherSecret, c.socketID+":"+room+":"+user)}})
		}
	}
	leave := func(cs ...*pusherClient) {
		for _, c := range cs {
			c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": room}})
		}
	}
	succeeded := func(c *pusherClient) {
		t.Helper()
		for m := c.next(); m.Event != pusher.EventSubscriptionSucceeded; m = c.next() {
			if m.Event == pusher.EventSubscriptionError {
				t.Fatalf("subscribe: %s", m.Data)
			}
		}
	}
	present, mark := false, 0
	// check reads the watcher's announcements of u up to a marker published after the
	// changes, and wants them to alternate and to end with u there or not as want says.
	check := func(step string, want bool, maxEvents int) {
		t.Helper()
		mark++
		if code, body := pusherAPI(t, n1, "POST", "/apps/demo-app/events", map[string]any{"name": "mark", "channel": room, "data": strconv.Itoa(mark)}); code != 200 {
			t.Fatalf("mark: %d %s", code, body)
		}
		var seen []string
		for {
			m := w.next()
			if m.Event == "mark" {
				break
			}
			if m.Event != pusher.EventMemberAdded && m.Event != pusher.EventMemberRemoved {
				continue
			}
			seen = append(seen, m.Event)
			if (m.Event == pusher.EventMemberAdded) == present {
				t.Fatalf("mark %d, %s: %v after u was %s", mark, step, seen, map[bool]string{true: "there", false: "gone"}[present])
			}
			present = !present
		}
		if present != want || len(seen) > maxEvents {
			t.Fatalf("mark %d, %s: watcher heard %v; want u there=%v in at most %d announcements", mark, step, seen, want, maxEvents)
		}
	}
	for range 25 {
		join(u1, u2)
		succeeded(u1)
		succeeded(u2)
		check("both join at once", true, 1)
		leave(u1, u2)
		u1.sync()
		u2.sync()
		check("both leave at once", false, 1)
		join(u1)
		succeeded(u1)
		check("one joins", true, 1)
		leave(u1)
		join(u2)
		u1.sync()
		succeeded(u2)
		check("hand-over", true, 2) // nothing, or removed then added
		leave(u2)
		u2.sync()
		check("the last leaves", false, 1)
	}
}

// TestPusherClusterAPI: the Pusher HTTP API answers for the whole cluster whichever node is
// asked: channel lists and subscription counts sum both nodes, a trigger's info counts the
// other node's subscribers, and terminate_connections closes a user's connections there.
func TestPusherClusterAPI(t *testing.T) {
	rds := redistest.Start(t)
	n1, n2 := startPusherNode(t, rds, "n1"), startPusherNode(t, rds, "n2")
	a, _ := dialPusher(t, n1, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, n2, config.DevPusherKey, "protocol=7")
	for _, s := range []struct {
		c  *pusherClient
		ch string
	}{{a, "news"}, {b, "news"}, {b, "only-on-n2"}} {
		if m := s.c.subscribe(s.ch, "", ""); m.Event != pusher.EventSubscriptionSucceeded {
			t.Fatalf("subscribe %s: %+v", s.ch, m)
		}
	}
	if m := b.subscribe("presence-room", config.DevPusherSecret, `{"user_id":"bob"}`); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("presence: %+v", m)
	}
	for _, tc := range []struct{ path, query, want string }{
		{"/apps/demo-app/channels", "info=subscription_count",
			`{"channels":{"news":{"subscription_count":2},"only-on-n2":{"subscription_count":1},"presence-room":{"subscription_count":1}}}`},
		{"/apps/demo-app/channels", "filter_by_prefix=presence-&info=user_count,subscription_count",
			`{"channels":{"presence-room":{"subscription_count":1,"user_count":1}}}`},
		{"/apps/demo-app/channels/news", "info=subscription_count", `{"occupied":true,"subscription_count":2}`},
		{"/apps/demo-app/channels/only-on-n2", "info=subscription_count", `{"occupied":true,"subscription_count":1}`},
		{"/apps/demo-app/channels/empty", "info=subscription_count", `{"occupied":false,"subscription_count":0}`},
	} {
		if code, body := apiQuery(t, n1, "GET", tc.path, tc.query); code != 200 || body != tc.want+"\n" {
			t.Errorf("GET %s?%s on n1: %d %s, want %s", tc.path, tc.query, code, body, tc.want)
		}
	}
	code, body := pusherAPI(t, n1, "POST", "/apps/demo-app/events", map[string]any{
		"name": "e", "channels": []string{"news", "only-on-n2", "empty"}, "data": "1", "info": "subscription_count"})
	if want := `{"channels":{"empty":{"subscription_count":0},"news":{"subscription_count":2},"only-on-n2":{"subscription_count":1}}}`; code != 200 || body != want+"\n" {
		t.Fatalf("trigger with info on n1: %d %s, want %s", code, body, want)
	}

	b.signin(`{"id":"bob"}`)
	for m := b.next(); m.Event != "pusher:signin_success"; m = b.next() {
		if m.Event != "e" { // the trigger above
			t.Fatalf("signin: %s %s", m.Event, m.Data)
		}
	}
	if code, body := pusherAPI(t, n1, "POST", "/apps/demo-app/users/bob/terminate_connections", map[string]any{}); code != 200 {
		t.Fatalf("terminate on n1: %d %s", code, body)
	}
	for {
		_, err := b.tryNext()
		if err == nil {
			continue // the pusher:error before the close, or a pending event
		}
		if got := websocket.CloseStatus(err); got != server.PusherCloseUnauthorized {
			t.Fatalf("bob's connection on n2: %v (close %d), want close %d", err, got, server.PusherCloseUnauthorized)
		}
		break
	}
	// The closed connection's subscriptions go as the server finishes closing it.
	for deadline := time.Now().Add(readTimeout); ; time.Sleep(10 * time.Millisecond) {
		code, body := apiQuery(t, n2, "GET", "/apps/demo-app/channels/news", "info=subscription_count")
		if code == 200 && body == `{"occupied":true,"subscription_count":1}`+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after terminate, on n2: %d %s", code, body)
		}
	}
}
