package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

const (
	testToken = "admin-token-0123456789"
	opsToken  = "ops-token-0123456789ab"
	waitFor   = 10 * time.Second
)

type stack struct {
	*testserver.Server
	adm *Admin
	dir string
}

// startStack runs a real server with the admin API on its port and a store in dir ("" for
// a new temporary one).
func startStack(t *testing.T, dir string, adjust func(*config.Config)) *stack {
	t.Helper()
	return startStackWith(t, dir, adjust, Options{})
}

var nodeSeq atomic.Int64

// startStackWith is startStack with admin options (a shared store).
func startStackWith(t *testing.T, dir string, adjust func(*config.Config), opts Options) *stack {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := testserver.Config(t, func(c *config.Config) {
		c.Admin.Token = testToken
		c.Admin.Tokens = []config.AdminToken{{Name: "ops", Token: opsToken}}
		c.Admin.UsageFlushInterval = time.Second
		c.DataDir = dir
		if adjust != nil {
			adjust(c)
		}
	})
	var sopts server.Options
	if cfg.Engine.Type == "redis" {
		// As main does: the Redis engine, whose node registry the console lists.
		eng, err := engine.FromConfig(cfg.Engine, fmt.Sprintf("n%d", nodeSeq.Add(1)), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
		if err != nil {
			t.Fatal(err)
		}
		sopts.Engine = eng
	}
	srv := testserver.Start(t, cfg, sopts)
	srv.Handle("/api/", api.New(srv.Server, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))))
	adm, err := start(cfg, srv.Server, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := adm.Close(context.Background()); err != nil && !strings.Contains(err.Error(), "already closed") {
			t.Errorf("admin close: %v", err)
		}
	})
	s := &stack{Server: srv, adm: adm, dir: dir}
	return s
}

// envelope is an admin API answer.
type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e envelope) errors() []string {
	var d struct {
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Errors
}

func (s *stack) base() string {
	if s.adm.Addr() != "" {
		return "http://" + s.adm.Addr()
	}
	return s.HTTP
}

// call makes an admin API request with token ("" for none) and returns the status and body.
func (s *stack) call(t *testing.T, token, method, path string, body any) (int, envelope, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, env, raw
}

// ok makes a request that must succeed and decodes its data into out (when not nil).
func (s *stack) ok(t *testing.T, method, path string, body, out any) {
	t.Helper()
	st, env, raw := s.call(t, testToken, method, path, body)
	if st != http.StatusOK || env.Code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// fails makes a request that must fail with status and returns its problems.
func (s *stack) fails(t *testing.T, method, path string, body any, status int) []string {
	t.Helper()
	st, env, raw := s.call(t, testToken, method, path, body)
	if st != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, status)
	}
	return env.errors()
}

type createdApp struct {
	App    appView `json:"app"`
	Kid    string  `json:"kid"`
	Secret string  `json:"secret"`
	APIKey string  `json:"api_key"`
}

// wsClient is a minimal protocol client over coder/websocket.
type wsClient struct {
	t  *testing.T
	c  *websocket.Conn
	id int
}

type wsReply struct {
	Event   string          `json:"event"`
	ID      json.RawMessage `json:"id"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func dial(t *testing.T, s *stack) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (c *wsClient) read() (wsReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return wsReply{}, err
	}
	var r wsReply
	if err := json.Unmarshal(b, &r); err != nil {
		return wsReply{}, fmt.Errorf("%q: %w", b, err)
	}
	return r, nil
}

// call sends a request and returns its response, skipping pushes.
func (c *wsClient) call(event string, payload any) wsReply {
	c.t.Helper()
	c.id++
	b, err := json.Marshal(map[string]any{"event": event, "id": c.id, "payload": payload})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
	for {
		r, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", event, err)
		}
		if string(r.ID) == fmt.Sprint(c.id) {
			return r
		}
	}
}

// push returns the next push.
func (c *wsClient) push() wsReply {
	c.t.Helper()
	for {
		r, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for a push: %v", err)
		}
		if r.ID == nil {
			return r
		}
	}
}

func (c *wsClient) expectClose(code websocket.StatusCode) {
	c.t.Helper()
	for {
		if _, err := c.read(); err != nil {
			if got := websocket.CloseStatus(err); got != code {
				c.t.Fatalf("closed with %v, want %d", err, code)
			}
			return
		}
	}
}

// connect authenticates a new connection with tok and returns it and the auth response.
func connect(t *testing.T, s *stack, appID, tok string) (*wsClient, wsReply) {
	t.Helper()
	c := dial(t, s)
	return c, c.call(protocol.EventAuth, map[string]any{"appId": appID, "token": tok})
}

func sign(t *testing.T, appID, kid, secret, sub string) string {
	t.Helper()
	tok, err := auth.Sign(protocol.Claims{AppID: appID, Sub: sub, Exp: time.Now().Add(time.Hour).Unix()},
		auth.SigningKey{Kid: kid, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
