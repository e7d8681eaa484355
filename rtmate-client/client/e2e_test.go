package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// devConfig connects to a real server as user sub of the development app.
func devConfig(t testing.TB, url, sub string, rec *recorder) client.Config {
	return client.Config{
		URL:   url,
		AppID: auth.DevAppID,
		GetToken: func(context.Context) (string, error) {
			return auth.DevToken(sub, time.Hour, nil)
		},
		ReconnectMin:  20 * time.Millisecond,
		ReconnectMax:  200 * time.Millisecond,
		OnStateChange: rec.onState,
	}
}

func TestE2EPubSubPresenceHistory(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctx10(t)
	recA, recB := newRecorder(), newRecorder()
	a := dial(t, devConfig(t, srv.URL, "alice", recA))
	b := dial(t, devConfig(t, srv.URL, "bob", recB))
	if a.ClientID() == "" || a.ClientID() == b.ClientID() {
		t.Fatalf("client ids %q and %q", a.ClientID(), b.ClientID())
	}

	t.Run("publish reaches subscriber byte for byte", func(t *testing.T) {
		if _, err := a.Subscribe(ctx, "news", recA.handlers()); err != nil {
			t.Fatal(err)
		}
		payloads := []json.RawMessage{json.RawMessage(`{"n":1}`), json.RawMessage(`[ 1, "two" ]`), json.RawMessage(`"three"`)}
		for _, p := range payloads {
			if _, err := b.Publish(ctx, "news", p); err != nil {
				t.Fatal(err)
			}
		}
		recA.waitFor(t, "three messages", func() bool { return len(recA.msgs) >= 3 })
		recA.mu.Lock()
		defer recA.mu.Unlock()
		for i, m := range recA.msgs {
			if string(m.Data) != string(payloads[i]) || m.Channel != "news" || m.From != b.ClientID() {
				t.Errorf("message %d = %+v (data %s)", i, m, m.Data)
			}
		}
	})

	t.Run("presence join leave and members", func(t *testing.T) {
		var joins, leaves []protocol.PresenceEvent
		h := client.Handlers{
			OnJoin: func(ev protocol.PresenceEvent) {
				recA.mu.Lock()
				joins = append(joins, ev)
				recA.mu.Unlock()
				recA.poke()
			},
			OnLeave: func(ev protocol.PresenceEvent) {
				recA.mu.Lock()
				leaves = append(leaves, ev)
				recA.mu.Unlock()
				recA.poke()
			},
		}
		if _, err := a.Subscribe(ctx, "presence-room", h); err != nil {
			t.Fatal(err)
		}
		sb, err := b.Subscribe(ctx, "presence-room", client.Handlers{})
		if err != nil {
			t.Fatal(err)
		}
		recA.waitFor(t, "bob's join", func() bool {
			return slices.ContainsFunc(joins, func(ev protocol.PresenceEvent) bool { return ev.UserID == "bob" })
		})
		pd, err := a.Presence(ctx, "presence-room")
		if err != nil {
			t.Fatal(err)
		}
		users := []string{}
		for _, m := range pd.Members {
			users = append(users, m.UserID)
		}
		slices.Sort(users)
		if pd.Count != 2 || !slices.Equal(users, []string{"alice", "bob"}) || pd.Channel != "presence-room" {
			t.Fatalf("presence = %+v", pd)
		}
		if err := sb.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		recA.waitFor(t, "bob's leave", func() bool {
			return slices.ContainsFunc(leaves, func(ev protocol.PresenceEvent) bool {
				return ev.UserID == "bob" && ev.ClientID == b.ClientID()
			})
		})
		if _, err := a.Presence(ctx, "news"); !errors.Is(err, client.ErrInvalidParams) {
			t.Fatalf("presence on a plain channel = %v, want 400", err)
		}
	})

	t.Run("history", func(t *testing.T) {
		var offsets []uint64
		for i := range 5 {
			res, err := b.Publish(ctx, "hist", map[string]int{"i": i})
			if err != nil {
				t.Fatal(err)
			}
			offsets = append(offsets, res.Offset)
		}
		h, err := a.History(ctx, "hist", client.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Publications) != 5 || h.Epoch == "" || h.Offset != offsets[4] {
			t.Fatalf("history = %+v (publish offsets %v)", h, offsets)
		}
		for i, p := range h.Publications {
			if p.Offset != offsets[i] || string(p.Data) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Errorf("publication %d = %+v (data %s)", i, p, p.Data)
			}
		}
		h, err = a.History(ctx, "hist", client.HistoryOptions{Since: offsets[2]})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Publications) != 2 || h.Publications[0].Offset != offsets[3] {
			t.Fatalf("history since %d = %+v", offsets[2], h.Publications)
		}
		h, err = a.History(ctx, "hist", client.HistoryOptions{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Publications) > 2 {
			t.Fatalf("history limit 2 returned %d", len(h.Publications))
		}
	})

	t.Run("errors", func(t *testing.T) {
		big := json.RawMessage(`"` + strings.Repeat("x", 70<<10) + `"`)
		_, err := a.Publish(ctx, "news", big)
		var ce *client.CloseError
		if !errors.Is(err, client.ErrMessageTooLarge) && !(errors.As(err, &ce) && ce.Code == client.CloseTooBig) {
			t.Fatalf("70 KiB publish = %v, want 413 or close 1009", err)
		}
		tok, err := auth.DevToken("carol", time.Hour, []string{"allowed-*"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := devConfig(t, srv.URL, "carol", newRecorder())
		cfg.GetToken = func(context.Context) (string, error) { return tok, nil }
		c := dial(t, cfg)
		if _, err := c.Subscribe(ctx, "allowed-1", client.Handlers{}); err != nil {
			t.Fatalf("subscribe to an allowed channel: %v", err)
		}
		if _, err := c.Subscribe(ctx, "other", client.Handlers{}); !errors.Is(err, client.ErrForbidden) {
			t.Fatalf("subscribe outside the token's channels = %v, want 403", err)
		}
		bad := devConfig(t, srv.URL, "x", newRecorder())
		bad.GetToken = func(context.Context) (string, error) { return "not.a.jwt", nil }
		if _, err := client.Dial(ctx, bad); !errors.Is(err, client.ErrInvalidToken) && !errors.Is(err, client.ErrSignatureInvalid) {
			t.Fatalf("Dial with a bad token = %v", err)
		}
	})
}

// TestE2ERecoveryAfterDrop cuts the client's TCP connection through a proxy while another
// client publishes; the reconnected subscription must recover the missed publications in
// order, each once.
func TestE2ERecoveryAfterDrop(t *testing.T) {
	srv := servertest.Start(t)
	proxy := servertest.NewProxy(t, srv.Addr)
	ctx := ctx10(t)
	rec := newRecorder()
	sub := dial(t, devConfig(t, "ws://"+proxy.Addr()+"/ws", "sub", rec))
	pub := dial(t, devConfig(t, srv.URL, "pub", newRecorder()))
	if _, err := sub.Subscribe(ctx, "recover-me", rec.handlers()); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := pub.Publish(ctx, "recover-me", i); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 5)
	rec.waitFor(t, "first five", func() bool { return len(rec.msgs) >= 5 })

	proxy.Pause() // drops the client's connection and refuses new ones
	rec.waitFor(t, "disconnect noticed", func() bool {
		return len(rec.states) > 0 && rec.states[len(rec.states)-1].To == client.StateConnecting
	})
	publish(5, 15)
	proxy.Resume()
	publish(15, 20)
	rec.waitFor(t, "twenty messages", func() bool { return len(rec.msgs) >= 20 })
	time.Sleep(100 * time.Millisecond) // duplicates would arrive now
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []string
	for _, m := range rec.msgs {
		got = append(got, string(m.Data))
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint(i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	last := rec.subs[len(rec.subs)-1]
	if !last.Resubscribed || !last.Recovered {
		t.Errorf("last subscribed event %+v, want a recovered resubscription", last)
	}
}

// TestE2EServerRestart: a restarted server starts new history epochs; the client must
// reconnect by itself, resubscribe, report that recovery was impossible, and receive what
// is published afterwards.
func TestE2EServerRestart(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctx10(t)
	rec := newRecorder()
	c := dial(t, devConfig(t, srv.URL, "u", rec))
	if _, err := c.Subscribe(ctx, "restart", rec.handlers()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "restart", "before"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "first message", func() bool { return len(rec.msgs) == 1 })

	srv.Restart()
	rec.waitFor(t, "resubscribed", func() bool {
		return len(rec.subs) == 2 && c.State() == client.StateConnected
	})
	if _, err := c.Publish(ctx, "restart", "after"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "second message", func() bool { return len(rec.msgs) == 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if string(rec.msgs[1].Data) != `"after"` {
		t.Fatalf("second message %s", rec.msgs[1].Data)
	}
	if rec.subs[1].Recovered || !rec.subs[1].Resubscribed {
		t.Errorf("resubscription after restart %+v: recovery across epochs must be reported as failed", rec.subs[1])
	}
	var sawShutdown bool
	for _, st := range rec.states {
		var ce *client.CloseError
		if errors.As(st.Err, &ce) && ce.Code == client.CloseGoingAway {
			sawShutdown = true
		}
	}
	if !sawShutdown {
		t.Errorf("no close 1001 reported during the restart: %v", rec.states)
	}
}

// TestE2ETokenRefresh uses 3-second tokens: the connection must outlive several of them.
func TestE2ETokenRefresh(t *testing.T) {
	srv := servertest.Start(t)
	rec := newRecorder()
	cfg := devConfig(t, srv.URL, "short", rec)
	cfg.GetToken = func(context.Context) (string, error) { return auth.DevToken("short", 3*time.Second, nil) }
	cfg.RefreshBefore = 1500 * time.Millisecond
	c := dial(t, cfg)
	time.Sleep(5 * time.Second)
	if err := c.Ping(ctx10(t)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.states) != 1 {
		t.Fatalf("the connection was replaced: %v", rec.states)
	}
}
