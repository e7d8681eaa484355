package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// Cluster-wide operations against three in-process nodes on a real Redis Cluster.

const nodesTTL = 1500 * time.Millisecond // heartbeat (and registry refresh) every 500 ms

func startClusterNode(t *testing.T, c *redistest.Cluster, id string, maxConns int) *node {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	eng, err := engine.NewRedis(engine.RedisOptions{Cluster: true, Addresses: c.Addrs(), NodeID: id, PresenceTTL: nodesTTL}, log)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	cfg := testserver.Config(t, func(cf *config.Config) {
		cf.Engine = config.Engine{Type: "redis", Redis: config.Redis{Cluster: true, Addresses: c.Addrs()}}
		for i := range cf.Apps {
			cf.Apps[i].Limits.Rate = 1e9
			cf.Apps[i].Limits.Burst = 1 << 30
			cf.Apps[i].Limits.MaxConnections = maxConns
		}
	})
	srv := testserver.Start(t, cfg, server.Options{Engine: eng})
	srv.Handle("/api/", api.New(srv.Server, log))
	return &node{Server: srv, eng: eng}
}

type nodesAnswer struct {
	Count int `json:"count"`
	Nodes []struct {
		ID             string `json:"id"`
		Self           bool   `json:"self"`
		Address        string `json:"address"`
		Version        string `json:"version"`
		Connections    int    `json:"connections"`
		Subscriptions  int    `json:"subscriptions"`
		ControlIgnored uint64 `json:"control_ignored"`
		HeartbeatAgeMs int64  `json:"heartbeat_age_ms"`
	} `json:"nodes"`
}

func TestClusterWideAPI(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	ns := []*node{startClusterNode(t, c, "na", 0), startClusterNode(t, c, "nb", 0), startClusterNode(t, c, "nc", 0)}
	// alice on every node, bob on b; channels on several shards.
	alice := []*client{dial(t, ns[0], "alice"), dial(t, ns[1], "alice"), dial(t, ns[2], "alice")}
	bob := dial(t, ns[1], "bob")
	for _, a := range alice {
		a.subscribe("news")
		a.subscribe("sport")
	}
	bob.subscribe("news")

	// Every node lists all three, with the app's counts, once a heartbeat has passed.
	waitFor(t, func() bool {
		var d nodesAnswer
		f := apiCall(t, ns[2], "GET", "/api/nodes?appId="+auth.DevAppID, nil)
		if json.Unmarshal(f.Data, &d) != nil || d.Count != 3 {
			return false
		}
		total := 0
		for _, n := range d.Nodes {
			total += n.Connections
		}
		return total == 4 && d.Nodes[0].Self && d.Nodes[0].ID == "nc"
	})

	// /api/channels on node a counts the subscribers of every node.
	var chans struct {
		Count    int `json:"count"`
		Channels []struct {
			Channel     string `json:"channel"`
			Subscribers int    `json:"subscribers"`
		} `json:"channels"`
		Nodes   int      `json:"nodes"`
		Missing []string `json:"missing_nodes"`
	}
	f := apiCall(t, ns[0], "GET", "/api/channels?appId="+auth.DevAppID, nil)
	if err := json.Unmarshal(f.Data, &chans); err != nil {
		t.Fatal(err)
	}
	if chans.Nodes != 3 || len(chans.Missing) != 0 || chans.Count != 2 ||
		chans.Channels[0].Channel != "news" || chans.Channels[0].Subscribers != 4 || chans.Channels[1].Subscribers != 3 {
		t.Fatalf("channels %s", f.Data)
	}

	// /api/usage sums the nodes.
	var usage struct {
		Connections int64 `json:"connections"`
		Nodes       int   `json:"nodes"`
	}
	f = apiCall(t, ns[1], "GET", "/api/usage?appId="+auth.DevAppID, nil)
	if err := json.Unmarshal(f.Data, &usage); err != nil || usage.Connections != 4 || usage.Nodes != 3 {
		t.Fatalf("usage %s (%v)", f.Data, err)
	}

	// /api/disconnect by user on node a closes alice everywhere; by client id on node c
	// closes bob, who is on b.
	var disc struct {
		Disconnected int `json:"disconnected"`
		Nodes        int `json:"nodes"`
	}
	f = apiCall(t, ns[0], "POST", "/api/disconnect", map[string]string{"appId": auth.DevAppID, "user_id": "alice"})
	if err := json.Unmarshal(f.Data, &disc); err != nil || disc.Disconnected != 3 || disc.Nodes != 3 {
		t.Fatalf("disconnect alice: %s", f.Data)
	}
	f = apiCall(t, ns[2], "POST", "/api/disconnect", map[string]string{"appId": auth.DevAppID, "client_id": bob.id})
	if err := json.Unmarshal(f.Data, &disc); err != nil || disc.Disconnected != 1 {
		t.Fatalf("disconnect bob: %s", f.Data)
	}
	for _, cl := range append(alice, bob) {
		waitClosed(t, cl)
	}

	// A control message of a future version is ignored, logged and counted by every node,
	// which keeps answering.
	future := []byte(`{"v":2,"type":"rebalance","from":"nz","id":"x"}`)
	pub := engine.Publication{Kind: engine.KindMessage, Data: future, ClientID: "server"}
	if _, err := ns[0].eng.Publish(context.Background(), engine.ChannelKey{App: "$rtmate", Name: "control"}, &pub, engine.HistoryOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		waitFor(t, func() bool { return n.Server.Server.ControlIgnored() == 1 })
	}
	f = apiCall(t, ns[1], "GET", "/api/channels?appId="+auth.DevAppID, nil)
	if err := json.Unmarshal(f.Data, &chans); err != nil || chans.Nodes != 3 {
		t.Fatalf("channels after the unknown message: %s", f.Data)
	}
}

// waitClosed waits until the server closed cl's connection.
func waitClosed(t *testing.T, cl *client) {
	t.Helper()
	deadline := time.After(readTimeout)
	for {
		select {
		case _, ok := <-cl.in:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: still connected", cl.name)
		}
	}
}

// TestClusterMaxConnections: max_connections counts the connections of every node (as of
// their last heartbeats).
func TestClusterMaxConnections(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a, b := startClusterNode(t, c, "ma", 3), startClusterNode(t, c, "mb", 3)
	dial(t, a, "u1")
	dial(t, a, "u2")
	dial(t, b, "u3")
	time.Sleep(2 * nodesTTL / 3) // two heartbeats: each node has seen the other's count
	for _, n := range []*node{a, b} {
		conn := dialRaw(t, n)
		f := conn.request("auth", map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, "u4", time.Hour)})
		if f.Code != 429 {
			t.Fatalf("4th connection on %s: %d %s, want 429", n.eng.NodeID(), f.Code, f.Message)
		}
	}
}

// dialRaw connects without authenticating.
func dialRaw(t *testing.T, n *node) *client {
	t.Helper()
	return dialNoAuth(t, n, fmt.Sprintf("raw@%s", n.eng.NodeID()))
}
