package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
)

// waitFor bounds every wait for something to arrive. It is a failure bound, not a timing
// assertion: generous enough for -race on two noisy cores.
const waitFor = 15 * time.Second

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	pubs   map[ChannelKey][]Publication
	resets map[ChannelKey][]resetNotice
	ping   chan struct{}
}

// resetNotice is one HandleEpochReset call and how many publications of its channel had
// been delivered before it.
type resetNotice struct {
	pos   StreamPosition
	after int
}

func newRecorder() *recorder {
	return &recorder{pubs: make(map[ChannelKey][]Publication), resets: make(map[ChannelKey][]resetNotice), ping: make(chan struct{}, 1)}
}

func (r *recorder) HandleEpochReset(ch ChannelKey, pos StreamPosition) {
	key := ChannelKey{App: strings.Clone(ch.App), Name: strings.Clone(ch.Name)}
	pos.Epoch = strings.Clone(pos.Epoch)
	r.mu.Lock()
	r.resets[key] = append(r.resets[key], resetNotice{pos: pos, after: len(r.pubs[key])})
	r.mu.Unlock()
}

func (r *recorder) getResets(ch ChannelKey) []resetNotice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.resets[ch])
}

func (r *recorder) HandlePublication(ch ChannelKey, pub *Publication) {
	p := *pub
	p.Data = slices.Clone(pub.Data)
	p.ClientID, p.UserID, p.Epoch = strings.Clone(p.ClientID), strings.Clone(p.UserID), strings.Clone(p.Epoch)
	key := ChannelKey{App: strings.Clone(ch.App), Name: strings.Clone(ch.Name)}
	r.mu.Lock()
	r.pubs[key] = append(r.pubs[key], p)
	r.mu.Unlock()
	select {
	case r.ping <- struct{}{}:
	default:
	}
}

func (r *recorder) get(ch ChannelKey) []Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pubs[ch])
}

// wait returns ch's publications once there are at least n.
func (r *recorder) wait(t *testing.T, ch ChannelKey, n int) []Publication {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if got := r.get(ch); len(got) >= n {
			return got
		}
		select {
		case <-r.ping:
		case <-deadline:
			t.Fatalf("%s: got %d publications, want %d: %v", ch.Name, len(r.get(ch)), n, datas(r.get(ch)))
		}
	}
}

func datas(pubs []Publication) []string {
	out := make([]string, len(pubs))
	for i, p := range pubs {
		out[i] = fmt.Sprintf("%d:%s", p.Offset, p.Data)
	}
	return out
}

// waitStats waits until e's stats satisfy ok (the counters and the connection state move on
// the engine's goroutines, after what a test observes through the handler).
func waitStats(t *testing.T, e *Redis, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !ok(e.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", e.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type nodeOpt func(*RedisOptions)

// startRedisEngine starts an engine on rds with a recorder as handler.
func startRedisEngine(t testing.TB, rds *redistest.Server, id string, opts ...nodeOpt) (*Redis, *recorder) {
	t.Helper()
	o := RedisOptions{Address: rds.Addr, NodeID: id, PresenceTTL: time.Second, Timeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	e, err := NewRedis(o, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	rec := newRecorder()
	if err := e.Start(context.Background(), rec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, rec
}

func unsharded(o *RedisOptions) { o.ForceUnsharded = true }

func publishN(t *testing.T, e *Redis, ch ChannelKey, from, to int, hist HistoryOptions) {
	t.Helper()
	for i := from; i <= to; i++ {
		pub := Publication{Kind: KindMessage, Data: fmt.Appendf(nil, `{"n":%d}`, i), ClientID: "c-" + e.NodeID()}
		if _, err := e.Publish(context.Background(), ch, &pub, hist); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// wantSequence checks offsets from..to, each once, in order, with matching data.
func wantSequence(t *testing.T, pubs []Publication, from, to int) {
	t.Helper()
	if len(pubs) != to-from+1 {
		t.Fatalf("got %d publications %v, want offsets %d..%d", len(pubs), datas(pubs), from, to)
	}
	for i, p := range pubs {
		n := from + i
		if p.Offset != uint64(n) || string(p.Data) != fmt.Sprintf(`{"n":%d}`, n) {
			t.Fatalf("publication %d = %d:%s, want %d:{\"n\":%d} (all: %v)", i, p.Offset, p.Data, n, n, datas(pubs))
		}
	}
}

func TestRedisPublishSubscribe(t *testing.T) {
	rds := redistest.Start(t)
	for _, tc := range []struct {
		name string
		opt  nodeOpt
	}{
		{"sharded", func(*RedisOptions) {}},
		{"unsharded", unsharded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, recA := startRedisEngine(t, rds, "a-"+tc.name, tc.opt)
			b, recB := startRedisEngine(t, rds, "b-"+tc.name, tc.opt)
			if tc.name == "sharded" && !a.Sharded() {
				t.Log("redis-server older than 7: sharded pub/sub not available, both cases run unsharded")
			}
			ch := ChannelKey{App: "app", Name: "news-" + tc.name}
			other := ChannelKey{App: "other-app", Name: ch.Name}
			for _, e := range []*Redis{a, b} {
				if err := e.Subscribe(context.Background(), ch); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Subscribe(context.Background(), other); err != nil {
				t.Fatal(err)
			}
			hist := HistoryOptions{Size: 100}

			// Concurrent publishers from both nodes: Redis orders them, and both nodes see
			// that one order with offsets 1..n.
			const perNode = 100
			var wg sync.WaitGroup
			for _, e := range []*Redis{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perNode; i++ {
						pub := Publication{Kind: KindMessage, Data: []byte(`"x"`), ClientID: e.NodeID()}
						if _, err := e.Publish(context.Background(), ch, &pub, hist); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			gotA, gotB := recA.wait(t, ch, 2*perNode), recB.wait(t, ch, 2*perNode)
			for i := range gotB {
				if gotB[i].Offset != uint64(i+1) {
					t.Fatalf("node b: publication %d has offset %d", i, gotB[i].Offset)
				}
				if gotA[i].Offset != gotB[i].Offset || gotA[i].ClientID != gotB[i].ClientID {
					t.Fatalf("nodes disagree at %d: %+v vs %+v", i, gotA[i], gotB[i])
				}
			}

			// Join and leave travel the same way, without offsets, in order with messages.
			join := Publication{Kind: KindJoin, ClientID: "c1", UserID: "alice"}
			if _, err := a.Publish(context.Background(), ch, &join, hist); err != nil {
				t.Fatal(err)
			}
			msg := Publication{Kind: KindMessage, Data: []byte(`{"after":"join"}`), ClientID: "c1"}
			if _, err := a.Publish(context.Background(), ch, &msg, hist); err != nil {
				t.Fatal(err)
			}
			got := recB.wait(t, ch, 2*perNode+2)[2*perNode:]
			if got[0].Kind != KindJoin || got[0].UserID != "alice" || got[0].ClientID != "c1" || got[0].Offset != 0 {
				t.Fatalf("join = %+v", got[0])
			}
			if got[1].Kind != KindMessage || got[1].Offset != 2*perNode+1 || string(got[1].Data) != `{"after":"join"}` {
				t.Fatalf("message after join = %+v", got[1])
			}

			// Apps never meet: other-app's channel of the same name saw nothing.
			if n := len(recB.get(other)); n != 0 {
				t.Fatalf("other app's channel got %d publications", n)
			}

			// Without history: no offsets, still delivered in order.
			noHist := ChannelKey{App: "app", Name: "nohist-" + tc.name}
			if err := b.Subscribe(context.Background(), noHist); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 5; i++ {
				pub := Publication{Kind: KindMessage, Data: fmt.Appendf(nil, `{"n":%d}`, i)}
				pos, err := a.Publish(context.Background(), noHist, &pub, HistoryOptions{})
				if err != nil || pos.Offset != 0 || pub.Offset != 0 {
					t.Fatalf("publish without history: %+v, %v", pos, err)
				}
			}
			for i, p := range recB.wait(t, noHist, 5) {
				if p.Offset != 0 || string(p.Data) != fmt.Sprintf(`{"n":%d}`, i+1) {
					t.Fatalf("no-history publication %d = %+v", i, p)
				}
			}

			// Unsubscribe stops delivery; a new subscription starts after what was missed.
			if err := b.Unsubscribe(context.Background(), ch); err != nil {
				t.Fatal(err)
			}
			waitSubscribers(t, rds, a, ch, 1) // Unsubscribe does not wait for Redis
			before := len(recB.get(ch))
			publishN(t, a, ch, 1000, 1000, hist) // while b is not subscribed
			if err := b.Subscribe(context.Background(), ch); err != nil {
				t.Fatal(err)
			}
			marker := Publication{Kind: KindMessage, Data: []byte(`"marker"`)}
			if _, err := a.Publish(context.Background(), ch, &marker, hist); err != nil {
				t.Fatal(err)
			}
			got = recB.wait(t, ch, before+1)[before:]
			if len(got) != 1 || string(got[0].Data) != `"marker"` {
				t.Fatalf("after resubscribing got %v, want only the marker", datas(got))
			}
			if st := b.Stats(); st.Errors != 0 || !st.Connected || st.Channels != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// waitSubscribers waits until ch's pub/sub channel has n subscribed nodes.
func waitSubscribers(t *testing.T, rds *redistest.Server, e *Redis, ch ChannelKey, n int) {
	t.Helper()
	cmd := "SHARDNUMSUB"
	if !e.Sharded() {
		cmd = "NUMSUB"
	}
	topic := e.keys.topic(ch)
	want := fmt.Sprintf("%s %d", topic, n)
	deadline := time.Now().Add(waitFor)
	for {
		got := rds.MustDo("PUBSUB", cmd, topic)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUBSUB %s = %q, want %q", cmd, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisHistory(t *testing.T) {
	rds := redistest.Start(t)
	e, _ := startRedisEngine(t, rds, "h")
	ctx := context.Background()
	ch := ChannelKey{App: "app", Name: "hist"}

	// A channel read before its first publication gets its epoch then, and keeps it: a
	// client that subscribed early can recover later.
	pubs, pos0, err := e.History(ctx, ch, 0, 10)
	if err != nil || len(pubs) != 0 || pos0.Offset != 0 || pos0.Epoch == "" {
		t.Fatalf("empty channel: %v %+v %v", pubs, pos0, err)
	}
	hist := HistoryOptions{Size: 5}
	var last StreamPosition
	for i := 1; i <= 10; i++ {
		pub := Publication{Kind: KindMessage, Data: fmt.Appendf(nil, `{"n":%d}`, i), ClientID: "client-1"}
		if last, err = e.Publish(ctx, ch, &pub, hist); err != nil {
			t.Fatal(err)
		}
		if last.Offset != uint64(i) || pub.Offset != uint64(i) || last.Epoch != pos0.Epoch {
			t.Fatalf("publish %d: position %+v, pub.Offset %d", i, last, pub.Offset)
		}
	}
	for _, tc := range []struct {
		name         string
		since        uint64
		limit        int
		wantFrom, to int
	}{
		{"all kept (size 5)", 0, 0, 6, 10},
		{"since inside", 7, 0, 8, 10},
		{"since and limit", 7, 2, 8, 9},
		{"limit", 0, 3, 6, 8},
		{"since at end", 10, 0, 11, 10},
		{"since beyond end", 50, 10, 51, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubs, pos, err := e.History(ctx, ch, tc.since, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if pos != last {
				t.Fatalf("position %+v, want %+v", pos, last)
			}
			wantSequence(t, pubs, tc.wantFrom, tc.to)
			for _, p := range pubs {
				if p.ClientID != "client-1" || p.Kind != KindMessage {
					t.Fatalf("publication %+v", p)
				}
			}
		})
	}

	t.Run("ttl", func(t *testing.T) {
		ch := ChannelKey{App: "app", Name: "short"}
		publishN(t, e, ch, 1, 3, HistoryOptions{Size: 10, TTLSeconds: 1})
		deadline := time.Now().Add(waitFor)
		for {
			pubs, pos, err := e.History(ctx, ch, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pubs) == 0 {
				// History expired; the position outlives it, so clients can tell they missed
				// something rather than seeing a new epoch.
				if pos.Offset != 3 || pos.Epoch == "" {
					t.Fatalf("position after expiry %+v", pos)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("history did not expire: %v", datas(pubs))
			}
			time.Sleep(100 * time.Millisecond)
		}
		publishN(t, e, ch, 4, 4, HistoryOptions{Size: 10, TTLSeconds: 1})
		pubs, _, err := e.History(ctx, ch, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantSequence(t, pubs, 4, 4)
	})
}

func TestRedisEpochChangesWhenHistoryIsLost(t *testing.T) {
	rds := redistest.Start(t)
	e, rec := startRedisEngine(t, rds, "ep")
	ctx := context.Background()
	ch := ChannelKey{App: "app", Name: "ep"}
	if err := e.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	hist := HistoryOptions{Size: 10}
	publishN(t, e, ch, 1, 3, hist)
	_, pos1, err := e.History(ctx, ch, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	epochs := []string{pos1.Epoch, pos1.Epoch, pos1.Epoch}

	for _, tc := range []struct {
		name string
		lose func()
	}{
		{"flushall", func() { rds.MustDo("FLUSHALL") }},
		{"restart without persistence", func() { rds.Restart(false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lose()
			// The engine's shared connection may need a moment after a restart.
			var pos StreamPosition
			var pub Publication
			deadline := time.Now().Add(waitFor)
			for {
				pub = Publication{Kind: KindMessage, Data: []byte(`{"n":1}`)}
				if pos, err = e.Publish(ctx, ch, &pub, hist); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("publish after %s: %v", tc.name, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if pos.Offset != 1 || pos.Epoch == pos1.Epoch || pos.Epoch == "" || pub.Offset != 1 || pub.Epoch != pos.Epoch {
				t.Fatalf("after %s: position %+v, publication at %d/%q, old %+v: want offset 1 and a new epoch",
					tc.name, pos, pub.Offset, pub.Epoch, pos1)
			}
			pubs, hpos, err := e.History(ctx, ch, 0, 0)
			if err != nil || hpos != pos {
				t.Fatalf("history position %+v, %v; want %+v", hpos, err, pos)
			}
			wantSequence(t, pubs, 1, 1)
			if pubs[0].Epoch != pos.Epoch {
				t.Fatalf("history publication of epoch %q, want %q", pubs[0].Epoch, pos.Epoch)
			}
			pos1 = pos
			epochs = append(epochs, pos.Epoch)
		})
	}
	// Delivery went on through both losses: the restart was followed by a resubscription.
	got := rec.wait(t, ch, 5)
	var offs []uint64
	var gotEpochs []string
	for _, p := range got {
		offs = append(offs, p.Offset)
		gotEpochs = append(gotEpochs, p.Epoch)
	}
	if !slices.Equal(offs, []uint64{1, 2, 3, 1, 1}) {
		t.Fatalf("delivered offsets %v, want [1 2 3 1 1]", offs)
	}
	if !slices.Equal(gotEpochs, epochs) {
		t.Fatalf("delivered epochs %q, want %q", gotEpochs, epochs)
	}
	waitStats(t, e, func(st Stats) bool { return st.Reconnects >= 1 && st.Connected })
}

// killClients drops every connection of a node, like a network failure between it and Redis.
func killClients(t *testing.T, rds *redistest.Server, nodeID string) {
	t.Helper()
	list := rds.MustDo("CLIENT", "LIST")
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name=rtmate-"+nodeID+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if _, err := rds.Do("CLIENT", "KILL", "ID", id); err == nil {
					killed++
				}
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no connection of node %s in CLIENT LIST:\n%s", nodeID, list)
	}
}

func TestRedisReconnectReplaysMissedPublications(t *testing.T) {
	rds := redistest.Start(t)
	pubr, _ := startRedisEngine(t, rds, "pub")

	// The subscriber's resubscription waits, once armed, until the test has published what
	// it is to miss.
	var armed sync.Once
	reached, release := make(chan struct{}), make(chan struct{})
	var arm bool
	var armMu sync.Mutex
	o := RedisOptions{Address: rds.Addr, NodeID: "sub", PresenceTTL: time.Second}
	sub, err := NewRedis(o, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	sub.SetBeforeResubscribe(func() {
		armMu.Lock()
		a := arm
		armMu.Unlock()
		if a {
			armed.Do(func() {
				close(reached)
				<-release
			})
		}
	})
	rec := newRecorder()
	if err := sub.Start(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })

	ctx := context.Background()
	hist := HistoryOptions{Size: 100}
	quiet := ChannelKey{App: "app", Name: "quiet"} // no publication before the failure
	busy := ChannelKey{App: "app", Name: "busy"}
	for _, ch := range []ChannelKey{quiet, busy} {
		if err := sub.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, pubr, busy, 1, 3, hist)
	rec.wait(t, busy, 3)

	armMu.Lock()
	arm = true
	armMu.Unlock()
	killClients(t, rds, "sub")
	select {
	case <-reached:
	case <-time.After(waitFor):
		t.Fatal("the subscriber did not start reconnecting")
	}
	publishN(t, pubr, busy, 4, 6, hist)
	publishN(t, pubr, quiet, 1, 2, hist)
	close(release)

	wantSequence(t, rec.wait(t, quiet, 2), 1, 2)
	publishN(t, pubr, busy, 7, 7, hist)
	wantSequence(t, rec.wait(t, busy, 7), 1, 7)
	// 7 may be replayed too, when the replay of busy runs after it was published (its live
	// copy is then a dropped duplicate).
	waitStats(t, sub, func(st Stats) bool {
		return st.Reconnects == 1 && st.Recovered >= 5 && st.Lost == 0 && st.Connected
	})
}

// TestRedisBacklogBound: past MaxBacklog, arrivals are dropped and their channels replayed
// from history, in order and once; channels without history lose them.
func TestRedisBacklogBound(t *testing.T) {
	rds := redistest.Start(t)
	pubr, _ := startRedisEngine(t, rds, "pub")
	sub, rec := startRedisEngine(t, rds, "sub", func(o *RedisOptions) { o.MaxBacklog = 1 }) // drops everything
	ctx := context.Background()
	hist, plain := ChannelKey{App: "app", Name: "hist"}, ChannelKey{App: "app", Name: "plain"}
	for _, ch := range []ChannelKey{hist, plain} {
		if err := sub.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, pubr, hist, 1, 50, HistoryOptions{Size: 100})
	publishN(t, pubr, plain, 1, 5, HistoryOptions{})
	wantSequence(t, rec.wait(t, hist, 50), 1, 50)
	waitStats(t, sub, func(st Stats) bool { return st.Dropped == 55 && st.Recovered == 50 && st.Backlog == 0 })
	if n := len(rec.get(plain)); n != 0 {
		t.Fatalf("%d publications without history delivered past a full backlog", n)
	}
}

func TestRedisPresence(t *testing.T) {
	rds := redistest.Start(t)
	a, recA := startRedisEngine(t, rds, "pa")
	b, _ := startRedisEngine(t, rds, "pb")
	ctx := context.Background()
	ch := ChannelKey{App: "app", Name: "presence-room"}
	if err := a.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}

	members := func(e *Redis) []ClientInfo {
		t.Helper()
		m, err := e.Presence(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(m, func(x, y ClientInfo) int { return strings.Compare(x.ClientID, y.ClientID) })
		return m
	}
	for _, step := range []struct {
		e    *Redis
		info ClientInfo
	}{
		{a, ClientInfo{ClientID: "a-1", UserID: "alice"}},
		{a, ClientInfo{ClientID: "a-2", UserID: "user:with:colons"}},
		{b, ClientInfo{ClientID: "b-1", UserID: "bob"}},
		{b, ClientInfo{ClientID: "b-1", UserID: "bob"}}, // idempotent
	} {
		if err := step.e.AddPresence(ctx, ch, step.info); err != nil {
			t.Fatal(err)
		}
	}
	want := []ClientInfo{{"a-1", "alice"}, {"a-2", "user:with:colons"}, {"b-1", "bob"}}
	for _, e := range []*Redis{a, b} {
		if got := members(e); !slices.Equal(got, want) {
			t.Fatalf("presence on %s = %v, want %v", e.NodeID(), got, want)
		}
	}
	if err := a.RemovePresence(ctx, ch, "a-2"); err != nil {
		t.Fatal(err)
	}
	want = []ClientInfo{{"a-1", "alice"}, {"b-1", "bob"}}
	if got := members(b); !slices.Equal(got, want) {
		t.Fatalf("after remove: %v, want %v", got, want)
	}

	// Node b dies without cleaning up: its member vanishes within the presence TTL (1s here),
	// and the node that notices announces the leave.
	b.Abort()
	want = []ClientInfo{{"a-1", "alice"}}
	deadline := time.Now().Add(waitFor)
	for !slices.Equal(members(a), want) {
		if time.Now().After(deadline) {
			t.Fatalf("dead node's member still listed: %v", members(a))
		}
		time.Sleep(100 * time.Millisecond)
	}
	leave := recA.wait(t, ch, 1)[0]
	if id, _, once := MemberParts(leave.UserID); leave.Kind != KindLeave || leave.ClientID != "b-1" || id != "bob" || !once {
		t.Fatalf("leave = %+v", leave)
	}
	if got := rds.MustDo("HKEYS", a.keys.presence(ch)); got != "a-1" {
		t.Fatalf("presence hash fields %q: the dead member should have been deleted", got)
	}

	// A Redis restart that loses presence: the heartbeat notices and writes this node's
	// members back.
	rds.Restart(false)
	deadline = time.Now().Add(waitFor)
	for {
		if m, err := a.Presence(ctx, ch); err == nil && slices.Equal(m, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members not restored after a redis restart: %v", members(a))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A clean Close removes the heartbeat at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rds.MustDo("EXISTS", a.keys.node(a.NodeID())); n != "0" {
		t.Fatalf("heartbeat key still exists after Close")
	}
}

func TestRedisStartFailsWithoutRedis(t *testing.T) {
	rds := redistest.Start(t)
	addr := rds.Addr
	rds.Stop(false)
	if _, err := NewRedis(RedisOptions{Address: addr, Timeout: time.Second}, nil); err == nil {
		t.Fatal("NewRedis succeeded without a redis")
	}
}

func TestRedisOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RedisOptions
		ok   bool
	}{
		{"defaults", RedisOptions{Address: "127.0.0.1:1"}, true},
		{"no address", RedisOptions{}, false},
		{"brace in prefix", RedisOptions{Address: "x:1", KeyPrefix: "a{b}"}, false},
		{"colon in node id", RedisOptions{Address: "x:1", NodeID: "a:b"}, false},
		{"tiny presence ttl", RedisOptions{Address: "x:1", PresenceTTL: time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.o.withDefaults()
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (o.KeyPrefix != "rtmate:" || o.PresenceTTL != 30*time.Second || o.NodeID == "" || o.MetaTTL != 24*time.Hour) {
				t.Fatalf("defaults %+v", o)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	for _, typ := range []string{"", "memory"} {
		e, err := FromConfig(config.Engine{Type: typ}, "", log)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.(*Memory); !ok {
			t.Fatalf("type %q gave %T", typ, e)
		}
	}
	if _, err := FromConfig(config.Engine{Type: "etcd"}, "", log); err == nil {
		t.Fatal("unknown type accepted")
	}
	rds := redistest.Start(t)
	e, err := FromConfig(config.Engine{Type: "redis", Redis: config.Redis{Address: rds.Addr, KeyPrefix: "x:", PresenceTTL: 2 * time.Second}}, "node-7", log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	r, ok := e.(*Redis)
	if !ok || r.NodeID() != "node-7" || r.keys.prefix != "x:" || r.opts.PresenceTTL != 2*time.Second {
		t.Fatalf("FromConfig(redis) = %T %+v", e, r.opts)
	}
}

// handlerFunc adapts a function to Handler.
type handlerFunc func(ChannelKey, *Publication)

func (f handlerFunc) HandlePublication(ch ChannelKey, pub *Publication) { f(ch, pub) }

func (handlerFunc) HandleEpochReset(ChannelKey, StreamPosition) {}

// BenchmarkRedisPublishToDelivery measures one publication's round trip through Redis: the
// publish script on one node, pub/sub, decoding and the handler call on another.
func BenchmarkRedisPublishToDelivery(b *testing.B) {
	rds := redistest.Start(b)
	log := zap.NewNop()
	pubr, err := NewRedis(RedisOptions{Address: rds.Addr, NodeID: "bp"}, log)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := NewRedis(RedisOptions{Address: rds.Addr, NodeID: "bs"}, log)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan uint64, 1)
	if err := pubr.Start(context.Background(), handlerFunc(func(ChannelKey, *Publication) {})); err != nil {
		b.Fatal(err)
	}
	if err := sub.Start(context.Background(), handlerFunc(func(_ ChannelKey, p *Publication) { got <- p.Offset })); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pubr.Close(); _ = sub.Close() })
	ch := ChannelKey{App: "app", Name: "bench"}
	if err := sub.Subscribe(context.Background(), ch); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"text":"hello, this is a 64 byte message for the benchmark!!"}`)
	for _, tc := range []struct {
		name    string
		hist    HistoryOptions
		lineage string // "1": the run-id check of cluster and sentinel modes
	}{{"history", HistoryOptions{Size: 100}, "0"}, {"history-lineage", HistoryOptions{Size: 100}, "1"}, {"no-history", HistoryOptions{}, "0"}} {
		b.Run(tc.name, func(b *testing.B) {
			pubr.lineageArg = tc.lineage
			b.ReportAllocs()
			for b.Loop() {
				pub := Publication{Kind: KindMessage, Data: data, ClientID: "bp-1"}
				if _, err := pubr.Publish(context.Background(), ch, &pub, tc.hist); err != nil {
					b.Fatal(err)
				}
				<-got
			}
		})
	}
}

// BenchmarkRedisDeliveryDecode measures a node's receiving side per publication: splitting
// and decoding the payload, the order/duplicate check, the handler call. It allocates
// nothing in steady state.
func BenchmarkRedisDeliveryDecode(b *testing.B) {
	e := &Redis{log: zap.NewNop(), handler: handlerFunc(func(ChannelKey, *Publication) {})}
	d := newDelivery(e, 1<<20)
	ch := ChannelKey{App: "app", Name: "bench"}
	body := string(appendBody(nil, &Publication{Kind: KindMessage, Data: []byte(`{"text":"hello"}`), ClientID: "n1-1"}))
	// Two epochs alternate, so offsets stay consecutive without building payloads in the loop.
	const n = 1024
	var payloads [2][n]string
	for e := range payloads {
		for i := range payloads[e] {
			payloads[e][i] = fmt.Sprintf("%d:epoch%d:%s", i+1, e, body)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.message(ch, payloads[(i/n)%2][i%n])
		i++
	}
}

// TestRedisMemberAnnouncer: JoinMember and LeaveMember decide, with the change, whether a
// user's join or leave is news, and publish it so flagged; members of other nodes count, a
// member that is not this node's is left alone, and a dead node's member is reaped as news
// only when its user has no member left.
func TestRedisMemberAnnouncer(t *testing.T) {
	rds := redistest.Start(t)
	a, rec := startRedisEngine(t, rds, "ma")
	b, _ := startRedisEngine(t, rds, "mb")
	ctx := context.Background()
	ch := ChannelKey{App: "app", Name: "presence-members"}
	if err := a.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	u := StoredMember("u", []byte(`{"n":1}`))
	steps := []struct {
		name     string
		do       func() (bool, error)
		kind     Kind
		client   string
		user     string
		wantOnce bool
	}{
		{"u's first", func() (bool, error) { return a.JoinMember(ctx, ch, ClientInfo{ClientID: "a-1", UserID: u}) }, KindJoin, "a-1", "u", true},
		{"u again, on b", func() (bool, error) { return b.JoinMember(ctx, ch, ClientInfo{ClientID: "b-1", UserID: u}) }, KindJoin, "b-1", "u", false},
		{"a user whose id u prefixes", func() (bool, error) {
			return b.JoinMember(ctx, ch, ClientInfo{ClientID: "b-2", UserID: StoredMember("uu", nil)})
		}, KindJoin, "b-2", "uu", true},
		{"a native member", func() (bool, error) { return a.JoinMember(ctx, ch, ClientInfo{ClientID: "a-2", UserID: "native"}) }, KindJoin, "a-2", "native", true},
		{"u leaves a", func() (bool, error) { once, _, err := a.LeaveMember(ctx, ch, "a-1"); return once, err }, KindLeave, "a-1", "u", false},
		{"u's last", func() (bool, error) { once, _, err := b.LeaveMember(ctx, ch, "b-1"); return once, err }, KindLeave, "b-1", "u", true},
	}
	for i, st := range steps {
		once, err := st.do()
		if err != nil || once != st.wantOnce {
			t.Fatalf("%s: once %v, %v; want %v", st.name, once, err, st.wantOnce)
		}
		p := rec.wait(t, ch, i+1)[i]
		id, _, pubOnce := MemberParts(p.UserID)
		if p.Kind != st.kind || p.ClientID != st.client || id != st.user || pubOnce != st.wantOnce {
			t.Fatalf("%s: published %+v", st.name, p)
		}
	}
	if _, ok, err := a.LeaveMember(ctx, ch, "b-2"); ok || err != nil {
		t.Fatalf("a removed b's member: ok %v, %v", ok, err)
	}

	// u on both nodes, b dies: its member is reaped, and u's leave is no news while a's is there.
	for _, j := range []struct {
		e  *Redis
		id string
	}{{a, "a-1"}, {b, "b-1"}} {
		if _, err := j.e.JoinMember(ctx, ch, ClientInfo{ClientID: j.id, UserID: u}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(rec.wait(t, ch, len(steps)+2))
	b.Abort()
	deadline := time.Now().Add(waitFor)
	for {
		m, err := a.Presence(ctx, ch)
		if err == nil && len(m) == 2 { // a-1 and a-2
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's members still listed: %v %v", m, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pubs := rec.wait(t, ch, before+2) // b-1 and b-2 reaped
	for _, p := range pubs[before:] {
		id, _, once := MemberParts(p.UserID)
		if p.Kind != KindLeave || once != (id == "uu") {
			t.Fatalf("reaped %+v: once %v", p, once)
		}
	}
}
