package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
	"github.com/rtmate/rtmate/rtmate-server/internal/testwasm"
)

// Script hooks on the Pusher protocol (docs/scripts.md, "On the Pusher protocol"), over
// real sockets: gate.lua's reasons echo the ctx it got, so the tests pin the ctx too.
const pusherGate = `
function on_subscribe(ctx)
  if string.find(ctx.channel, "boom", 1, true) then error("boom") end
  if string.find(ctx.channel, "nosub", 1, true) then
    local name = ctx.claims and ctx.claims.name or "-"
    return {allow=false, reason=ctx.hook.."|"..ctx.app.."|"..ctx.client_id.."|"..ctx.user_id.."|"..ctx.channel.."|"..name}
  end
end
function on_publish(ctx)
  if string.find(ctx.channel, "closed", 1, true) then return {allow=false, reason="closed to "..ctx.source} end
  if string.find(ctx.channel, "fail", 1, true) then error("boom") end
  if ctx.source == "api" and ctx.channel == "rewrite" then
    ctx.data.data = "rewritten by api"
    return {data=ctx.data}
  end
end
function on_connect(ctx)
  if ctx.user_id == "mallory" then return {allow=false, reason="no "..ctx.user_id.." ("..ctx.claims.user_info.n..")"} end
  if ctx.user_id == "boom" then error("boom") end
end`

// startPusherScripts runs the server with gate.lua (every hook) and the example
// moderation.lua (publish).
func startPusherScripts(t *testing.T) *testserver.Server {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(examplesDir, "moderation.lua"))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeScripts(t, map[string]string{"gate.lua": pusherGate, "moderation.lua": string(mod)})
	return startPusher(t, withScripts(dir,
		config.Script{Name: "gate", File: "gate.lua", Hooks: []string{"connect", "subscribe", "publish"}},
		config.Script{Name: "moderation", File: "moderation.lua", Hooks: []string{"publish"}}))
}

// signin sends pusher:signin for userData signed with the development secret.
func (c *pusherClient) signin(userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": pusher.EventSignin, "data": map[string]string{
		"user_data": userData,
		"auth":      config.DevPusherKey + ":" + pusher.Sign(config.DevPusherSecret, c.socketID+"::user::"+userData),
	}})
}

// subError decodes a pusher:subscription_error's data.
func subError(t *testing.T, m pusherMsg) (kind, msg string, status int) {
	t.Helper()
	var d struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if m.Event != pusher.EventSubscriptionError || json.Unmarshal(m.Data, &d) != nil {
		t.Fatalf("got %s %s, want pusher:subscription_error", m.Event, m.Data)
	}
	return d.Type, d.Error, d.Status
}

// pusherErr decodes a pusher:error's data.
func pusherErr(t *testing.T, m pusherMsg) (code int, msg string) {
	t.Helper()
	var d struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if m.Event != pusher.EventError || json.Unmarshal(m.Data, &d) != nil {
		t.Fatalf("got %s %s, want pusher:error", m.Event, m.Data)
	}
	return d.Code, d.Message
}

func TestPusherScriptSubscribe(t *testing.T) {
	srv := startPusherScripts(t)
	c, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	if m := c.subscribe("news", "", ""); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("allowed channel: %s %s", m.Event, m.Data)
	}
	// A forged signature is refused before the script runs (401, not the script's 403).
	if _, _, status := subError(t, c.subscribe("private-nosub", "wrong", "")); status != 401 {
		t.Fatalf("forged signature: status %d, want 401", status)
	}
	cases := []struct {
		name, ch, channelData string
		kind, msg             string
		status                int
	}{
		{"public", "nosub-a", "", "AuthError", "subscribe|demo-app|" + c.socketID + "||nosub-a|-", 403},
		{"private", "private-nosub", "", "AuthError", "subscribe|demo-app|" + c.socketID + "||private-nosub|-", 403},
		{"presence member", "presence-nosub", `{"user_id":"u1"}`, "AuthError", "subscribe|demo-app|" + c.socketID + "|u1|presence-nosub|-", 403},
		{"failure", "boom", "", "InternalError", "subscribe script failed", 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kind, msg, status := subError(t, c.subscribe(tc.ch, config.DevPusherSecret, tc.channelData))
			if kind != tc.kind || msg != tc.msg || status != tc.status {
				t.Fatalf("got %s %q %d, want %s %q %d", kind, msg, status, tc.kind, tc.msg, tc.status)
			}
		})
	}
	// After pusher:signin the signed-in user and its user_data are user_id and claims.
	c.signin(`{"id":"ann","name":"Ann"}`)
	if m := c.next(); m.Event != "pusher:signin_success" {
		t.Fatalf("signin: %s %s", m.Event, m.Data)
	}
	if _, msg, _ := subError(t, c.subscribe("nosub-b", "", "")); msg != "subscribe|demo-app|"+c.socketID+"|ann|nosub-b|Ann" {
		t.Fatalf("signed in: %q", msg)
	}
	// Nothing refused was subscribed: a publication to the refused channel does not arrive.
	nat := authed(t, srv, "native")
	nat.publish("nosub-a", `{"text":"x"}`)
	nat.publish("news", `{"text":"y"}`)
	if m := c.next(); m.Channel != "news" {
		t.Fatalf("got %s on %s, want the publication on news only", m.Event, m.Channel)
	}
}

func TestPusherScriptClientEvent(t *testing.T) {
	srv := startPusherScripts(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.ScriptMetrics())
	a, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	for _, c := range []*pusherClient{a, b} {
		for _, ch := range []string{"private-room", "private-closed", "private-fail"} {
			if m := c.subscribe(ch, config.DevPusherSecret, ""); m.Event != pusher.EventSubscriptionSucceeded {
				t.Fatalf("%s: %s %s", ch, m.Event, m.Data)
			}
		}
	}
	nat := authed(t, srv, "native")
	nat.subscribe("private-room")

	a.send(map[string]any{"event": "client-msg", "channel": "private-room", "data": map[string]string{"text": "darn it"}})
	if m := b.next(); m.Event != "client-msg" || m.Channel != "private-room" || string(m.Data) != `{"text":"**** it"}` {
		t.Fatalf("pusher subscriber got %s %s %s", m.Event, m.Channel, m.Data)
	}
	got := nat.message("private-room")
	if !jsonIs(got.Data, `{"event":"client-msg","data":{"text":"**** it"},"socket_id":"`+a.socketID+`"}`) {
		t.Fatalf("native subscriber got %s", got.Data)
	}

	cases := []struct {
		name, ch string
		code     int
		msg      string
	}{
		{"rejected", "private-closed", server.PusherCodeScriptRejected, "Client event rejected: closed to client"},
		{"failed", "private-fail", server.PusherCodeScriptFailed, "Client event rejected: the publish script failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.send(map[string]any{"event": "client-msg", "channel": tc.ch, "data": map[string]string{"text": "x"}})
			if code, msg := pusherErr(t, a.next()); code != tc.code || msg != tc.msg {
				t.Fatalf("got %d %q, want %d %q", code, msg, tc.code, tc.msg)
			}
		})
	}
	// A native publication runs the hook once, on the native path, and reaches the Pusher
	// subscriber as the rewritten "message".
	before := scriptCalls(t, reg, "moderation", "publish", "ok")
	nat.publish("private-room", `{"text":"what the heck"}`)
	if m := b.next(); m.Event != "message" || string(m.Data) != `{"text":"what the ****"}` {
		t.Fatalf("pusher subscriber got %s %s", m.Event, m.Data)
	}
	if n := scriptCalls(t, reg, "moderation", "publish", "ok") - before; n != 1 {
		t.Fatalf("moderation ran %v times for one native publication, want 1", n)
	}
	// The connection is still usable after the refusals, and b got none of the refused events.
	a.sync()
	b.sync()
}

func TestPusherScriptAPI(t *testing.T) {
	srv := startPusherScripts(t)
	c, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	for _, ch := range []string{"rewrite", "news"} {
		if m := c.subscribe(ch, "", ""); m.Event != pusher.EventSubscriptionSucceeded {
			t.Fatalf("%s: %s %s", ch, m.Event, m.Data)
		}
	}
	cases := []struct {
		name, path string
		body       any
		status     int
		text       string
	}{
		{"rejected", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "closed", "data": "1"}, 403, "closed to api\n"},
		{"failed", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "fail", "data": "1"}, 500, "Internal error\n"},
		{"batch rejected", "/apps/demo-app/batch_events", map[string]any{"batch": []any{
			map[string]any{"name": "e", "channel": "news", "data": "first"},
			map[string]any{"name": "e", "channel": "closed", "data": "2"},
		}}, 403, "closed to api\n"},
		{"channels rejected", "/apps/demo-app/events", map[string]any{"name": "e", "channels": []string{"news", "closed"}, "data": "first"}, 403, "closed to api\n"},
		{"rewritten", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "rewrite", "data": "orig"}, 200, "{}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := pusherAPI(t, srv, "POST", tc.path, tc.body); code != tc.status || body != tc.text {
				t.Fatalf("got %d %q, want %d %q", code, body, tc.status, tc.text)
			}
		})
	}
	// Nothing of the refused batches went out: the next event is the rewritten one.
	if m := c.next(); m.Event != "e" || m.Channel != "rewrite" || string(m.Data) != `"rewritten by api"` {
		t.Fatalf("got %s %s %s, want the rewritten event", m.Event, m.Channel, m.Data)
	}
}

func TestPusherScriptSignin(t *testing.T) {
	srv := startPusherScripts(t)
	cases := []struct {
		name, userData string
		msg            string // "": signed in
	}{
		{"allowed", `{"id":"ann"}`, ""},
		{"rejected", `{"id":"mallory","user_info":{"n":"M"}}`, "Sign-in refused: no mallory (M)"},
		{"failed", `{"id":"boom"}`, "Sign-in refused: the connect script failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
			c.signin(tc.userData)
			m := c.next()
			if tc.msg == "" {
				if m.Event != "pusher:signin_success" {
					t.Fatalf("got %s %s", m.Event, m.Data)
				}
				return
			}
			if code, msg := pusherErr(t, m); code != server.PusherCloseUnauthorized || msg != tc.msg {
				t.Fatalf("got %d %q, want 4009 %q", code, msg, tc.msg)
			}
			if _, err := c.tryNext(); websocket.CloseStatus(err) != server.PusherCloseUnauthorized {
				t.Fatalf("close: %v, want 4009", err)
			}
		})
	}
	// A connection that never signs in runs no connect hook: it has no credentials.
	c, first := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	if first.Event != pusher.EventConnectionEstablished || !strings.Contains(c.socketID, ".") {
		t.Fatalf("first: %+v", first)
	}
}

// TestPusherScriptModerationWasm: the Go plug-in's moderation masks a Pusher client event as
// moderation.lua does. Without -race, as TestScriptExamplesWasm.
func TestPusherScriptModerationWasm(t *testing.T) {
	if raceBuild {
		t.Skip("Wasm examples end to end run without -race")
	}
	path := testwasm.Build(t, filepath.Join(examplesDir, "wasm-go"))
	srv := startPusher(t, withScripts(filepath.Dir(path),
		config.Script{Name: "moderation", File: filepath.Base(path), Hooks: []string{"publish"}}))
	a, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	for _, c := range []*pusherClient{a, b} {
		if m := c.subscribe("private-room", config.DevPusherSecret, ""); m.Event != pusher.EventSubscriptionSucceeded {
			t.Fatalf("subscribe: %s %s", m.Event, m.Data)
		}
	}
	nat := authed(t, srv, "native")
	nat.subscribe("private-room")
	a.send(map[string]any{"event": "client-msg", "channel": "private-room", "data": map[string]any{"text": "darn it", "n": 1}})
	if m := b.next(); m.Event != "client-msg" || !jsonIs(m.Data, `{"text":"**** it","n":1}`) {
		t.Fatalf("pusher subscriber got %s %s", m.Event, m.Data)
	}
	if got := nat.message("private-room"); !jsonIs(got.Data, `{"event":"client-msg","data":{"text":"**** it","n":1},"socket_id":"`+a.socketID+`"}`) {
		t.Fatalf("native subscriber got %s", got.Data)
	}
}

// TestPusherScriptFailOpen: with fail_open a failing script lets the request through, and the
// failure is counted as on the native path.
func TestPusherScriptFailOpen(t *testing.T) {
	dir := writeScripts(t, map[string]string{"gate.lua": pusherGate})
	srv := startPusher(t, withScripts(dir,
		config.Script{Name: "gate", File: "gate.lua", Hooks: []string{"subscribe", "publish"}, FailOpen: true}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(srv.ScriptMetrics())
	a, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	for _, c := range []*pusherClient{a, b} {
		if m := c.subscribe("private-boom-fail", config.DevPusherSecret, ""); m.Event != pusher.EventSubscriptionSucceeded {
			t.Fatalf("subscribe through a failing script: %s %s", m.Event, m.Data)
		}
	}
	a.send(map[string]any{"event": "client-msg", "channel": "private-boom-fail", "data": map[string]int{"n": 1}})
	if m := b.next(); m.Event != "client-msg" || string(m.Data) != `{"n":1}` {
		t.Fatalf("got %s %s, want the client event untouched", m.Event, m.Data)
	}
	for _, hook := range []string{"subscribe", "publish"} {
		if n := scriptCalls(t, reg, "gate", hook, "error"); n < 1 {
			t.Errorf("%s failures counted: %v, want at least 1", hook, n)
		}
	}
}
