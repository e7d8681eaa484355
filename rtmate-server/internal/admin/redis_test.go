package admin

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// TestTwoNodesShareApps runs two servers whose admin APIs share a real redis-server: an app
// created on one is served by the other within a second, disabling it closes its connections
// on the other node, and usage is summed over both.
func TestTwoNodesShareApps(t *testing.T) {
	rs := redistest.Start(t)
	node := func() *stack {
		st, err := store.NewRedis(config.Redis{Address: rs.Addr, KeyPrefix: "t2:"})
		if err != nil {
			t.Fatal(err)
		}
		return startStackWith(t, "", nil, Options{Store: st})
	}
	a, b := node(), node()

	var c createdApp
	a.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "shared"}, &c)
	tok := sign(t, "shared", c.Kid, c.Secret, "alice")
	start := time.Now()
	var conn *wsClient
	eventually(t, "node b serves the new app", func() bool {
		cl, r := connect(t, b, "shared", tok)
		conn = cl
		return r.Code == 200
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("node b applied the change after %v, want within 1 s", d)
	}
	var v appView
	b.ok(t, "GET", "/admin/api/apps/shared", nil, &v)
	if v.Source != "api" {
		t.Fatalf("node b's view: %+v", v)
	}

	// Usage from both nodes adds up.
	a.ok(t, "POST", "/admin/api/apps/shared/publish", map[string]any{"channel": "c", "data": 1}, nil)
	b.ok(t, "POST", "/admin/api/apps/shared/publish", map[string]any{"channel": "c", "data": 2}, nil)
	for _, n := range []*stack{a, b} {
		if err := n.adm.agg.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var u struct {
		Total struct {
			MessagesIn int64 `json:"messages_in"`
		} `json:"total"`
	}
	a.ok(t, "GET", "/admin/api/apps/shared/usage", nil, &u)
	if u.Total.MessagesIn != 2 {
		t.Fatalf("summed messages_in = %d, want 2", u.Total.MessagesIn)
	}

	// Node a's stats and nodes list include node b's figures (its connection).
	eventually(t, "node a sees node b's connection", func() bool {
		var st struct {
			Connections int64 `json:"connections"`
			Nodes       []struct {
				Node        string `json:"node"`
				Connections int64  `json:"connections"`
			} `json:"nodes"`
		}
		a.ok(t, "GET", "/admin/api/apps/shared/stats", nil, &st)
		return st.Connections == 1 && len(st.Nodes) == 2
	})
	var nodes struct {
		Nodes []struct{ ID string } `json:"nodes"`
	}
	a.ok(t, "GET", "/admin/api/nodes", nil, &nodes)
	if len(nodes.Nodes) != 2 {
		t.Fatalf("nodes = %+v", nodes)
	}

	// Disabling on a closes the connection on b.
	start = time.Now()
	a.ok(t, "PATCH", "/admin/api/apps/shared", map[string]any{"disabled": true}, nil)
	conn.expectClose(websocket.StatusCode(protocol.CloseDisconnected))
	if d := time.Since(start); d > time.Second {
		t.Errorf("node b closed the connection after %v, want within 1 s", d)
	}
}

// TestStartingNodeReadsApps: a node started with the redis engine's config reads every stored
// app before it serves anything, so the first connection of a stored app succeeds.
func TestStartingNodeReadsApps(t *testing.T) {
	rs := redistest.Start(t)
	redisCfg := func(c *config.Config) {
		c.Engine.Type, c.Engine.Redis.Address, c.Engine.Redis.KeyPrefix = "redis", rs.Addr, "t3:"
	}
	a := startStack(t, "", redisCfg)
	var c createdApp
	a.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "early"}, &c)

	b := startStack(t, "", redisCfg)
	if _, r := connect(t, b, "early", sign(t, "early", c.Kid, c.Secret, "alice")); r.Code != 200 {
		t.Fatalf("first connection on a new node: %+v", r)
	}
}
