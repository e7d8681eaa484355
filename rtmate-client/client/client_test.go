package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-client/client"
)

// recorder collects callbacks for assertions.
type recorder struct {
	mu     sync.Mutex
	msgs   []protocol.Publication
	states []client.StateChange
	subs   []client.SubscribedEvent
	errs   []error
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) handlers() client.Handlers {
	return client.Handlers{
		OnMessage: func(p protocol.Publication) {
			r.mu.Lock()
			r.msgs = append(r.msgs, p)
			r.mu.Unlock()
			r.poke()
		},
		OnSubscribed: func(ev client.SubscribedEvent) {
			r.mu.Lock()
			r.subs = append(r.subs, ev)
			r.mu.Unlock()
			r.poke()
		},
		OnError: func(err error) {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			r.poke()
		},
	}
}

func (r *recorder) onState(ch client.StateChange) {
	r.mu.Lock()
	r.states = append(r.states, ch)
	r.mu.Unlock()
	r.poke()
}

// waitFor polls cond (under r.mu) until it holds or 10 s pass.
func (r *recorder) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; states %v, msgs %d, errs %v", what, r.states, len(r.msgs), r.errs)
		}
	}
}

func (r *recorder) offsets() []uint64 {
	var out []uint64
	for _, m := range r.msgs {
		out = append(out, m.Offset)
	}
	return out
}

func testConfig(url string, rec *recorder) client.Config {
	return client.Config{
		URL:   url,
		AppID: "demo-app",
		GetToken: func(context.Context) (string, error) {
			return fakeToken(time.Now().Add(time.Hour)), nil
		},
		ReconnectMin:  10 * time.Millisecond,
		ReconnectMax:  50 * time.Millisecond,
		OnStateChange: rec.onState,
	}
}

func dial(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRequestErrors(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		switch req.channel() {
		case "forbidden":
			fc.reply(req, 403, "无权限", "null")
		case "big":
			fc.reply(req, 413, "消息过大", "null")
		case "silent":
		default:
			return false
		}
		return true
	})
	rec := newRecorder()
	cfg := testConfig(srv.URL, rec)
	cfg.RequestTimeout = 200 * time.Millisecond
	c := dial(t, cfg)
	tests := []struct {
		name    string
		channel string
		want    error
	}{
		{"ok", "news", nil},
		{"forbidden", "forbidden", client.ErrForbidden},
		{"too large", "big", client.ErrMessageTooLarge},
		{"no response", "silent", client.ErrTimeout},
		{"bad channel", "no spaces", client.ErrInvalidChannel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Publish(ctx10(t), tt.channel, map[string]int{"n": 1})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Publish = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("error value", func(t *testing.T) {
		_, err := c.Publish(ctx10(t), "forbidden", 1)
		var e *client.Error
		if !errors.As(err, &e) || e.Code != 403 || e.Message != "无权限" || e.Event != "messageSend" {
			t.Fatalf("error = %#v", err)
		}
		if !errors.Is(err, protocol.NewError(protocol.Forbidden, nil)) {
			t.Error("errors.Is against protocol.RtWsError failed")
		}
		if code, ok := e.BizCode(); !ok || code != protocol.Forbidden {
			t.Errorf("BizCode = %v %v", code, ok)
		}
	})
	t.Run("invalid raw data", func(t *testing.T) {
		_, err := c.Publish(ctx10(t), "news", json.RawMessage(`{"a":`))
		if !errors.Is(err, client.ErrInvalidData) {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestRawDataSentByteForByte(t *testing.T) {
	srv := newFakeServer(t, nil)
	c := dial(t, testConfig(srv.URL, newRecorder()))
	raw := json.RawMessage(`{ "spaced" :  [1, 2] }`)
	if _, err := c.Publish(ctx10(t), "news", raw); err != nil {
		t.Fatal(err)
	}
	req := srv.conn(1).nextRequest(t, "messageSend")
	var p struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(req.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != string(raw) {
		t.Fatalf("server got %s, want %s", p.Data, raw)
	}
}

func TestAuthRejected(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event == "auth" {
			fc.reply(req, 401, "无效的 token", "null")
			return true
		}
		return false
	})
	_, err := client.Dial(ctx10(t), testConfig(srv.URL, newRecorder()))
	if !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("Dial = %v, want ErrInvalidToken", err)
	}
}

// TestResponsesOutOfOrder answers publishes in reverse order: each caller must get its own
// response, matched by id.
func TestResponsesOutOfOrder(t *testing.T) {
	const n = 16
	var (
		mu   sync.Mutex
		held []fakeRequest
	)
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event != "messageSend" {
			return false
		}
		mu.Lock()
		held = append(held, req)
		if len(held) == n {
			for i := len(held) - 1; i >= 0; i-- {
				var p struct {
					Data int `json:"data"`
				}
				_ = json.Unmarshal(held[i].Payload, &p)
				fc.reply(held[i], 200, "success", fmt.Sprintf(`{"channel":"c","offset":%d}`, p.Data))
			}
			held = nil
		}
		mu.Unlock()
		return true
	})
	c := dial(t, testConfig(srv.URL, newRecorder()))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			res, err := c.Publish(ctx10(t), "c", i)
			if err == nil && res.Offset != uint64(i) {
				err = fmt.Errorf("publish %d got offset %d", i, res.Offset)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestRecovery drops the connection after two publications; on the new connection a push
// overtakes the subscribe response, whose recovery list overlaps it. Every publication must
// arrive once, in order.
func TestRecovery(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event != "subscribe" {
			return false
		}
		switch fc.n {
		case 1:
			fc.reply(req, 200, "success", `{"channel":"room","epoch":"e1","offset":0}`)
			fc.push("room", `"m1"`, 1)
			fc.push("room", `"m2"`, 2)
			go func() {
				time.Sleep(50 * time.Millisecond)
				fc.closeWith(1001, "shutting down")
			}()
		default:
			var p protocol.SubscribePayload
			_ = json.Unmarshal(req.Payload, &p)
			if !p.Recover || p.Offset != 2 || p.Epoch != "e1" {
				fc.reply(req, 400, "参数错误", "null")
				return true
			}
			fc.push("room", `"m5"`, 5)
			fc.reply(req, 200, "success", `{"channel":"room","epoch":"e1","offset":5,"recovered":true,"publications":[`+
				`{"data":"m3","from":"x","offset":3},{"data":"m4","from":"x","offset":4},{"data":"m5","from":"x","offset":5}]}`)
			fc.push("room", `"m6"`, 6)
		}
		return true
	})
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	if _, err := c.Subscribe(ctx10(t), "room", rec.handlers()); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "six messages", func() bool { return len(rec.msgs) >= 6 })
	time.Sleep(50 * time.Millisecond) // a duplicate would show up now
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got, want := rec.offsets(), []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
	for i, m := range rec.msgs {
		if want := strconv.Quote(fmt.Sprintf("m%d", i+1)); string(m.Data) != want || m.Channel != "room" {
			t.Errorf("message %d = %s on %q", i, m.Data, m.Channel)
		}
	}
	if len(rec.subs) != 2 || rec.subs[0].Resubscribed || !rec.subs[1].Resubscribed || !rec.subs[1].Recovered {
		t.Errorf("subscribed events %+v", rec.subs)
	}
	var sawGoingAway bool
	for _, st := range rec.states {
		var ce *client.CloseError
		if st.To == client.StateConnecting && errors.As(st.Err, &ce) && ce.Code == client.CloseGoingAway {
			sawGoingAway = true
		}
	}
	if !sawGoingAway {
		t.Errorf("no state change carrying close code 1001: %v", rec.states)
	}
}

// TestResyncPush: the channel's epoch changes while the client stays connected (a Redis
// failover). The resync push is reported like a resubscription that could not recover, the
// new epoch's offsets are not taken for duplicates (they may restart at 1), and the next
// recovery asks for the new epoch from the last offset delivered in it.
func TestResyncPush(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event != "subscribe" {
			return false
		}
		if fc.n == 1 {
			fc.reply(req, 200, "success", `{"channel":"room","epoch":"e1","offset":7}`)
			fc.push("room", `8`, 8)
			fc.send(`{"code":200,"message":"success","event":"resync","data":{"channel":"room","epoch":"e2","offset":0}}`)
			fc.push("room", `1`, 1)
			fc.push("room", `2`, 2)
			// The same epoch again (another node's notice, say): nothing to tell.
			fc.send(`{"code":200,"message":"success","event":"resync","data":{"channel":"room","epoch":"e2","offset":0}}`)
			go func() {
				time.Sleep(50 * time.Millisecond)
				fc.closeWith(1001, "")
			}()
			return true
		}
		var p protocol.SubscribePayload
		_ = json.Unmarshal(req.Payload, &p)
		if !p.Recover || p.Offset != 2 || p.Epoch != "e2" {
			fc.reply(req, 400, "参数错误", "null")
			return true
		}
		fc.reply(req, 200, "success", `{"channel":"room","epoch":"e2","offset":3,"recovered":true,"publications":[{"data":3,"from":"x","offset":3}]}`)
		return true
	})
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	if _, err := c.Subscribe(ctx10(t), "room", rec.handlers()); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "four messages and three subscribed events", func() bool { return len(rec.msgs) >= 4 && len(rec.subs) >= 3 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.offsets(); !slices.Equal(got, []uint64{8, 1, 2, 3}) {
		t.Fatalf("offsets %v, want [8 1 2 3]", got)
	}
	want := client.SubscribedEvent{Channel: "room", Resubscribed: true, Epoch: "e2", Reason: client.ReasonResync}
	if len(rec.subs) != 3 || rec.subs[1] != want || !rec.subs[2].Recovered || rec.subs[2].Reason != "" {
		t.Errorf("subscribed events %+v, want the second %+v", rec.subs, want)
	}
}

// TestNewEpochNotRecovered: after a server restart the stream starts again from offset 1
// in a new epoch; those publications must not be taken for duplicates.
func TestNewEpochNotRecovered(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event != "subscribe" {
			return false
		}
		if fc.n == 1 {
			fc.reply(req, 200, "success", `{"channel":"room","epoch":"e1","offset":7}`)
			fc.push("room", `8`, 8)
			go fc.closeWith(1001, "")
			return true
		}
		fc.reply(req, 200, "success", `{"channel":"room","epoch":"e2","offset":0,"recovered":false}`)
		fc.push("room", `1`, 1)
		return true
	})
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	if _, err := c.Subscribe(ctx10(t), "room", rec.handlers()); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "two messages", func() bool { return len(rec.msgs) >= 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.offsets(); !slices.Equal(got, []uint64{8, 1}) {
		t.Fatalf("offsets %v", got)
	}
	if len(rec.subs) != 2 || rec.subs[1].Recovered || rec.subs[1].Epoch != "e2" {
		t.Errorf("subscribed events %+v", rec.subs)
	}
}

func TestCloseCodes(t *testing.T) {
	tests := []struct {
		code      ws.StatusCode
		reconnect bool
	}{
		{client.CloseDisconnected, false},
		{client.CloseTokenExpired, true},
		{client.CloseAuthTimeout, true},
		{client.CloseRateLimited, true},
		{client.CloseSlowConsumer, true},
		{client.CloseGoingAway, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(int(tt.code)), func(t *testing.T) {
			srv := newFakeServer(t, nil)
			rec := newRecorder()
			var tokens atomic.Int32
			cfg := testConfig(srv.URL, rec)
			cfg.GetToken = func(context.Context) (string, error) {
				tokens.Add(1)
				return fakeToken(time.Now().Add(time.Hour)), nil
			}
			c := dial(t, cfg)
			srv.conn(1).closeWith(tt.code, "reason")
			var ce *client.CloseError
			if tt.reconnect {
				srv.conn(2).nextRequest(t, "auth")
				rec.waitFor(t, "reconnected", func() bool {
					return len(rec.states) > 0 && rec.states[len(rec.states)-1].To == client.StateConnected
				})
				if tokens.Load() < 2 {
					t.Errorf("GetToken called %d times, want a fresh token per connection", tokens.Load())
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if !errors.As(rec.states[1].Err, &ce) || ce.Code != int(tt.code) || ce.Reason != "reason" {
					t.Fatalf("state change %+v does not carry close %d", rec.states[1], tt.code)
				}
				return
			}
			rec.waitFor(t, "closed", func() bool {
				return len(rec.states) > 0 && rec.states[len(rec.states)-1].To == client.StateClosed
			})
			if c.State() != client.StateClosed {
				t.Fatalf("state %v", c.State())
			}
			rec.mu.Lock()
			last := rec.states[len(rec.states)-1]
			rec.mu.Unlock()
			if !errors.As(last.Err, &ce) || ce.Code != int(tt.code) {
				t.Fatalf("final state change %+v", last)
			}
			_, err := c.Publish(ctx10(t), "x", 1)
			if !errors.Is(err, client.ErrClosed) || !errors.As(err, &ce) {
				t.Fatalf("Publish after 4004 = %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := srv.connCount(); n != 1 {
				t.Fatalf("%d connections after 4004, want no reconnection", n)
			}
		})
	}
}

func TestPingTimeoutReconnects(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		return req.Event == "ping" && fc.n == 1 // the first connection swallows pings
	})
	rec := newRecorder()
	cfg := testConfig(srv.URL, rec)
	cfg.PingInterval = 30 * time.Millisecond
	cfg.PingTimeout = 100 * time.Millisecond
	dial(t, cfg)
	srv.conn(2).nextRequest(t, "ping") // answered: the client stays
	rec.waitFor(t, "ping timeout state", func() bool {
		for _, st := range rec.states {
			if st.To == client.StateConnecting && errors.Is(st.Err, client.ErrTimeout) {
				return true
			}
		}
		return false
	})
}

func TestTokenRefresh(t *testing.T) {
	srv := newFakeServer(t, nil)
	rec := newRecorder()
	cfg := testConfig(srv.URL, rec)
	cfg.GetToken = func(context.Context) (string, error) {
		return fakeToken(time.Now().Add(2 * time.Second)), nil
	}
	cfg.RefreshBefore = time.Second
	dial(t, cfg)
	fc := srv.conn(1)
	fc.nextRequest(t, "auth")
	fc.nextRequest(t, "auth") // the refresh, on the same connection
	if n := srv.connCount(); n != 1 {
		t.Fatalf("%d connections", n)
	}
}

// TestHandlerMayCallClient: a handler that publishes must not deadlock the client.
func TestHandlerMayCallClient(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event == "subscribe" {
			fc.reply(req, 200, "success", `{"channel":"a"}`)
			fc.push("a", `"ping"`, 0)
			return true
		}
		return false
	})
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	done := make(chan error, 1)
	_, err := c.Subscribe(ctx10(t), "a", client.Handlers{OnMessage: func(protocol.Publication) {
		_, err := c.Publish(context.Background(), "b", "pong")
		done <- err
	}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("publish from a handler never returned")
	}
}

func TestSubscribeRules(t *testing.T) {
	srv := newFakeServer(t, func(fc *fakeConn, req fakeRequest) bool {
		if req.Event == "subscribe" && req.channel() == "private" {
			fc.reply(req, 403, "无权限", "null")
			return true
		}
		return false
	})
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	ctx := ctx10(t)
	s, err := c.Subscribe(ctx, "news", client.Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, "news", client.Handlers{}); !errors.Is(err, client.ErrAlreadySubscribed) {
		t.Fatalf("second Subscribe = %v", err)
	}
	if _, err := c.Subscribe(ctx, "private", client.Handlers{}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("Subscribe private = %v", err)
	}
	if err := s.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, "news", client.Handlers{}); err != nil {
		t.Fatalf("Subscribe after Unsubscribe = %v", err)
	}
	if _, err := c.Subscribe(ctx, "private", client.Handlers{}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("a refused subscription must not stay registered: %v", err)
	}
}

func TestNotConnectedAndClosed(t *testing.T) {
	c, err := client.New(client.Config{AppID: "a", GetToken: func(context.Context) (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx10(t), "x", 1); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Publish before Connect = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close of a client never connected: %v", err)
	}
	if err := c.Connect(ctx10(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Connect after Close = %v", err)
	}
	if _, err := client.New(client.Config{}); err == nil {
		t.Fatal("New accepted a config without AppID")
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := newFakeServer(t, nil)
	rec := newRecorder()
	c := dial(t, testConfig(srv.URL, rec))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := ctx10(t)
			ch := fmt.Sprintf("ch%d", g)
			s, err := c.Subscribe(ctx, ch, client.Handlers{OnMessage: func(protocol.Publication) {}})
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 50 {
				if _, err := c.Publish(ctx, ch, i); err != nil {
					t.Error(err)
					return
				}
			}
			if err := s.Unsubscribe(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			_ = c.State()
			_ = c.ClientID()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
