package test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusherapi"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
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
	if code, body := api(t, n2, "POST", "/apps/demo-app/events", map[string]any{"name": "ping", "channel": room, "data": "1"}); code != 200 {
		t.Fatalf("trigger: %d %s", code, body)
	}
	if m := a.next(); m.Event != "ping" || string(m.Data) != `"1"` {
		t.Fatalf("a saw %s %s, want the trigger (and no second member_added)", m.Event, m.Data)
	}
	b1.send(map[string]any{"event": "client-hi", "channel": room, "data": map[string]int{"x": 1}})
	if m := a.next(); m.Event != "client-hi" || m.UserID != "b" {
		t.Fatalf("a saw %+v, want b's client event from n2", m)
	}
	if code, body := api(t, n1, "GET", "/apps/demo-app/channels/"+room+"/users", nil); code != 200 || body != `{"users":[{"id":"a"},{"id":"b"}]}`+"\n" {
		t.Fatalf("users on n1: %d %s", code, body)
	}
	b1.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": room}})
	// Across nodes the look at the other connections is not atomic with the change
	// (docs/pusher.md): b2 leaves once b1's departure is complete.
	b1.sync()
	b2.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": room}})
	if m := a.next(); m.Event != pusher.EventMemberRemoved || m.text(t) != `{"user_id":"b"}` {
		t.Fatalf("a saw %s %s, want one member_removed", m.Event, m.Data)
	}
}
