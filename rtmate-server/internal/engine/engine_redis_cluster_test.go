package engine_test

// Multi-node tests: several in-process servers on one real Redis, talked to over real
// WebSockets with a client library that shares nothing with the server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
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

// readTimeout bounds every wait; a failure bound for -race on two noisy cores, never a
// timing assertion.
const readTimeout = 15 * time.Second

type node struct {
	*testserver.Server
	eng *engine.Redis
}

type nodeConfig struct {
	presenceTTL time.Duration
	// beforeResubscribe, when set, runs on the engine before it resubscribes after a
	// reconnection.
	beforeResubscribe func()
}

// startNode runs a server with a Redis engine on rds, the development app (history on,
// request rate unlimited) and the HTTP API mounted.
func startNode(t *testing.T, rds *redistest.Server, id string, nc nodeConfig) *node {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	eng, err := engine.NewRedis(engine.RedisOptions{Address: rds.Addr, NodeID: id, PresenceTTL: nc.presenceTTL}, log)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	if nc.beforeResubscribe != nil {
		eng.SetBeforeResubscribe(nc.beforeResubscribe)
	}
	cfg := testserver.Config(t, func(c *config.Config) {
		c.Engine = config.Engine{Type: "redis", Redis: config.Redis{Address: rds.Addr}}
		for i := range c.Apps {
			c.Apps[i].Limits.Rate = 1e9
			c.Apps[i].Limits.Burst = 1 << 30
		}
	})
	srv := testserver.Start(t, cfg, server.Options{Engine: eng})
	srv.Handle("/api/", api.New(srv.Server, log))
	return &node{Server: srv, eng: eng}
}

// frame is one server message.
type frame struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Event   string          `json:"event"`
	ID      json.RawMessage `json:"id"`
	Data    json.RawMessage `json:"data"`
}

// push is the data of a message, join or leave push.
type push struct {
	Channel  string          `json:"channel"`
	Data     json.RawMessage `json:"data"`
	From     string          `json:"from"`
	Offset   uint64          `json:"offset"`
	Epoch    string          `json:"epoch"` // resync pushes
	ClientID string          `json:"client_id"`
	UserID   string          `json:"user_id"`
}

// client is a WebSocket client for one test goroutine.
type client struct {
	t       *testing.T
	name    string
	conn    *websocket.Conn
	in      chan frame
	pending []frame
	nextID  int
	id      string // client_id
}

func dial(t *testing.T, n *node, user string) *client {
	t.Helper()
	c := dialNoAuth(t, n, user)
	var data struct {
		ClientID string `json:"client_id"`
	}
	c.ok(c.request("auth", map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, user, time.Hour)}), &data)
	c.id = data.ClientID
	return c
}

// dialNoAuth opens a WebSocket to n without authenticating.
func dialNoAuth(t *testing.T, n *node, user string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, n.URL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", n.URL, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: t, name: user, conn: conn, in: make(chan frame, 4096)}
	if n.eng != nil { // nil: a node on the memory engine
		c.name += "@" + n.eng.NodeID()
	}
	go func() {
		defer close(c.in)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("%s: bad frame %q: %v", c.name, b, err)
				return
			}
			c.in <- f
		}
	}()
	t.Cleanup(func() { _ = conn.Close(websocket.StatusNormalClosure, "") })
	return c
}

func (c *client) send(event string, payload any) string {
	c.t.Helper()
	c.nextID++
	id := fmt.Sprint(c.nextID)
	b, err := json.Marshal(map[string]any{"event": event, "payload": payload, "id": id})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
	return `"` + id + `"`
}

func (c *client) read() frame {
	c.t.Helper()
	select {
	case f, ok := <-c.in:
		if !ok {
			c.t.Fatalf("%s: connection closed", c.name)
		}
		return f
	case <-time.After(readTimeout):
		c.t.Fatalf("%s: nothing received for %v", c.name, readTimeout)
	}
	panic("unreachable")
}

// response waits for the response to request id; pushes meanwhile are kept for later.
func (c *client) response(id string) frame {
	c.t.Helper()
	for {
		f := c.read()
		if string(f.ID) == id {
			return f
		}
		c.pending = append(c.pending, f)
	}
}

func (c *client) request(event string, payload any) frame {
	c.t.Helper()
	return c.response(c.send(event, payload))
}

func (c *client) ok(f frame, data any) {
	c.t.Helper()
	if f.Code != 200 {
		c.t.Fatalf("%s: %s failed: %d %s", c.name, f.Event, f.Code, f.Message)
	}
	if data != nil {
		if err := json.Unmarshal(f.Data, data); err != nil {
			c.t.Fatalf("%s: %s data %s: %v", c.name, f.Event, f.Data, err)
		}
	}
}

// next returns the next push of one of events, skipping other pushes.
func (c *client) next(events ...string) (string, push) {
	c.t.Helper()
	for {
		var f frame
		if len(c.pending) > 0 {
			f, c.pending = c.pending[0], c.pending[1:]
		} else {
			f = c.read()
		}
		if len(f.ID) != 0 || !slices.Contains(events, f.Event) {
			continue
		}
		var p push
		if err := json.Unmarshal(f.Data, &p); err != nil {
			c.t.Fatalf("%s: push %s: %v", c.name, f.Data, err)
		}
		return f.Event, p
	}
}

type subscribed struct {
	Channel      string `json:"channel"`
	Epoch        string `json:"epoch"`
	Offset       uint64 `json:"offset"`
	Recovered    bool   `json:"recovered"`
	Publications []push `json:"publications"`
}

func (c *client) subscribe(ch string) subscribed {
	c.t.Helper()
	var d subscribed
	c.ok(c.request("subscribe", map[string]any{"channel": ch}), &d)
	return d
}

// publish sends a message, retrying while the node answers 500: right after a Redis restart
// the first command on each pooled connection can meet the closed socket.
func (c *client) publish(ch string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		f := c.request("messageSend", map[string]any{"channel": ch, "data": map[string]int{"n": n}})
		if f.Code == 200 {
			return
		}
		if f.Code != 500 || time.Now().After(deadline) {
			c.t.Fatalf("%s: publish %d: %d %s", c.name, n, f.Code, f.Message)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantMessages reads the next messages on ch and checks they carry n = from..to in order,
// with consecutive offsets.
func (c *client) wantMessages(ch string, from, to int) []push {
	c.t.Helper()
	var got []push
	for n := from; n <= to; n++ {
		_, p := c.next("message")
		if p.Channel != ch || string(p.Data) != fmt.Sprintf(`{"n":%d}`, n) {
			c.t.Fatalf("%s: got message %s on %s, want {\"n\":%d} on %s", c.name, p.Data, p.Channel, n, ch)
		}
		if len(got) > 0 && p.Offset != got[len(got)-1].Offset+1 {
			c.t.Fatalf("%s: offset %d after %d", c.name, p.Offset, got[len(got)-1].Offset)
		}
		got = append(got, p)
	}
	return got
}

func apiCall(t *testing.T, n *node, method, path string, body any) frame {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.HTTP+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+auth.DevAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var f frame
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if f.Code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, f.Code, f.Message)
	}
	return f
}

type presenceData struct {
	Count   int `json:"count"`
	Members []struct {
		ClientID string `json:"client_id"`
		UserID   string `json:"user_id"`
	} `json:"members"`
}

func (p presenceData) users() []string {
	var out []string
	for _, m := range p.Members {
		out = append(out, m.UserID)
	}
	slices.Sort(out)
	return out
}

func (c *client) presence(ch string) presenceData {
	c.t.Helper()
	var d presenceData
	c.ok(c.request("presence", map[string]any{"channel": ch}), &d)
	return d
}

func TestClusterFanOut(t *testing.T) {
	rds := redistest.Start(t)
	a, b, cn := startNode(t, rds, "a", nodeConfig{}), startNode(t, rds, "b", nodeConfig{}), startNode(t, rds, "c", nodeConfig{})
	subs := []*client{dial(t, a, "sa"), dial(t, b, "sb"), dial(t, b, "sb2"), dial(t, cn, "sc")}
	for _, s := range subs {
		s.subscribe("news")
	}
	// Another channel on the same node: channels must not mix.
	sports := dial(t, b, "sports")
	sports.subscribe("sports")

	pub := dial(t, a, "publisher")
	const n = 100
	ids := make([]string, 0, n)
	for i := 1; i <= n; i++ { // pipelined: all sent before any response is read
		ids = append(ids, pub.send("messageSend", map[string]any{"channel": "news", "data": map[string]int{"n": i}}))
	}
	for _, id := range ids {
		pub.ok(pub.response(id), nil)
	}
	// The HTTP API publishes through whichever node it is asked.
	apiCall(t, cn, http.MethodPost, "/api/publish", map[string]any{"appId": auth.DevAppID, "channel": "news", "data": map[string]int{"n": n + 1}})
	apiCall(t, b, http.MethodPost, "/api/publish", map[string]any{"appId": auth.DevAppID, "channel": "news", "data": map[string]int{"n": n + 2}})

	var offsets [][]uint64
	for _, s := range subs {
		got := s.wantMessages("news", 1, n+2)
		var offs []uint64
		for _, p := range got {
			offs = append(offs, p.Offset)
		}
		offsets = append(offsets, offs)
		if got[0].From != pub.id || got[n].From != "server" {
			t.Fatalf("%s: from %q and %q, want %q and server", s.name, got[0].From, got[n].From, pub.id)
		}
	}
	for i := 1; i < len(offsets); i++ {
		if !slices.Equal(offsets[i], offsets[0]) {
			t.Fatalf("nodes saw different offsets:\n%v\n%v", offsets[0], offsets[i])
		}
	}
	// Once each: the next message anyone sees is the next one published, on the channel it
	// belongs to.
	pub.publish("sports", 1)
	pub.publish("news", n+3)
	for _, s := range subs {
		s.wantMessages("news", n+3, n+3)
	}
	sports.wantMessages("sports", 1, 1)
	// One Redis subscription per node and channel, whatever the local subscriber count,
	// plus the node's two control channels ($rtmate/control and its reply channel).
	for _, nd := range []*node{a, b, cn} {
		want := 1 + 2
		if nd == b {
			want = 2 + 2
		}
		if got := nd.eng.Stats().Channels; got != want {
			t.Fatalf("node %s subscribed to %d channels, want %d", nd.eng.NodeID(), got, want)
		}
	}
}

func TestClusterPresence(t *testing.T) {
	rds := redistest.Start(t)
	a, b, cn := startNode(t, rds, "a", nodeConfig{}), startNode(t, rds, "b", nodeConfig{}), startNode(t, rds, "c", nodeConfig{})
	const room = "presence-room"
	alice, bob, carol := dial(t, a, "alice"), dial(t, b, "bob"), dial(t, cn, "carol")
	// Alice, on a, sees the joins of members of b and c. (A join is announced after the
	// subscribe response, so each waits for the previous one to keep them in order.)
	for _, c := range []*client{alice, bob, carol} {
		c.subscribe(room)
		ev, p := alice.next("join", "leave")
		if ev != "join" || p.UserID != strings.Split(c.name, "@")[0] || p.ClientID != c.id || p.Channel != room {
			t.Fatalf("alice got %s of %s (%s) on %s, want join of %s", ev, p.UserID, p.ClientID, p.Channel, c.name)
		}
	}
	want := []string{"alice", "bob", "carol"}
	for _, c := range []*client{alice, bob, carol} {
		if got := c.presence(room); got.Count != 3 || !slices.Equal(got.users(), want) {
			t.Fatalf("presence from %s: %+v, want %v", c.name, got, want)
		}
	}
	var d presenceData
	f := apiCall(t, b, http.MethodGet, "/api/presence?appId="+auth.DevAppID+"&channel="+room, nil)
	if err := json.Unmarshal(f.Data, &d); err != nil || !slices.Equal(d.users(), want) {
		t.Fatalf("API presence %s: %v", f.Data, err)
	}

	bob.ok(bob.request("unsubscribe", map[string]any{"channel": room}), nil)
	if ev, p := alice.next("join", "leave"); ev != "leave" || p.UserID != "bob" || p.ClientID != bob.id {
		t.Fatalf("alice got %s of %s (%s), want leave of bob (%s)", ev, p.UserID, p.ClientID, bob.id)
	}
	if ev, p := carol.next("leave"); ev != "leave" || p.UserID != "bob" {
		t.Fatalf("carol got %s of %s", ev, p.UserID)
	}
	if got := carol.presence(room); !slices.Equal(got.users(), []string{"alice", "carol"}) {
		t.Fatalf("presence after bob left: %+v", got)
	}
	// A closed connection leaves too.
	_ = carol.conn.Close(websocket.StatusNormalClosure, "")
	if ev, p := alice.next("join", "leave"); ev != "leave" || p.UserID != "carol" {
		t.Fatalf("alice got %s of %s, want leave of carol", ev, p.UserID)
	}
	if got := alice.presence(room); !slices.Equal(got.users(), []string{"alice"}) {
		t.Fatalf("presence after carol closed: %+v", got)
	}
}

func TestClusterKilledNodePresenceExpires(t *testing.T) {
	rds := redistest.Start(t)
	const ttl = time.Second
	a, b := startNode(t, rds, "a", nodeConfig{presenceTTL: ttl}), startNode(t, rds, "b", nodeConfig{presenceTTL: ttl})
	const room = "presence-lobby"
	alice, bob := dial(t, a, "alice"), dial(t, b, "bob")
	alice.subscribe(room)
	bob.subscribe(room)
	for {
		// Members are added after the subscribe response; the join is announced after that.
		if _, p := alice.next("join"); p.UserID == "bob" {
			break
		}
	}
	if got := alice.presence(room); !slices.Equal(got.users(), []string{"alice", "bob"}) {
		t.Fatalf("presence %+v", got)
	}

	// Node b dies as if killed: its Redis connections drop and its heartbeat stops, with no
	// cleanup. Its member must vanish within the TTL (plus one heartbeat period of slack),
	// and a's subscribers are told.
	killed := time.Now()
	b.eng.Abort()
	deadline := time.Now().Add(readTimeout)
	for {
		got := alice.presence(room)
		if slices.Equal(got.users(), []string{"alice"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed node's member is still listed after %v: %+v", time.Since(killed), got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the killed node's member vanished after %v (presence TTL %v)", time.Since(killed).Round(10*time.Millisecond), ttl)
	for {
		ev, p := alice.next("join", "leave")
		if ev == "leave" {
			if p.UserID != "bob" {
				t.Fatalf("leave of %s, want bob", p.UserID)
			}
			break
		}
	}
}

// TestClusterRedisRestart: subscribers stay connected through a Redis restart; what was
// published while their node was still resubscribing reaches them from history, in order and
// once; after a restart that lost the data, delivery goes on under a new epoch.
func TestClusterRedisRestart(t *testing.T) {
	rds := redistest.Start(t)
	var armed atomic.Bool
	var once sync.Once
	reached, release := make(chan struct{}), make(chan struct{})
	a := startNode(t, rds, "a", nodeConfig{})
	b := startNode(t, rds, "b", nodeConfig{beforeResubscribe: func() {
		if armed.Load() {
			once.Do(func() {
				close(reached)
				<-release
			})
		}
	}})
	sub := dial(t, b, "subscriber")
	first := sub.subscribe("news")
	pub := dial(t, a, "publisher")
	for i := 1; i <= 3; i++ {
		pub.publish("news", i)
	}
	sub.wantMessages("news", 1, 3)

	armed.Store(true)
	rds.Restart(true) // with its data
	select {
	case <-reached:
	case <-time.After(readTimeout):
		t.Fatal("node b did not start resubscribing after the restart")
	}
	// b is not subscribed yet: these are published while it cannot receive them.
	for i := 4; i <= 6; i++ {
		pub.publish("news", i)
	}
	close(release)
	pub.publish("news", 7)
	got := sub.wantMessages("news", 4, 7)
	if got[0].Offset != 4 {
		t.Fatalf("offsets went from 3 to %d across the restart", got[0].Offset)
	}
	waitFor(t, func() bool { st := b.eng.Stats(); return st.Reconnects == 1 && st.Recovered >= 3 && st.Lost == 0 })

	// A client that was away recovers from history through any node.
	late := dial(t, a, "late")
	var rec subscribed
	late.ok(late.request("subscribe", map[string]any{"channel": "news", "recover": true, "offset": 3, "epoch": first.Epoch}), &rec)
	if !rec.Recovered || len(rec.Publications) != 4 || rec.Publications[0].Offset != 4 || rec.Epoch != first.Epoch {
		t.Fatalf("recovery after the restart: %+v", rec)
	}

	// A restart that loses everything: delivery resumes, under a new epoch.
	rds.Restart(false)
	waitFor(t, func() bool { return b.eng.Stats().Reconnects == 2 && b.eng.Stats().Connected })
	pub.publish("news", 8)
	_, p := sub.next("message")
	if string(p.Data) != `{"n":8}` || p.Offset != 1 {
		t.Fatalf("after a restart without data got %s at offset %d, want {\"n\":8} at 1", p.Data, p.Offset)
	}
	var again subscribed
	sub2 := dial(t, a, "again")
	sub2.ok(sub2.request("subscribe", map[string]any{"channel": "news", "recover": true, "offset": 7, "epoch": first.Epoch}), &again)
	if again.Recovered || again.Epoch == first.Epoch || again.Offset != 1 {
		t.Fatalf("recovery across lost history: %+v, want recovered=false under a new epoch", again)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
