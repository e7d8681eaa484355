package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/api"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/metrics"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// The two apps of every test: the development app and a second one, to show that one app's
// limits, keys and channels never touch the other's.
const (
	devKey      = auth.DevAPIKey
	otherApp    = "other-app"
	otherSecret = "other-secret-0123456789abcdef"
	otherKey    = "other-api-key"
	waitFor     = 5 * time.Second
)

// stack is a running server wired the way cmd/rtmate-server wires it: metrics as the
// observer, the API at /api/, metrics at /metrics.
type stack struct {
	*testserver.Server
	metrics *metrics.Metrics
}

// withOther adds otherApp to the development config, then applies adjust.
func testConfig(t *testing.T, adjust func(*config.Config)) *config.Config {
	t.Helper()
	return testserver.Config(t, func(cfg *config.Config) {
		cfg.Apps = append(cfg.Apps, config.App{AppConfig: auth.AppConfig{ID: otherApp, Secret: otherSecret}, APIKey: otherKey})
		if adjust != nil {
			adjust(cfg)
		}
	})
}

func app(cfg *config.Config, id string) *config.App {
	for i := range cfg.Apps {
		if cfg.Apps[i].ID == id {
			return &cfg.Apps[i]
		}
	}
	panic("no app " + id)
}

func startStack(t *testing.T, cfg *config.Config) *stack {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t, nil)
	}
	m := metrics.New()
	ts := testserver.Start(t, cfg, server.Options{Observer: server.Observers{m}})
	m.SetSource(ts.Server)
	ts.Handle("/api/", api.New(ts.Server, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))))
	ts.Handle("GET /metrics", m.Handler())
	return &stack{Server: ts, metrics: m}
}

// reply is the envelope of every HTTP API response and WebSocket message.
type reply struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Event   string          `json:"event,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
}

func (r reply) String() string {
	return fmt.Sprintf("{%d %s %s event=%s id=%s}", r.Code, r.Message, r.Data, r.Event, r.ID)
}

// is reports whether r carries code (the row's number and message).
func (r reply) is(code protocol.WsBizCode) bool {
	return r.Code == code.Code() && r.Message == code.Message()
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

var httpClient = &http.Client{Timeout: waitFor}

// apiCall makes one HTTP request; body is sent as is when it is a string or []byte, else
// encoded as JSON. It returns the status, the decoded envelope and the raw body.
func (s *stack) apiCall(t *testing.T, method, path, key string, body any) (int, reply, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.HTTP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	var env reply
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // the HTTP envelope is exactly code, message, data
	if err := dec.Decode(&env); err != nil || env.Event != "" || env.ID != nil {
		t.Fatalf("%s %s: not an envelope: %s (%v)", method, path, raw, err)
	}
	return resp.StatusCode, env, resp.Header
}

// expectOK calls the API and fails unless it answered 200 success; it returns the data.
func (s *stack) expectOK(t *testing.T, method, path, key string, body any) reply {
	t.Helper()
	status, env, _ := s.apiCall(t, method, path, key, body)
	if status != http.StatusOK || !env.is(protocol.Success) {
		t.Fatalf("%s %s: %d %s", method, path, status, env)
	}
	return env
}

// expectError calls the API and fails unless it answered status with code.
func (s *stack) expectError(t *testing.T, method, path, key string, body any, status int, code protocol.WsBizCode) http.Header {
	t.Helper()
	got, env, h := s.apiCall(t, method, path, key, body)
	if got != status || !env.is(code) || string(env.Data) != "null" {
		t.Fatalf("%s %s: got %d %s, want %d %d %s data null", method, path, got, env, status, code.Code(), code.Message())
	}
	return h
}

// wsClient is a coder/websocket connection that tells responses (which carry our id) from
// pushes (which carry none), keeping pushes that arrive while it waits for a response.
type wsClient struct {
	t        *testing.T
	c        *websocket.Conn
	nextID   int
	pushes   []reply
	clientID string
}

func dialWS(t *testing.T, s *stack, opts *websocket.DialOptions) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.URL, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c}
}

// connect dials and authenticates as sub of appID (signed with secret).
func connect(t *testing.T, s *stack, appID, secret, sub string) *wsClient {
	t.Helper()
	c := dialWS(t, s, nil)
	r := c.call(protocol.EventAuth, map[string]any{"appId": appID, "token": testserver.Token(t, appID, secret, sub, time.Hour, nil)})
	if !r.is(protocol.Success) {
		t.Fatalf("auth %s/%s: %s", appID, sub, r)
	}
	var d struct {
		ClientID string `json:"client_id"`
	}
	r.decode(t, &d)
	c.clientID = d.ClientID
	return c
}

func connectDev(t *testing.T, s *stack, sub string) *wsClient {
	return connect(t, s, auth.DevAppID, auth.DevSecret, sub)
}

func (c *wsClient) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageText, b)
}

// read returns the next message, or the error that ended the connection.
func (c *wsClient) read() (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	typ, b, err := c.c.Read(ctx)
	if err != nil {
		return reply{}, err
	}
	if typ != websocket.MessageText {
		return reply{}, fmt.Errorf("a binary message")
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		return reply{}, fmt.Errorf("message %q: %w", b, err)
	}
	return r, nil
}

// call sends a request with a fresh id and returns its response.
func (c *wsClient) call(event string, payload any) reply {
	c.t.Helper()
	c.nextID++
	req := map[string]any{"event": event, "id": c.nextID}
	if payload != nil {
		req["payload"] = payload
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.write(b); err != nil {
		c.t.Fatalf("send %s: %v", event, err)
	}
	want := fmt.Sprint(c.nextID)
	for {
		r, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for the %s response: %v", event, err)
		}
		if r.ID == nil {
			c.pushes = append(c.pushes, r)
			continue
		}
		if string(r.ID) != want {
			c.t.Fatalf("response to id %s while waiting for %s: %s", r.ID, want, r)
		}
		return r
	}
}

func (c *wsClient) subscribe(ch string) {
	c.t.Helper()
	if r := c.call(protocol.EventSubscribe, map[string]any{"channel": ch}); !r.is(protocol.Success) {
		c.t.Fatalf("subscribe %s: %s", ch, r)
	}
}

// push returns the next push.
func (c *wsClient) push() reply {
	c.t.Helper()
	if len(c.pushes) > 0 {
		r := c.pushes[0]
		c.pushes = c.pushes[1:]
		return r
	}
	r, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for a push: %v", err)
	}
	if r.ID != nil {
		c.t.Fatalf("a response where a push was expected: %s", r)
	}
	return r
}

// message is the data of a message push.
type message struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	From    string          `json:"from"`
	Offset  uint64          `json:"offset"`
}

// expectMessage waits for the next push and checks that it is a message on ch whose data
// is data byte for byte, from from.
func (c *wsClient) expectMessage(ch, data, from string) message {
	c.t.Helper()
	p := c.push()
	var m message
	if p.Event != protocol.PushMessage || !p.is(protocol.Success) {
		c.t.Fatalf("want a message push, got %s", p)
	}
	p.decode(c.t, &m)
	if m.Channel != ch || string(m.Data) != data || m.From != from {
		c.t.Fatalf("message %+v (data %s), want channel %s data %s from %s", m, m.Data, ch, data, from)
	}
	return m
}

// expectClose reads until the server closes the connection and checks the close code;
// pushes before the close are skipped.
func (c *wsClient) expectClose(code int) {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); int(got) != code {
			c.t.Fatalf("connection ended with %v (status %d), want close %d", err, got, code)
		}
		return
	}
}

// stillOpen checks that the connection answers a ping.
func (c *wsClient) stillOpen() {
	c.t.Helper()
	if r := c.call(protocol.EventPing, nil); !r.is(protocol.Success) {
		c.t.Fatalf("ping: %s", r)
	}
}

// smallReceiveBuffer dials with a tiny socket receive buffer, so that a client that stops
// reading makes the server's queue grow after a few kilobytes instead of megabytes.
func smallReceiveBuffer() *websocket.DialOptions {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}}
}

// scrape fetches /metrics and parses the text exposition format.
func (s *stack) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpClient.Get(s.HTTP + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels include labels
// (name=value pairs), or -1 when there is none. Histograms give their sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
