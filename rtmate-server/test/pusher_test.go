package test

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- Pusher's body_md5
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusherapi"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// Black-box tests of the Pusher protocol over real sockets. The real pusher-js, laravel-echo
// and pusher SDK suites are in tests/pusher; these pin the wire details in Go.

// pusherMsg is one Pusher message.
type pusherMsg struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// text is the message's data as the string Pusher sends for its own events.
func (m pusherMsg) text(t testing.TB) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("%s: data %s is not a string", m.Event, m.Data)
	}
	return s
}

type pusherClient struct {
	t        testing.TB
	ws       *websocket.Conn
	socketID string
}

func startPusher(t testing.TB, adjust func(*config.Config)) *testserver.Server {
	srv := start(t, adjust)
	srv.Handle("/apps/", pusherapi.New(srv.Server, zap.NewNop()))
	return srv
}

// dialPusher opens /app/{key}?query and returns the client and its first message.
func dialPusher(t testing.TB, srv *testserver.Server, key, query string) (*pusherClient, pusherMsg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+srv.Addr+"/app/"+key+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &pusherClient{t: t, ws: ws}
	first := c.next()
	if first.Event == pusher.EventConnectionEstablished {
		var d struct {
			SocketID string `json:"socket_id"`
		}
		if err := json.Unmarshal([]byte(first.text(t)), &d); err != nil {
			t.Fatal(err)
		}
		c.socketID = d.SocketID
	}
	return c, first
}

func (c *pusherClient) tryNext() (pusherMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return pusherMsg{}, err
	}
	var m pusherMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	return m, nil
}

func (c *pusherClient) next() pusherMsg {
	c.t.Helper()
	m, err := c.tryNext()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *pusherClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// sync waits until the server has handled everything c sent: it answers pusher:ping in
// order. Other messages read meanwhile are dropped.
func (c *pusherClient) sync() {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	for c.next().Event != pusher.EventPong {
	}
}

// subscribe subscribes with a signature made with secret and returns the answer.
func (c *pusherClient) subscribe(ch, secret, channelData string) pusherMsg {
	c.t.Helper()
	data := map[string]string{"channel": ch}
	if pusher.IsPrivate(ch) {
		msg := c.socketID + ":" + ch
		if channelData != "" {
			msg += ":" + channelData
			data["channel_data"] = channelData
		}
		data["auth"] = config.DevPusherKey + ":" + pusher.Sign(secret, msg)
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": data})
	return c.next()
}

// pusherAPI calls the Pusher HTTP API signed with the development app's secret.
func pusherAPI(t testing.TB, srv *testserver.Server, method, path string, body any) (int, string) {
	t.Helper()
	var raw []byte
	q := url.Values{"auth_key": {config.DevPusherKey}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "auth_version": {"1.0"}}
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(raw) // #nosec G401 -- Pusher's body_md5
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	q.Set("auth_signature", pusher.Sign(config.DevPusherSecret, pusher.StringToSign(method, path, q)))
	req, err := http.NewRequest(method, srv.HTTP+path+"?"+q.Encode(), bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPusherHandshake(t *testing.T) {
	srv := startPusher(t, nil)
	cases := []struct {
		name, key, query string
		code             int // 0: connection_established
	}{
		{"protocol 7", config.DevPusherKey, "protocol=7&client=js&version=8.4.0", 0},
		{"protocol 5", config.DevPusherKey, "protocol=5", 0},
		{"unknown key", "nope", "protocol=7", 4001},
		{"protocol 4", config.DevPusherKey, "protocol=4", 4007},
		{"protocol 8", config.DevPusherKey, "protocol=8", 4007},
		{"no protocol", config.DevPusherKey, "", 4008},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, first := dialPusher(t, srv, tc.key, tc.query)
			if tc.code == 0 {
				if first.Event != pusher.EventConnectionEstablished || !pusher.ValidSocketID(c.socketID) {
					t.Fatalf("first message %+v, socket id %q", first, c.socketID)
				}
				return
			}
			var e struct {
				Code int `json:"code"`
			}
			if first.Event != pusher.EventError || json.Unmarshal(first.Data, &e) != nil || e.Code != tc.code {
				t.Fatalf("first message %s %s, want pusher:error %d", first.Event, first.Data, tc.code)
			}
			_, err := c.tryNext()
			if got := websocket.CloseStatus(err); int(got) != tc.code {
				t.Fatalf("close %v (%v), want %d", got, err, tc.code)
			}
		})
	}
}

func TestPusherAppWithoutPusherBlock(t *testing.T) {
	srv := startPusher(t, func(cfg *config.Config) { devApp(cfg).Pusher = nil })
	c, first := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	if first.Event != pusher.EventError {
		t.Fatalf("got %+v", first)
	}
	if _, err := c.tryNext(); websocket.CloseStatus(err) != 4001 {
		t.Fatalf("close: %v", err)
	}
	if code, _ := pusherAPI(t, srv, "GET", "/apps/demo-app/channels", nil); code != http.StatusNotFound {
		t.Fatalf("API: %d, want 404", code)
	}
}

func TestPusherPresenceAndMapping(t *testing.T) {
	srv := startPusher(t, nil)
	a, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	b, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")
	b2, _ := dialPusher(t, srv, config.DevPusherKey, "protocol=7")

	if m := a.subscribe("presence-r", "wrong", `{"user_id":"a"}`); m.Event != pusher.EventSubscriptionError {
		t.Fatalf("forged: %+v", m)
	}
	m := a.subscribe("presence-r", config.DevPusherSecret, `{"user_id":"a","user_info":{"n":1}}`)
	if m.Event != pusher.EventSubscriptionSucceeded || m.text(t) != `{"presence":{"ids":["a"],"hash":{"a":{"n":1}},"count":1}}` {
		t.Fatalf("a: %s %s", m.Event, m.Data)
	}
	m = b.subscribe("presence-r", config.DevPusherSecret, `{"user_id":"b"}`)
	if m.text(t) != `{"presence":{"ids":["a","b"],"hash":{"a":{"n":1},"b":null},"count":2}}` {
		t.Fatalf("b: %s", m.Data)
	}
	if m = a.next(); m.Event != pusher.EventMemberAdded || m.text(t) != `{"user_id":"b"}` {
		t.Fatalf("a saw %s %s", m.Event, m.Data)
	}
	// b's second connection is not announced; a native publication is, as "message".
	if m = b2.subscribe("presence-r", config.DevPusherSecret, `{"user_id":"b"}`); m.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("b2: %+v", m)
	}
	nat := authed(t, srv, "native")
	nat.subscribe("presence-r")
	if m = a.next(); m.Event != pusher.EventMemberAdded || m.text(t) != `{"user_id":"native"}` {
		t.Fatalf("a saw %s %s, want member_added of the native client", m.Event, m.Data)
	}
	nat.publish("presence-r", `{"text":"hi"}`)
	if m = a.next(); m.Event != "message" || m.Channel != "presence-r" || string(m.Data) != `{"text":"hi"}` {
		t.Fatalf("a saw %s %s %s, want the native publication as message", m.Event, m.Channel, m.Data)
	}
	b.send(map[string]any{"event": "client-typing", "channel": "presence-r", "data": map[string]bool{"on": true}})
	if m = a.next(); m.Event != "client-typing" || m.UserID != "b" || string(m.Data) != `{"on":true}` {
		t.Fatalf("a saw %+v, want b's client event with user_id", m)
	}
	push := nat.next()
	want := `{"event":"client-typing","data":{"on":true},"socket_id":"` + b.socketID + `","user_id":"b"}`
	var pd struct {
		Data json.RawMessage `json:"data"`
		From string          `json:"from"`
	}
	push.decode(t, &pd)
	if push.event() != "message" || string(pd.Data) != want || pd.From != b.socketID {
		t.Fatalf("native got %s, want data %s from %s", push.raw, want, b.socketID)
	}
	// b's first connection leaves: b is still present through b2, so nothing is announced;
	// b2 leaving announces member_removed once.
	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "presence-r"}})
	b2.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "presence-r"}})
	if m = a.next(); m.Event != pusher.EventMemberRemoved || m.text(t) != `{"user_id":"b"}` {
		t.Fatalf("a saw %s %s, want one member_removed of b", m.Event, m.Data)
	}
	code, body := pusherAPI(t, srv, "GET", "/apps/demo-app/channels/presence-r/users", nil)
	if code != 200 || body != `{"users":[{"id":"a"},{"id":"native"}]}`+"\n" {
		t.Fatalf("users: %d %s", code, body)
	}
}

// TestPusherAPIErrors pins the statuses of refused API requests.
func TestPusherAPIErrors(t *testing.T) {
	srv := startPusher(t, nil)
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"ok", "POST", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "c", "data": "1"}, 200},
		{"no name", "POST", "/apps/demo-app/events", map[string]any{"channel": "c", "data": "1"}, 400},
		{"no channel", "POST", "/apps/demo-app/events", map[string]any{"name": "e", "data": "1"}, 400},
		{"bad socket id", "POST", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "c", "data": "1", "socket_id": "x"}, 400},
		{"oversize", "POST", "/apps/demo-app/events", map[string]any{"name": "e", "channel": "c", "data": strings.Repeat("x", 70000)}, 413},
		{"empty batch", "POST", "/apps/demo-app/batch_events", map[string]any{"batch": []any{}}, 400},
		{"users of a public channel", "GET", "/apps/demo-app/channels/c/users", nil, 400},
		{"unknown info", "GET", "/apps/demo-app/channels/c?info=x", nil, 400},
		{"unknown app", "GET", "/apps/nope/channels", nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, query, _ := strings.Cut(tc.path, "?")
			_ = query
			code, body := pusherAPI(t, srv, tc.method, path, tc.body)
			if query != "" {
				code, body = apiQuery(t, srv, tc.method, path, query)
			}
			if code != tc.status {
				t.Fatalf("%d %q, want %d", code, body, tc.status)
			}
		})
	}
}

// apiQuery is api for a GET with extra query parameters, signed with them.
func apiQuery(t testing.TB, srv *testserver.Server, method, path, extra string) (int, string) {
	t.Helper()
	q, err := url.ParseQuery(extra)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("auth_key", config.DevPusherKey)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("auth_version", "1.0")
	q.Set("auth_signature", pusher.Sign(config.DevPusherSecret, pusher.StringToSign(method, path, q)))
	resp, err := http.Get(srv.HTTP + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
