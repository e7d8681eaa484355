package admin

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// TestTwoNodesShareApps runs two servers of a Redis engine on a real redis-server: an app
// created on one is served by the other within a second, disabling it closes its connections
// on the other node, usage is summed over both, and both console lists (stats, nodes) come
// from the engine's node registry.
func TestTwoNodesShareApps(t *testing.T) {
	rs := redistest.Start(t)
	node := func() *stack {
		return startStack(t, "", func(c *config.Config) {
			c.Engine.Type, c.Engine.Redis.Address, c.Engine.Redis.KeyPrefix = "redis", rs.Addr, "t2:"
			c.Engine.Redis.PresenceTTL = 3 * time.Second // a heartbeat a second
		})
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

// TestSilentNodeLeavesBothLists: a node that stops heartbeating (here a registry entry
// written once, as a node that froze would leave it) is listed by the console and by
// GET /api/nodes' source alike, and leaves both at the same poll once PresenceTTL passes.
func TestSilentNodeLeavesBothLists(t *testing.T) {
	rs := redistest.Start(t)
	a := startStack(t, "", func(c *config.Config) {
		c.Engine.Type, c.Engine.Redis.Address, c.Engine.Redis.KeyPrefix = "redis", rs.Addr, "t4:"
		c.Engine.Redis.PresenceTTL = 2 * time.Second
	})
	a.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "silent"}, nil)
	entry := fmt.Sprintf(`%d:{"version":"old","console":{"node":{"id":"ghost"},"apps":{}}}`, time.Now().UnixMilli())
	if _, err := rs.Do("HSET", "t4:nodes", "ghost", entry); err != nil {
		t.Fatalf("HSET t4:nodes: %v", err)
	}
	console := func() bool {
		var nodes struct {
			Nodes []struct{ ID string } `json:"nodes"`
		}
		a.ok(t, "GET", "/admin/api/nodes", nil, &nodes)
		return slices.ContainsFunc(nodes.Nodes, func(n struct{ ID string }) bool { return n.ID == "ghost" })
	}
	api := func() bool {
		infos, err := a.Server.Server.Nodes("silent")
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(infos, func(n server.NodeInfo) bool { return n.ID == "ghost" })
	}
	if c, p := console(), api(); !c || !p {
		t.Fatalf("a live node: listed by the console %v, by /api/nodes %v", c, p)
	}
	// The console is read between two reads of /api/nodes' source. An entry that expires
	// stays expired, so when both of those agree the console must agree with them; when they
	// differ, the entry expired in between and this poll proves nothing.
	eventually(t, "the silent node leaves both lists", func() bool {
		before := api()
		c := console()
		after := api()
		if before == after && c != before {
			t.Fatalf("the lists disagree: console %v, /api/nodes %v", c, before)
		}
		return !before && !c && !after
	})
}
