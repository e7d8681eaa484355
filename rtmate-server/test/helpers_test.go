package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// readTimeout bounds every single read. It is a failure bound, never an assertion: generous
// enough for -race on two noisy cores.
const readTimeout = 10 * time.Second

// Second app for multi-tenant tests.
const (
	appB       = "app-b"
	appBSecret = "app-b-secret-0123456789"
)

// start runs a server with the development config adjusted by adjust.
func start(t testing.TB, adjust func(*config.Config)) *testserver.Server {
	t.Helper()
	return testserver.Start(t, testserver.Config(t, adjust), server.Options{})
}

// withAppB adds a second app with its own secret (and no history).
func withAppB(cfg *config.Config) {
	cfg.Apps = append(cfg.Apps, config.App{AppConfig: auth.AppConfig{ID: appB, Secret: appBSecret}})
}

// devApp returns the development app of cfg, to adjust its limits.
func devApp(cfg *config.Config) *config.App {
	for i := range cfg.Apps {
		if cfg.Apps[i].ID == auth.DevAppID {
			return &cfg.Apps[i]
		}
	}
	panic("no development app")
}

// unlimited lifts the per-connection request rate of the development app, for tests that
// publish hundreds of messages from one connection.
func unlimited(cfg *config.Config) {
	devApp(cfg).Limits.Rate = 1e9
	devApp(cfg).Limits.Burst = 1 << 30
}

// raw is a JSON text sent verbatim (json.Marshal would compact it).
type raw string

// obj is a payload built with json.Marshal.
type obj = map[string]any

// msg is one server message, fields kept raw so that tests can check exact bytes and the
// absence of a field (nil) apart from null.
type msg struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Event   json.RawMessage `json:"event"`
	ID      json.RawMessage `json:"id"`
	TraceID json.RawMessage `json:"traceId"`

	raw []byte
}

func (m msg) String() string { return string(m.raw) }

// event is the unquoted event, "" when absent or null.
func (m msg) event() string {
	var s string
	_ = json.Unmarshal(m.Event, &s)
	return s
}

func (m msg) traceID() string {
	var s string
	_ = json.Unmarshal(m.TraceID, &s)
	return s
}

// isPush: pushes are the only server messages without a traceId.
func (m msg) isPush() bool { return m.TraceID == nil }

func (m msg) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("decode data of %s: %v", m, err)
	}
}

// pubData is the data of a message push, a history entry or a recovered publication.
type pubData struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	From    string          `json:"from"`
	Offset  uint64          `json:"offset"`
}

type memberData struct {
	Channel  string `json:"channel"`
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
}

type streamData struct {
	Channel      string    `json:"channel"`
	Epoch        string    `json:"epoch"`
	Offset       uint64    `json:"offset"`
	Recovered    *bool     `json:"recovered"`
	Publications []pubData `json:"publications"`
}

// client is a coder/websocket connection with request/response matching. Not safe for
// concurrent use, except that the try* methods return errors instead of failing the test so
// that goroutines other than the test's may use them.
type client struct {
	t        testing.TB
	ws       *websocket.Conn
	seq      int
	pushes   []msg // pushes read while waiting for a response, oldest first
	clientID string
	user     string // the token's sub
}

// dial connects to url; header (may be nil) goes into the upgrade request, e.g. Origin.
func dial(t testing.TB, url string, header http.Header) *client {
	t.Helper()
	c, err := tryDial(url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.t = t
	t.Cleanup(func() { _ = c.ws.CloseNow() })
	return c
}

func tryDial(url string, header http.Header) (*client, error) {
	return tryDialWith(url, &websocket.DialOptions{HTTPHeader: header})
}

// dialSmallBuffer connects with a small, fixed socket receive buffer and a small MSS, so that
// a client that stops reading backs up into the server after kilobytes rather than megabytes
// (on loopback the 64 KiB MSS lets the server's send buffer grow to megabytes).
func dialSmallBuffer(t testing.TB, url string) *client {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err1, err2 error
		err := rc.Control(func(fd uintptr) {
			err1 = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			err2 = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
		})
		return errors.Join(err, err1, err2)
	}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := tryDialWith(url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.t = t
	t.Cleanup(func() { _ = c.ws.CloseNow() })
	return c
}

func tryDialWith(url string, opts *websocket.DialOptions) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(32 << 20)
	return &client{ws: ws}, nil
}

// authed dials and authenticates to the development app as sub.
func authed(t testing.TB, srv *testserver.Server, sub string) *client {
	t.Helper()
	c := dial(t, srv.URL, nil)
	c.auth(auth.DevAppID, testserver.DevToken(t, sub, time.Hour))
	c.user = sub
	return c
}

// auth authenticates and remembers the client id.
func (c *client) auth(app, token string) {
	c.t.Helper()
	r := c.ok(protocol.EventAuth, obj{"appId": app, "token": token})
	var d struct {
		State    bool   `json:"state"`
		ClientID string `json:"client_id"`
	}
	r.decode(c.t, &d)
	if !d.State || d.ClientID == "" {
		c.t.Fatalf("auth data = %s, want state true and a client_id", r.Data)
	}
	c.clientID = d.ClientID
}

func (c *client) writeText(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// sendRaw sends s as one text message.
func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.writeText([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) tryNext() (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	if typ != websocket.MessageText {
		return msg{}, fmt.Errorf("got a %v message, want text", typ)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return msg{}, fmt.Errorf("server sent invalid JSON %q: %w", b, err)
	}
	m.raw = b
	return m, nil
}

// next reads the next message from the socket (ignoring collected pushes).
func (c *client) next() msg {
	c.t.Helper()
	m, err := c.tryNext()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// encodeRequest builds an envelope by hand, so that raw payloads keep every byte.
// id is raw JSON ("" = absent), trace "" = no metadata.
func encodeRequest(event string, payload any, id, trace string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	b.WriteString(strconv.Quote(event))
	switch p := payload.(type) {
	case nil:
	case raw:
		b.WriteString(`,"payload":`)
		b.WriteString(string(p))
	default:
		pb, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"payload":`)
		b.Write(pb)
	}
	if trace != "" {
		b.WriteString(`,"metadata":{"traceId":`)
		b.WriteString(strconv.Quote(trace))
		b.WriteString(`}`)
	}
	if id != "" {
		b.WriteString(`,"id":`)
		b.WriteString(id)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// tryRoundTrip sends a request with the raw JSON id and reads until the response carrying
// that id, collecting pushes on the way. Any other response is an error.
func (c *client) tryRoundTrip(event string, payload any, id, trace string) (msg, error) {
	req, err := encodeRequest(event, payload, id, trace)
	if err != nil {
		return msg{}, err
	}
	return c.tryRoundTripRaw(req, id)
}

func (c *client) tryRoundTripRaw(req []byte, id string) (msg, error) {
	if err := c.writeText(req); err != nil {
		return msg{}, fmt.Errorf("write %s: %w", req, err)
	}
	for {
		m, err := c.tryNext()
		if err != nil {
			return msg{}, fmt.Errorf("waiting for the response to %s: %w", req, err)
		}
		if m.isPush() {
			c.pushes = append(c.pushes, m)
			continue
		}
		if string(m.ID) != id {
			return msg{}, fmt.Errorf("response %s does not answer %s", m, req)
		}
		return m, nil
	}
}

func (c *client) newID() string {
	c.seq++
	return strconv.Quote("r" + strconv.Itoa(c.seq))
}

// call sends event with payload and returns its response, whatever the code.
func (c *client) call(event string, payload any) msg {
	c.t.Helper()
	m, err := c.tryRoundTrip(event, payload, c.newID(), "")
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// tryCall is call for other goroutines.
func (c *client) tryCall(event string, payload any) (msg, error) {
	return c.tryRoundTrip(event, payload, c.newID(), "")
}

// ok calls and requires success.
func (c *client) ok(event string, payload any) msg {
	c.t.Helper()
	m := c.call(event, payload)
	if m.Code != 200 || m.Message != "success" {
		c.t.Fatalf("%s %v: got %s, want success", event, payload, m)
	}
	return m
}

// fail calls and requires the error code's exact code and message.
func (c *client) fail(event string, payload any, want protocol.WsBizCode) msg {
	c.t.Helper()
	m := c.call(event, payload)
	checkCode(c.t, m, want)
	return m
}

func checkCode(t testing.TB, m msg, want protocol.WsBizCode) {
	t.Helper()
	if m.Code != want.Code() || m.Message != want.Message() {
		t.Fatalf("got %s, want %d %s (%v)", m, want.Code(), want.Message(), want)
	}
	if want != protocol.Success && string(m.Data) != "null" {
		t.Fatalf("error response %s: data = %s, want null", m, m.Data)
	}
}

func (c *client) subscribe(ch string) msg {
	c.t.Helper()
	return c.ok(protocol.EventSubscribe, obj{"channel": ch})
}

// publish sends data (raw JSON) to ch and returns the message's offset (0 without history).
func (c *client) publish(ch, data string) uint64 {
	c.t.Helper()
	m := c.ok(protocol.EventMessageSend, raw(`{"channel":`+strconv.Quote(ch)+`,"data":`+data+`}`))
	var d pubData
	m.decode(c.t, &d)
	if d.Channel != ch {
		c.t.Fatalf("messageSend response %s: channel %q, want %q", m, d.Channel, ch)
	}
	return d.Offset
}

func (c *client) tryPublish(ch, data string) error {
	m, err := c.tryCall(protocol.EventMessageSend, raw(`{"channel":`+strconv.Quote(ch)+`,"data":`+data+`}`))
	if err != nil {
		return err
	}
	if m.Code != 200 {
		return fmt.Errorf("publish: %s", m)
	}
	return nil
}

// tryNextPush returns the oldest collected push, or reads one; a response is an error.
func (c *client) tryNextPush() (msg, error) {
	if len(c.pushes) > 0 {
		m := c.pushes[0]
		c.pushes = c.pushes[1:]
		return m, nil
	}
	m, err := c.tryNext()
	if err != nil {
		return msg{}, err
	}
	if !m.isPush() {
		return msg{}, fmt.Errorf("got response %s, want a push", m)
	}
	return m, nil
}

// push returns the next push and requires its event.
func (c *client) push(event string) msg {
	c.t.Helper()
	m, err := c.tryNextPush()
	if err != nil {
		c.t.Fatalf("waiting for a %s push: %v", event, err)
	}
	if m.event() != event || m.Code != 200 || m.Message != "success" || m.ID != nil {
		c.t.Fatalf("got %s, want a %s push", m, event)
	}
	return m
}

// message returns the next push, which must be a message on ch.
func (c *client) message(ch string) pubData {
	c.t.Helper()
	m := c.push(protocol.PushMessage)
	var d pubData
	m.decode(c.t, &d)
	if d.Channel != ch {
		c.t.Fatalf("message push %s: channel %q, want %q", m, d.Channel, ch)
	}
	return d
}

// member returns the next push, which must be event (join/leave) on ch.
func (c *client) member(event, ch string) memberData {
	c.t.Helper()
	m := c.push(event)
	var d memberData
	m.decode(c.t, &d)
	if d.Channel != ch {
		c.t.Fatalf("%s push %s: channel %q, want %q", event, m, d.Channel, ch)
	}
	return d
}

// drain returns every push that reached the client before a ping answered now. Anything a
// publisher was acknowledged for before the call is among them: the server queues a push to
// every subscriber before it acknowledges the publication, and a connection's output is FIFO.
func (c *client) drain() []msg {
	c.t.Helper()
	c.ok(protocol.EventPing, nil)
	p := c.pushes
	c.pushes = nil
	return p
}

// expectNoPush requires that nothing was pushed so far (see drain).
func (c *client) expectNoPush() {
	c.t.Helper()
	if p := c.drain(); len(p) > 0 {
		c.t.Fatalf("unexpected pushes: %v", p)
	}
}

// tryClose reads (discarding messages) until the server closes, and returns the close code
// (-1 when the connection ended without a close frame).
func (c *client) tryClose() (int, error) {
	deadline := time.Now().Add(3 * readTimeout)
	for time.Now().Before(deadline) {
		_, err := c.tryNext()
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != -1 {
			return int(code), nil
		}
		return -1, err
	}
	return -1, errors.New("the server did not close the connection")
}

// expectClose reads until the server closes, requiring code.
func (c *client) expectClose(code int) {
	c.t.Helper()
	got, err := c.tryClose()
	if got != code {
		c.t.Fatalf("close code %d (%v), want %d", got, err, code)
	}
}

// rawConn is a hand-made WebSocket client for frames a library will not send.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// rawDial opens a WebSocket at addr (host:port) with a hand-written upgrade.
func rawDial(t testing.TB, addr string) *rawConn {
	t.Helper()
	r, err := tryRawDial(addr)
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	r.t = t
	t.Cleanup(func() { _ = r.nc.Close() })
	return r
}

// tryRawDial is rawDial for other goroutines; the caller closes r.nc.
func tryRawDial(addr string) (*rawConn, error) {
	nc, err := net.DialTimeout("tcp", addr, readTimeout)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = nc.SetDeadline(time.Now().Add(readTimeout))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("upgrade: status %s", resp.Status)
	}
	_ = nc.SetDeadline(time.Time{})
	return &rawConn{nc: nc, br: br}, nil
}

// frameHeader encodes a masked client frame header announcing length payload bytes.
func frameHeader(fin bool, op byte, length uint64, mask [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0, 0}
	switch {
	case length < 126:
		h[1] = byte(length)
	case length <= 0xffff:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(length))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, length)
	}
	h[1] |= 0x80
	return append(h, mask[:]...)
}

// frame encodes a whole masked client frame.
func frame(fin bool, op byte, payload []byte) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f := frameHeader(fin, op, uint64(len(payload)), mask)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

func (r *rawConn) write(b []byte) error {
	_ = r.nc.SetWriteDeadline(time.Now().Add(readTimeout))
	_, err := r.nc.Write(b)
	return err
}

// readClose reads server frames until a close frame and returns its code.
func (r *rawConn) readClose() (int, error) {
	for {
		op, payload, err := r.readFrame()
		if err != nil {
			return -1, err
		}
		if op == opClose {
			if len(payload) < 2 {
				return 1005, nil
			}
			return int(binary.BigEndian.Uint16(payload)), nil
		}
	}
}

// readFrame reads one server frame.
func (r *rawConn) readFrame() (op byte, payload []byte, err error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(2 * readTimeout))
	return r.readFrameNoDeadline()
}

// readFrameNoDeadline reads one server frame under the deadline the caller set.
func (r *rawConn) readFrameNoDeadline() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("server frame is masked")
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

// isHex16 reports whether s is a generated traceId: 16 lowercase or uppercase hex digits.
func isHex16(s string) bool {
	if len(s) != 16 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F')
	}) < 0
}
