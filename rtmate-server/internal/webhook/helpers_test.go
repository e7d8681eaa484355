package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// waitLimit bounds every wait; it is a failure bound for -race on two noisy cores, never an
// assertion about speed.
const waitLimit = 15 * time.Second

const testSecret = "whsec-test-0123456789"

// fast makes retries quick in tests.
var fast = tuning{backoffBase: 5 * time.Millisecond, backoffMax: 40 * time.Millisecond}

// wireEvent is an event as the receiver decodes it.
type wireEvent struct {
	ID       string          `json:"id"`
	AppID    string          `json:"app_id"`
	Event    string          `json:"event"`
	Time     int64           `json:"time"`
	ClientID string          `json:"client_id"`
	UserID   *string         `json:"user_id"`
	Channel  *string         `json:"channel"`
	Data     json.RawMessage `json:"data"`
}

// request is one request the receiver got (every attempt counts).
type request struct {
	header http.Header
	body   []byte
	events []wireEvent
	status int    // what the receiver answered (0 when it never did)
	reply  string // the body the respond function chose
}

// receiver is a webhook endpoint on loopback that checks every signature and records
// every request. respond chooses the status of each request (nil: 200); it may block, and
// must return when ctx is done.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []request
	accepted []wireEvent // events of requests answered 2xx, in arrival order
	respond  func(ctx context.Context, n int, r *request) int
	notify   chan struct{}
}

func newReceiver(t testing.TB, respond func(ctx context.Context, n int, r *request) int) *receiver {
	t.Helper()
	rc := &receiver{t: t, respond: respond, notify: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	ts := r.Header.Get(HeaderTimestamp)
	if err := Verify(testSecret, ts, body, r.Header.Get(HeaderSignature)); err != nil {
		rc.t.Errorf("receiver: %v (timestamp %q, body %s)", err, ts, body)
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		rc.t.Errorf("receiver: timestamp %q is not the current Unix second", ts)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.t.Errorf("receiver: %s with content type %q", r.Method, r.Header.Get("Content-Type"))
	}
	req := request{header: r.Header.Clone(), body: body}
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &req.events)
	} else {
		var ev wireEvent
		err = json.Unmarshal(body, &ev)
		req.events = []wireEvent{ev}
	}
	if err != nil {
		rc.t.Errorf("receiver: body is not JSON: %v: %s", err, body)
	}
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, req)
	respond := rc.respond
	rc.mu.Unlock()

	status := http.StatusOK
	if respond != nil {
		status = respond(r.Context(), n, &req)
	}
	if status == 0 { // the handler gave up waiting: the client is gone
		return
	}
	rc.mu.Lock()
	rc.reqs[n].status = status
	if status >= 200 && status < 300 {
		rc.accepted = append(rc.accepted, req.events...)
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write([]byte(req.reply))
	select {
	case rc.notify <- struct{}{}:
	default:
	}
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) events() []wireEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]wireEvent(nil), rc.accepted...)
}

// waitEvents waits until at least n events were accepted and returns them.
func (rc *receiver) waitEvents(n int) []wireEvent {
	rc.t.Helper()
	eventually(rc.t, fmt.Sprintf("%d accepted events", n), func() bool { return len(rc.events()) >= n })
	return rc.events()
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// block is a respond function that never answers until the request is abandoned.
func block(ctx context.Context, _ int, _ *request) int {
	<-ctx.Done()
	return 0
}

// hookCfg returns a webhook config for rc with every event and fast settings.
func hookCfg(url string) *config.Webhook {
	return &config.Webhook{URL: url, Secret: testSecret, Timeout: 10 * time.Second, MaxRetries: 3}
}

// newTestDispatcher builds a dispatcher for cfg with fast retries and closes it when the
// test ends (after everything registered later, such as the server), giving up on a
// receiver that does not answer after a second.
func newTestDispatcher(t testing.TB, cfg *config.Config) *Dispatcher {
	t.Helper()
	d := newDispatcher(cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), fast)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// devConfig is the development config with wh as the dev app's webhook and no request
// rate limit.
func devConfig(t testing.TB, wh *config.Webhook) *config.Config {
	t.Helper()
	return testserver.Config(t, func(cfg *config.Config) {
		cfg.Apps[0].Webhook = wh
		cfg.Apps[0].Limits.Rate = 1e9
		cfg.Apps[0].Limits.Burst = 1 << 30
	})
}

// startServer runs a real server whose observer and hooks are a dispatcher for cfg.
func startServer(t testing.TB, cfg *config.Config) (*testserver.Server, *Dispatcher) {
	t.Helper()
	d := newTestDispatcher(t, cfg)
	srv := testserver.Start(t, cfg, server.Options{Observer: d, Hooks: d})
	return srv, d
}

// stats returns the dev app's counters.
func stats(d *Dispatcher) AppStats {
	for _, s := range d.Stats() {
		if s.App == auth.DevAppID {
			return s
		}
	}
	return AppStats{App: auth.DevAppID}
}

// reply is a server message.
type reply struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Event   string          `json:"event"`
	ID      json.RawMessage `json:"id"`
}

// wsClient is a coder/websocket connection with request/response matching. Not safe for
// concurrent use, except that readPush may run on another goroutine when nothing else reads.
type wsClient struct {
	t        testing.TB
	c        *websocket.Conn
	seq      int
	pushes   []reply
	clientID string
}

func dial(t testing.TB, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c}
}

// authed dials and authenticates to the development app as sub; it fails the test unless
// the server answers 200.
func authed(t testing.TB, srv *testserver.Server, sub string) *wsClient {
	t.Helper()
	c := dial(t, srv.URL)
	r := c.call(protocol.EventAuth, map[string]any{"appId": auth.DevAppID, "token": testserver.DevToken(t, sub, time.Hour)})
	if r.Code != 200 {
		t.Fatalf("auth as %s: %d %s", sub, r.Code, r.Message)
	}
	var d struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(r.Data, &d)
	c.clientID = d.ClientID
	return c
}

func (c *wsClient) send(event string, payload any) string {
	c.t.Helper()
	c.seq++
	id := strconv.Itoa(c.seq)
	b, err := json.Marshal(map[string]any{"event": event, "payload": payload, "id": id})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return id
}

// call sends a request and returns its response; pushes read meanwhile are kept.
func (c *wsClient) call(event string, payload any) reply {
	c.t.Helper()
	id := c.send(event, payload)
	for {
		r := c.read()
		if string(r.ID) == strconv.Quote(id) {
			return r
		}
		if r.ID == nil {
			c.pushes = append(c.pushes, r)
		}
	}
}

func (c *wsClient) read() reply {
	c.t.Helper()
	r, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return r
}

func (c *wsClient) tryRead() (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		return reply{}, fmt.Errorf("decode %s: %w", b, err)
	}
	return r, nil
}

// ok calls and fails the test unless the answer is 200.
func (c *wsClient) ok(event string, payload any) reply {
	c.t.Helper()
	r := c.call(event, payload)
	if r.Code != 200 {
		c.t.Fatalf("%s %v: %d %s", event, payload, r.Code, r.Message)
	}
	return r
}

func (c *wsClient) close() {
	_ = c.c.Close(websocket.StatusNormalClosure, "bye")
}
