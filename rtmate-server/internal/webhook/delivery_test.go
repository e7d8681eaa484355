package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// These tests drive the dispatcher's observer methods directly (as the event loop would)
// against a real HTTP receiver on loopback.

func devInfo(client string) server.ConnInfo {
	return server.ConnInfo{App: auth.DevAppID, ClientID: client, UserID: "user-" + client}
}

// publish reports n messages from client on channel "c", data {"n":i}.
func publish(d *Dispatcher, client string, n int) {
	for i := 0; i < n; i++ {
		d.Published(devInfo(client), "c", []byte(`{"n":`+strconv.Itoa(i)+`}`))
	}
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int // answers in order; later requests get 200
		slowTo   int   // the first slowTo requests never answer (the client times out)
		attempts int   // requests the receiver must see
		sent     uint64
		failed   uint64
		retried  uint64
	}{
		{name: "200 at once", statuses: nil, attempts: 1, sent: 1},
		{name: "500 twice then 200", statuses: []int{500, 500}, attempts: 3, sent: 1, retried: 2},
		{name: "503 then 204", statuses: []int{503}, attempts: 2, sent: 1, retried: 1},
		{name: "timeout then 200", slowTo: 1, attempts: 2, sent: 1, retried: 1},
		{name: "429 is retried", statuses: []int{429}, attempts: 2, sent: 1, retried: 1},
		{name: "400 is not retried", statuses: []int{400}, attempts: 1, failed: 1},
		{name: "404 is not retried", statuses: []int{404}, attempts: 1, failed: 1},
		{name: "redirect is neither followed nor retried", statuses: []int{307}, attempts: 1, failed: 1},
		{name: "500 until retries run out", statuses: []int{500, 500, 500, 500, 500}, attempts: 4, failed: 1, retried: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(ctx context.Context, n int, r *request) int {
				if n < tc.slowTo {
					<-ctx.Done()
					return 0
				}
				if n-tc.slowTo < len(tc.statuses) {
					return tc.statuses[n-tc.slowTo]
				}
				return http.StatusOK
			})
			wh := hookCfg(rc.URL())
			wh.MaxRetries = 3
			if tc.slowTo > 0 {
				wh.Timeout = 300 * time.Millisecond // only as short where a timeout is the point
			}
			d := newTestDispatcher(t, devConfig(t, wh))
			publish(d, "c1", 1)
			eventually(t, "the event settled", func() bool {
				s := stats(d)
				return s.Sent+s.Failed == 1
			})
			s := stats(d)
			reqs := rc.requests()
			if len(reqs) != tc.attempts || s.Sent != tc.sent || s.Failed != tc.failed || s.Retried != tc.retried {
				t.Fatalf("requests %d, stats %+v; want %d requests, sent %d failed %d retried %d",
					len(reqs), s, tc.attempts, tc.sent, tc.failed, tc.retried)
			}
			// Retries carry the same event id (idempotency) and count their attempts.
			for i, r := range reqs {
				if r.events[0].ID != reqs[0].events[0].ID || r.header.Get(HeaderEventID) != reqs[0].events[0].ID {
					t.Errorf("attempt %d: id %q (header %q), want %q", i+1, r.events[0].ID, r.header.Get(HeaderEventID), reqs[0].events[0].ID)
				}
				if got := r.header.Get(HeaderAttempt); got != strconv.Itoa(i+1) {
					t.Errorf("attempt %d: %s = %q", i+1, HeaderAttempt, got)
				}
			}
		})
	}
}

// TestOrderPerConnectionWithRetries: many connections' events through few workers, the
// receiver failing a third of the requests with 500: every connection's events arrive
// complete and in order.
func TestOrderPerConnectionWithRetries(t *testing.T) {
	var n atomic.Int64
	rc := newReceiver(t, func(context.Context, int, *request) int {
		if n.Add(1)%3 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	wh := hookCfg(rc.URL())
	wh.Workers = 3
	wh.MaxRetries = 10
	d := newTestDispatcher(t, devConfig(t, wh))
	const clients, per = 12, 40
	done := make(chan struct{})
	for c := 0; c < clients; c++ {
		go func() { // each connection reports from one goroutine at a time, as its read slot does
			defer func() { done <- struct{}{} }()
			publish(d, fmt.Sprintf("c%d", c), per)
		}()
	}
	for c := 0; c < clients; c++ {
		<-done
	}
	evs := rc.waitEvents(clients * per)
	next := map[string]int{}
	ids := map[string]bool{}
	for _, ev := range evs {
		var data struct{ N int }
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("data %s: %v", ev.Data, err)
		}
		if data.N != next[ev.ClientID] {
			t.Fatalf("%s: got message %d, want %d (out of order)", ev.ClientID, data.N, next[ev.ClientID])
		}
		next[ev.ClientID]++
		if ids[ev.ID] {
			t.Fatalf("event id %s accepted twice", ev.ID)
		}
		ids[ev.ID] = true
	}
	if len(evs) != clients*per {
		t.Fatalf("accepted %d events, want %d", len(evs), clients*per)
	}
	s := stats(d)
	if s.Sent != clients*per || s.Retried == 0 || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestDropsWhenReceiverDown: a receiver that refuses connections; the queue fills, the
// oldest events are dropped and counted (and logged), the caller is never blocked, and
// after Close every event is accounted for.
func TestDropsWhenReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/down"
	_ = ln.Close() // nothing listens there now: connection refused
	wh := hookCfg(url)
	wh.QueueSize, wh.Workers, wh.MaxRetries = 8, 1, 2
	core, logs := observer.New(zap.WarnLevel)
	d := newDispatcher(devConfig(t, wh), zap.New(core), fast)

	const total = 500
	start := time.Now()
	publish(d, "c1", total)
	took := time.Since(start)
	t.Logf("reporting %d events with the receiver down took %v (%v per event)", total, took, took/total)

	mid := stats(d)
	if mid.Dropped < total-8-1 { // at most the queue and the one in flight survive
		t.Fatalf("dropped %d of %d with a queue of 8: %+v", mid.Dropped, total, mid)
	}
	if logs.FilterMessage("webhook queue full: dropping the oldest events").Len() == 0 {
		t.Fatalf("no drop log line; logs: %v", logs.All())
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	s := stats(d)
	if s.Sent+s.Failed+s.Dropped != total || s.Sent != 0 || s.Queued != 0 {
		t.Fatalf("after close: %+v, want sent 0 and failed+dropped = %d", s, total)
	}
	t.Logf("stats: %+v", s)
}

// TestCloseFlushes: Close delivers what is queued before returning.
func TestCloseFlushes(t *testing.T) {
	rc := newReceiver(t, func(context.Context, int, *request) int {
		time.Sleep(2 * time.Millisecond)
		return http.StatusOK
	})
	wh := hookCfg(rc.URL())
	wh.Workers = 2
	d := newDispatcher(devConfig(t, wh), zap.NewNop(), fast)
	publish(d, "a", 50)
	publish(d, "b", 50)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := len(rc.events()); got != 100 {
		t.Fatalf("receiver got %d events before Close returned, want 100", got)
	}
	// After Close, events are counted as dropped, never queued.
	publish(d, "a", 1)
	if s := stats(d); s.Dropped != 1 || s.Sent != 100 {
		t.Fatalf("stats after close: %+v", s)
	}
}

// TestCloseDeadline: a receiver that never answers; Close gives up at its deadline and
// counts what it abandons.
func TestCloseDeadline(t *testing.T) {
	rc := newReceiver(t, block)
	wh := hookCfg(rc.URL())
	wh.Timeout = time.Minute
	wh.Workers = 1
	d := newDispatcher(devConfig(t, wh), zap.NewNop(), fast)
	publish(d, "a", 10)
	eventually(t, "the first request", func() bool { return len(rc.requests()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Close(ctx)
	t.Logf("Close returned after %v: %v", time.Since(start), err)
	if err == nil {
		t.Fatal("Close succeeded with a receiver that never answers")
	}
	if s := stats(d); s.Dropped != 10 || s.Queued != 0 {
		t.Fatalf("stats: %+v, want the 10 events dropped", s)
	}
}

func TestBatching(t *testing.T) {
	gate := make(chan struct{})
	rc := newReceiver(t, func(ctx context.Context, n int, _ *request) int {
		if n == 0 {
			select { // hold the first request so that the rest queue up
			case <-gate:
			case <-ctx.Done():
				return 0
			}
		}
		return http.StatusOK
	})
	wh := hookCfg(rc.URL())
	wh.Workers, wh.BatchSize = 1, 10
	d := newTestDispatcher(t, devConfig(t, wh))
	publish(d, "a", 1)
	eventually(t, "the first request", func() bool { return len(rc.requests()) == 1 })
	publish(d, "a", 25)
	close(gate)
	evs := rc.waitEvents(26)
	reqs := rc.requests()
	t.Logf("26 events in %d requests", len(reqs))
	for i, r := range reqs {
		if r.body[0] != '[' || len(r.events) > 10 || r.header.Get(HeaderEventID) != "" {
			t.Fatalf("request %d: %d events, body starts %q, event id header %q", i, len(r.events), r.body[0], r.header.Get(HeaderEventID))
		}
	}
	if len(reqs) != 4 { // 1, then 10 + 10 + 5
		t.Errorf("%d requests, want 4", len(reqs))
	}
	for i, ev := range evs[1:] {
		if string(ev.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("event %d: data %s", i+1, ev.Data)
		}
	}
}

// TestDenyPrivateAtDial: a hostname that resolves to loopback passes config validation
// but not the dial-time guard; the event fails without a retry and never reaches the
// receiver.
func TestDenyPrivateAtDial(t *testing.T) {
	rc := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rc.srv.Listener.Addr().String())
	wh := hookCfg("http://localhost:" + port + "/hook")
	wh.DenyPrivate = true
	d := newTestDispatcher(t, devConfig(t, wh))
	publish(d, "a", 1)
	eventually(t, "the event failed", func() bool { return stats(d).Failed == 1 })
	if s := stats(d); s.Retried != 0 || len(rc.requests()) != 0 {
		t.Fatalf("stats %+v, receiver got %d requests; want no retry and no request", s, len(rc.requests()))
	}
}

func TestReload(t *testing.T) {
	first := newReceiver(t, nil)
	second := newReceiver(t, nil)
	cfg := devConfig(t, hookCfg(first.URL()))
	d := newTestDispatcher(t, cfg)
	publish(d, "a", 1)
	first.waitEvents(1)

	// The URL and the event selection change in place.
	wh := hookCfg(second.URL())
	wh.Events = []string{"connect"}
	d.Reload(devConfig(t, wh))
	publish(d, "a", 1)
	d.Authenticated(devInfo("a"))
	evs := second.waitEvents(1)
	if evs[0].Event != "connect" {
		t.Fatalf("after reload the receiver got %q, want only connect", evs[0].Event)
	}

	// A new shape (more workers) starts new queues; the counters carry on.
	wh = hookCfg(second.URL())
	wh.Workers = 8
	d.Reload(devConfig(t, wh))
	publish(d, "a", 1)
	second.waitEvents(2)

	// Without a webhook nothing is sent, and the stats stay.
	d.Reload(devConfig(t, nil))
	publish(d, "a", 5)
	d.Authenticated(devInfo("b"))
	time.Sleep(50 * time.Millisecond)
	if got := len(first.events()) + len(second.events()); got != 3 {
		t.Fatalf("receivers got %d events in all, want 3", got)
	}
	if s := stats(d); s.Sent != 3 {
		t.Fatalf("stats after reloads: %+v", s)
	}
}

// TestHookOnlyApp: an app with a connect hook and no URL queues nothing.
func TestHookOnlyApp(t *testing.T) {
	d := newTestDispatcher(t, devConfig(t, &config.Webhook{ConnectHook: "http://127.0.0.1:1/hook", Secret: testSecret}))
	publish(d, "a", 3)
	d.Authenticated(devInfo("a"))
	d.ConnClosed(devInfo("a"), 1000)
	if s := stats(d); s != (AppStats{App: auth.DevAppID}) {
		t.Fatalf("stats: %+v", s)
	}
}

// BenchmarkPublished is the event loop's cost of reporting a message to a webhook whose
// receiver is slower than the benchmark (so the queue is full and drops the oldest).
func BenchmarkPublished(b *testing.B) {
	rc := newReceiver(b, block)
	wh := hookCfg(rc.URL())
	wh.QueueSize = 1024
	d := newTestDispatcher(b, devConfig(b, wh))
	info := devInfo("c1")
	data := []byte(`{"text":"hello, world"}`)
	b.ReportAllocs()
	for b.Loop() {
		d.Published(info, "room", data)
	}
}

// BenchmarkNoWebhook is the cost for an app without a webhook.
func BenchmarkNoWebhook(b *testing.B) {
	d := newTestDispatcher(b, devConfig(b, nil))
	info := devInfo("c1")
	data := []byte(`{"text":"hello, world"}`)
	b.ReportAllocs()
	for b.Loop() {
		d.Published(info, "room", data)
	}
}
