package admin

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
	"go.uber.org/zap/zaptest"
)

func TestAuthAndRoutes(t *testing.T) {
	s := startStack(t, "", nil)
	cases := []struct {
		name, token, method, path string
		status                    int
	}{
		{"no token", "", "GET", "/admin/api/apps", http.StatusUnauthorized},
		{"wrong token", "admin-token-0123456788", "GET", "/admin/api/apps", http.StatusUnauthorized},
		{"prefix of a token", testToken[:10], "GET", "/admin/api/apps", http.StatusUnauthorized},
		{"admin token", testToken, "GET", "/admin/api/apps", http.StatusOK},
		{"named token", opsToken, "GET", "/admin/api/whoami", http.StatusOK},
		{"unknown endpoint", testToken, "GET", "/admin/api/nope", http.StatusNotFound},
		{"unknown app", testToken, "GET", "/admin/api/apps/nope", http.StatusNotFound},
		{"console without token", "", "GET", "/admin/", http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _, raw := s.call(t, c.token, c.method, c.path, nil)
			if st != c.status {
				t.Fatalf("%d %s, want %d", st, raw, c.status)
			}
		})
	}
	var who struct{ Name string }
	st, env, _ := s.call(t, opsToken, "GET", "/admin/api/whoami", nil)
	if st != 200 || decodeInto(env, &who) != nil || who.Name != "ops" {
		t.Fatalf("whoami = %d %+v", st, who)
	}
}

func decodeInto(env envelope, v any) error { return jsonUnmarshal(env.Data, v) }

func TestOffWithoutToken(t *testing.T) {
	cfg := testserver.Config(t, func(c *config.Config) { c.DataDir = t.TempDir() })
	srv := testserver.Start(t, cfg, server.Options{})
	adm, err := start(cfg, srv.Server, zaptest.NewLogger(t), Options{})
	if err != nil || adm != nil {
		t.Fatalf("start without a token = %v, %v; want nil, nil", adm, err)
	}
	for _, p := range []string{"/admin/", "/admin/api/apps"} {
		resp, err := http.Get(srv.HTTP + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s = %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestAppLifecycle creates an app, uses it, rotates its key with overlap, disables and
// deletes it, all against the running server.
func TestAppLifecycle(t *testing.T) {
	s := startStack(t, "", nil)
	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "acme", "limits": map[string]any{"max_connections": 2}}, &c)
	if c.Secret == "" || c.Kid == "" || !strings.HasPrefix(c.APIKey, "rk_") || c.App.Source != "api" {
		t.Fatalf("create = %+v", c)
	}
	s.fails(t, "POST", "/admin/api/apps", map[string]any{"id": "acme"}, http.StatusConflict)

	// The secrets are shown once: a GET shows neither.
	_, _, raw := s.call(t, testToken, "GET", "/admin/api/apps/acme", nil)
	if strings.Contains(string(raw), c.Secret) || strings.Contains(string(raw), c.APIKey) {
		t.Fatalf("GET shows a secret: %s", raw)
	}

	oldTok := sign(t, "acme", c.Kid, c.Secret, "alice")
	conn, r := connect(t, s, "acme", oldTok)
	if r.Code != 200 {
		t.Fatalf("auth with the created secret: %+v", r)
	}

	// The API key works for the server API.
	req, _ := http.NewRequest("POST", s.HTTP+"/api/publish", strings.NewReader(`{"appId":"acme","channel":"news","data":1}`))
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("API publish with the created key: %d", resp.StatusCode)
	}

	// Limits change live: a third connection is over max_connections 2 until it is raised.
	_, _ = connect(t, s, "acme", oldTok)
	if _, r := connect(t, s, "acme", oldTok); r.Code != 429 {
		t.Fatalf("third connection: %+v, want 429", r)
	}
	s.ok(t, "PATCH", "/admin/api/apps/acme", map[string]any{"limits": map[string]any{"max_connections": 10}, "allowed_origins": []string{"https://a.example"}}, nil)
	if _, r := connect(t, s, "acme", oldTok); r.Code != 200 {
		t.Fatalf("after raising the limit: %+v", r)
	}

	// Rotation: both keys valid until the old one is removed.
	var k struct {
		Kid, Secret string
	}
	s.ok(t, "POST", "/admin/api/apps/acme/keys", nil, &k)
	newTok := sign(t, "acme", k.Kid, k.Secret, "bob")
	for _, tok := range []string{oldTok, newTok} {
		if _, r := connect(t, s, "acme", tok); r.Code != 200 {
			t.Fatalf("during the overlap: %+v", r)
		}
	}
	s.ok(t, "DELETE", "/admin/api/apps/acme/keys/"+c.Kid, nil, nil)
	if _, r := connect(t, s, "acme", oldTok); r.Code != protocol.SignatureInvalid.Code() {
		t.Fatalf("old token after revoke: %+v", r)
	}
	if _, r := connect(t, s, "acme", newTok); r.Code != 200 {
		t.Fatalf("new token after revoke: %+v", r)
	}
	if p := s.fails(t, "DELETE", "/admin/api/apps/acme/keys/"+k.Kid, nil, http.StatusBadRequest); len(p) != 1 {
		t.Fatalf("removing the last key: %v", p)
	}

	// API key rotation.
	var ak struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	s.ok(t, "POST", "/admin/api/apps/acme/api-keys", nil, &ak)
	for _, key := range []string{c.APIKey, ak.APIKey} {
		if id, ok := s.AppByAPIKey(key); !ok || id != "acme" {
			t.Fatalf("API key during overlap: %q %v", id, ok)
		}
	}
	s.ok(t, "DELETE", "/admin/api/apps/acme/api-keys/"+apiKeyID(c.APIKey), nil, nil)
	if _, ok := s.AppByAPIKey(c.APIKey); ok {
		t.Fatal("removed API key still works")
	}

	// Disabling closes the app's connections with 4004; enabling lets them back.
	s.ok(t, "PATCH", "/admin/api/apps/acme", map[string]any{"disabled": true}, nil)
	conn.expectClose(websocket.StatusCode(protocol.CloseDisconnected))
	if _, r := connect(t, s, "acme", newTok); r.Code != protocol.AppNotFound.Code() {
		t.Fatalf("disabled app: %+v", r)
	}
	s.ok(t, "PATCH", "/admin/api/apps/acme", map[string]any{"disabled": false}, nil)
	conn2, r := connect(t, s, "acme", newTok)
	if r.Code != 200 {
		t.Fatalf("enabled again: %+v", r)
	}
	s.ok(t, "DELETE", "/admin/api/apps/acme", nil, nil)
	conn2.expectClose(websocket.StatusCode(protocol.CloseDisconnected))
	s.fails(t, "GET", "/admin/api/apps/acme", nil, http.StatusNotFound)
}

func TestValidationListsEveryProblem(t *testing.T) {
	s := startStack(t, "", nil)
	cases := []struct {
		name string
		body string
		want []string // substrings, one per problem
	}{
		{"several problems", `{"id":"bad id","limits":{"max_message_size":-1,"history_size":-4,"monthly_messages":-1},"keys":[{"alg":"XX","secret":"s"}]}`,
			[]string{"id", "max_message_size", "history_size", "monthly_messages", `alg "XX"`}},
		{"unknown key", `{"id":"x","limitz":{}}`, []string{"limitz"}},
		{"not an object", `[1,2]`, []string{"one JSON object"}},
		{"bad webhook", `{"id":"x","webhook":{"url":"ftp://a"}}`, []string{"webhook"}},
		{"key file", `{"id":"x","keys":[{"public_key_file":"/etc/passwd"}]}`, []string{"public_key_file"}},
		{"short API key", `{"id":"x","api_key":"short"}`, []string{"api_keys[0]"}},
		{"duration", `{"id":"x","limits":{"auth_timeout":"soon"}}`, []string{"time.Duration"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			problems := s.fails(t, "POST", "/admin/api/apps", c.body, http.StatusBadRequest)
			if len(problems) < len(c.want) {
				t.Fatalf("problems %q, want %d", problems, len(c.want))
			}
			all := strings.Join(problems, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q do not mention %q", problems, w)
				}
			}
		})
	}
	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "ok"}, &c)
	s.fails(t, "PATCH", "/admin/api/apps/ok", `{"keys":[]}`, http.StatusBadRequest)
	s.fails(t, "PATCH", "/admin/api/apps/ok", `{"id":"other"}`, http.StatusBadRequest)
	s.fails(t, "PATCH", "/admin/api/apps/ok", `{"limits":{"burst":-1}}`, http.StatusBadRequest)
}

func TestConfigAppsAreReadOnly(t *testing.T) {
	s := startStack(t, "", nil)
	var list struct {
		Apps []appView `json:"apps"`
	}
	s.ok(t, "GET", "/admin/api/apps", nil, &list)
	if len(list.Apps) != 1 || list.Apps[0].ID != auth.DevAppID || list.Apps[0].Source != "config" {
		t.Fatalf("apps = %+v", list.Apps)
	}
	for _, c := range []struct{ method, path string }{
		{"PATCH", "/admin/api/apps/" + auth.DevAppID},
		{"DELETE", "/admin/api/apps/" + auth.DevAppID},
		{"POST", "/admin/api/apps/" + auth.DevAppID + "/keys"},
		{"POST", "/admin/api/apps"},
	} {
		body := any(nil)
		if c.path == "/admin/api/apps" {
			body = map[string]any{"id": auth.DevAppID}
		}
		s.fails(t, c.method, c.path, body, http.StatusConflict)
	}
}

// TestPersistence restarts the server and the admin API on the same data_dir.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, dir, nil)
	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "kept", "presence_channels": []string{"room-*"}}, &c)
	if err := s.adm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s2 := startStack(t, dir, nil)
	if _, r := connect(t, s2, "kept", sign(t, "kept", c.Kid, c.Secret, "alice")); r.Code != 200 {
		t.Fatalf("auth after restart: %+v", r)
	}
	var v appView
	s2.ok(t, "GET", "/admin/api/apps/kept", nil, &v)
	if v.Source != "api" || !slices.Equal(anyStrings(v.Settings["presence_channels"]), []string{"room-*"}) {
		t.Fatalf("after restart: %+v", v)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestUsageAndMonthlyQuota publishes through the API up to monthly_messages, then checks the
// 429, the hourly usage in JSON and CSV, and the live stats.
func TestUsageAndMonthlyQuota(t *testing.T) {
	s := startStack(t, "", nil)
	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "billed", "limits": map[string]any{"monthly_messages": 3}}, &c)
	sub, r := connect(t, s, "billed", sign(t, "billed", c.Kid, c.Secret, "alice"))
	if r.Code != 200 {
		t.Fatal(r)
	}
	if r := sub.call(protocol.EventSubscribe, map[string]any{"channel": "news"}); r.Code != 200 {
		t.Fatal(r)
	}
	for i := range 3 {
		s.ok(t, "POST", "/admin/api/apps/billed/publish", map[string]any{"channel": "news", "data": i}, nil)
		if p := sub.push(); p.Event != protocol.PushMessage || string(p.Data) == "" {
			t.Fatalf("push %+v", p)
		}
	}
	st, env, raw := s.call(t, testToken, "POST", "/admin/api/apps/billed/publish", map[string]any{"channel": "news", "data": 4})
	if st != http.StatusTooManyRequests || env.Message != "超出配额" {
		t.Fatalf("fourth publish: %d %s", st, raw)
	}
	// Over the WebSocket too.
	if r := sub.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": 5}); r.Code != 429 || r.Message != "超出配额" {
		t.Fatalf("messageSend over quota: %+v", r)
	}

	if err := s.adm.agg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var u struct {
		Rows  []usageRow `json:"rows"`
		Total struct {
			MessagesIn      int64 `json:"messages_in"`
			MessagesOut     int64 `json:"messages_out"`
			PeakConnections int64 `json:"peak_connections"`
		} `json:"total"`
	}
	s.ok(t, "GET", "/admin/api/apps/billed/usage?granularity=day", nil, &u)
	if len(u.Rows) != 1 || u.Total.MessagesIn != 3 || u.Total.MessagesOut != 3 || u.Total.PeakConnections != 1 {
		t.Fatalf("usage = %+v", u)
	}
	st, _, raw = s.call(t, testToken, "GET", "/admin/api/apps/billed/usage?format=csv", nil)
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if st != 200 || err != nil || len(recs) != 2 || recs[0][3] != "messages_in" || recs[1][3] != "3" {
		t.Fatalf("csv = %d %v %q", st, err, recs)
	}
	s.fails(t, "GET", "/admin/api/apps/no:such:app/usage", nil, http.StatusNotFound)
	for _, q := range []string{"granularity=week", "from=yesterday", "from=2026-01-02&to=2026-01-01", "format=xml"} {
		s.fails(t, "GET", "/admin/api/apps/billed/usage?"+q, nil, http.StatusBadRequest)
	}

	var stats struct {
		Connections int64 `json:"connections"`
		Channels    int   `json:"channels"`
	}
	eventually(t, "stats show the connection", func() bool {
		s.ok(t, "GET", "/admin/api/apps/billed/stats", nil, &stats)
		return stats.Connections == 1 && stats.Channels == 1
	})
	var chans struct {
		Count int `json:"count"`
	}
	s.ok(t, "GET", "/admin/api/apps/billed/channels", nil, &chans)
	if chans.Count != 1 {
		t.Fatalf("channels = %+v", chans)
	}
}

func TestTokenGeneratorAndStream(t *testing.T) {
	s := startStack(t, "", nil)
	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "gen"}, &c)
	var tk struct {
		Token string `json:"token"`
		Kid   string `json:"kid"`
	}
	s.ok(t, "POST", "/admin/api/apps/gen/token", map[string]any{"sub": "carol", "channels": []string{"room-*"}, "ttl": 60}, &tk)
	if tk.Kid != c.Kid {
		t.Fatalf("token kid %q, want %q", tk.Kid, c.Kid)
	}
	if _, r := connect(t, s, "gen", tk.Token); r.Code != 200 {
		t.Fatalf("generated token: %+v", r)
	}
	s.fails(t, "POST", "/admin/api/apps/gen/token", map[string]any{"ttl": -5}, http.StatusBadRequest)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.HTTP+"/admin/api/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	buf := make([]byte, 0, 4096)
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(string(buf), `"gen":{"t":`) || !strings.Contains(string(buf), `"connections":1`) {
		if time.Now().After(deadline) {
			t.Fatalf("stream never showed the connection: %s", buf)
		}
		chunk := make([]byte, 2048)
		n, err := resp.Body.Read(chunk)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, chunk[:n]...)
	}
}

func TestAdminListen(t *testing.T) {
	s := startStack(t, "", func(c *config.Config) { c.Admin.Listen = "127.0.0.1:0" })
	if s.adm.Addr() == "" {
		t.Fatal("no admin address")
	}
	s.ok(t, "GET", "/admin/api/apps", nil, nil)
	resp, err := http.Get(s.HTTP + "/admin/api/apps")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("admin API on the main port with admin.listen set: %d", resp.StatusCode)
	}
}

func TestRequireToken(t *testing.T) {
	s := startStack(t, "", nil)
	s.Handle("POST /admin/require-token-test", s.adm.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(Who(r)))
	})))
	for _, c := range []struct {
		token  string
		status int
		body   string
	}{{"", 401, ""}, {"nope-nope-nope-nope", 401, ""}, {opsToken, 200, "ops"}} {
		st, _, raw := s.call(t, c.token, "POST", "/admin/require-token-test", nil)
		if st != c.status || (c.body != "" && string(raw) != c.body) {
			t.Errorf("token %q: %d %s, want %d %s", c.token, st, raw, c.status, c.body)
		}
	}
}
