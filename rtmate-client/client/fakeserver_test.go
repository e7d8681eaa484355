package client_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeServer is a scripted protocol-v1 server for the client's unit tests: it answers auth,
// ping, subscribe, unsubscribe and messageSend with success unless the test's script
// intercepts a request, which lets tests produce the orderings a real server rarely does.
type fakeServer struct {
	t   testing.TB
	ln  net.Listener
	URL string
	// script sees every request first; returning true means it handled the request.
	script func(fc *fakeConn, req fakeRequest) bool

	mu    sync.Mutex
	conns []*fakeConn
	wg    sync.WaitGroup
}

type fakeRequest struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	ID      json.RawMessage `json:"id"`
}

func (r fakeRequest) channel() string {
	var p struct {
		Channel string `json:"channel"`
	}
	_ = json.Unmarshal(r.Payload, &p)
	return p.Channel
}

type fakeConn struct {
	srv  *fakeServer
	n    int // 1 for the first connection
	nc   net.Conn
	wmu  sync.Mutex
	reqs chan fakeRequest // every request, for assertions (buffered, never blocks the loop)
}

func newFakeServer(t testing.TB, script func(fc *fakeConn, req fakeRequest) bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, URL: "ws://" + ln.Addr().String() + "/ws", script: script}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		if _, err := ws.Upgrade(nc); err != nil {
			nc.Close()
			continue
		}
		s.mu.Lock()
		fc := &fakeConn{srv: s, n: len(s.conns) + 1, nc: nc, reqs: make(chan fakeRequest, 1024)}
		s.conns = append(s.conns, fc)
		s.mu.Unlock()
		s.wg.Add(1)
		go fc.serve()
	}
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, fc := range s.conns {
		fc.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// conn waits for the n-th connection (1-based).
func (s *fakeServer) conn(n int) *fakeConn {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		if len(s.conns) >= n {
			fc := s.conns[n-1]
			s.mu.Unlock()
			return fc
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("connection %d never came", n)
	return nil
}

func (fc *fakeConn) serve() {
	defer fc.srv.wg.Done()
	defer fc.nc.Close()
	br := bufio.NewReader(fc.nc)
	rw := struct {
		io.Reader
		io.Writer
	}{br, fc.nc}
	for {
		data, op, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		if op != ws.OpText {
			continue
		}
		var req fakeRequest
		if err := json.Unmarshal(data, &req); err != nil {
			fc.send(`{"code":400,"message":"参数错误","data":null}`)
			continue
		}
		select {
		case fc.reqs <- req:
		default:
		}
		if fc.srv.script != nil && fc.srv.script(fc, req) {
			continue
		}
		fc.defaultReply(req)
	}
}

func (fc *fakeConn) defaultReply(req fakeRequest) {
	switch req.Event {
	case "auth":
		fc.reply(req, 200, "success", fmt.Sprintf(`{"state":true,"client_id":"c%d"}`, fc.n))
	case "ping":
		fc.reply(req, 200, "success", "null")
	case "subscribe", "unsubscribe", "messageSend", "presence":
		fc.reply(req, 200, "success", fmt.Sprintf(`{"channel":%q}`, req.channel()))
	default:
		fc.reply(req, 400, "不支持的事件类型", "null")
	}
}

func (fc *fakeConn) send(msg string) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = wsutil.WriteServerText(fc.nc, []byte(msg))
}

func (fc *fakeConn) reply(req fakeRequest, code int, message, data string) {
	fc.send(fmt.Sprintf(`{"code":%d,"message":%q,"data":%s,"event":%q,"id":%s}`, code, message, data, req.Event, req.ID))
}

func (fc *fakeConn) push(channel, data string, offset uint64) {
	off := ""
	if offset > 0 {
		off = fmt.Sprintf(`,"offset":%d`, offset)
	}
	fc.send(fmt.Sprintf(`{"code":200,"message":"success","event":"message","data":{"channel":%q,"data":%s,"from":"x"%s}}`, channel, data, off))
}

func (fc *fakeConn) closeWith(code ws.StatusCode, reason string) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = ws.WriteFrame(fc.nc, ws.NewCloseFrame(ws.NewCloseFrameBody(code, reason)))
	fc.nc.Close()
}

// nextRequest waits for the connection's next request of the given event.
func (fc *fakeConn) nextRequest(t testing.TB, event string) fakeRequest {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case req := <-fc.reqs:
			if req.Event == event {
				return req
			}
		case <-timeout:
			t.Fatalf("connection %d: no %s request", fc.n, event)
		}
	}
}

// fakeToken is an unsigned JWT carrying exp: enough for the client, which never verifies.
func fakeToken(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc(fmt.Appendf(nil, `{"app_id":"demo-app","sub":"u","exp":%d}`, exp.Unix())) + "." +
		enc([]byte(strings.Repeat("s", 32)))
}
