package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-client/internal/wsframe"
)

// conn is one WebSocket connection of a Client. It lives from dial to its first failure;
// reconnection makes a new one. Safe for concurrent use: writes are serialized by wmu,
// pending calls guarded by pmu, and only the read loop reads.
type conn struct {
	c        *Client
	nc       net.Conn
	rd       *wsframe.Reader
	clientID string
	exp      atomic.Int64 // the token's exp, Unix seconds; 0 when unknown

	wmu  sync.Mutex
	wbuf []byte

	pmu     sync.Mutex
	pending map[uint64]*call
	dead    bool
	cause   error // why the connection ended; set once, before done is closed

	once sync.Once
	done chan struct{}
}

// call is a request waiting for its response.
type call struct {
	event string
	ch    chan result // buffered: the read loop never blocks on a caller
	// hook runs on the read loop before the caller wakes, so that its effects are ordered
	// with the pushes around the response (subscribe uses it for recovery).
	hook func(envelope)
}

type result struct {
	env envelope
	err error
}

// dial connects, starts the read loop and authenticates with a fresh token.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	token, err := c.cfg.GetToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("rtmate: get token: %w", err)
	}
	d := ws.Dialer{
		Timeout:        c.cfg.DialTimeout,
		NetDial:        c.cfg.NetDial,
		ReadBufferSize: c.cfg.ReadBufferSize,
	}
	if c.cfg.Header != nil {
		d.Header = ws.HandshakeHeaderHTTP(c.cfg.Header)
	}
	nc, br, _, err := d.Dial(ctx, c.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("rtmate: dial %s: %w", c.cfg.URL, err)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, c.cfg.ReadBufferSize)
	}
	// Otherwise br holds bytes the server sent right after the handshake and wraps nc, so
	// reading on from it loses nothing.
	rd, err := wsframe.NewReader(br, c.cfg.MaxMessageSize)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cn := &conn{c: c, nc: nc, rd: rd, pending: make(map[uint64]*call), done: make(chan struct{})}
	c.wg.Add(1)
	go cn.readLoop()

	payload, err := json.Marshal(protocol.AuthPayload{AppID: c.cfg.AppID, Token: token})
	if err != nil {
		cn.close(err, 0)
		return nil, err
	}
	env, err := cn.do(ctx, protocol.EventAuth, payload, nil, c.cfg.RequestTimeout)
	if err != nil {
		cn.close(err, CloseNormal)
		if se := (*Error)(nil); errors.As(err, &se) {
			return nil, err // it names the auth event already
		}
		return nil, fmt.Errorf("rtmate: auth: %w", err)
	}
	var data protocol.AuthData
	if err := json.Unmarshal(env.Data, &data); err != nil {
		cn.close(err, CloseNormal)
		return nil, fmt.Errorf("rtmate: auth response: %w", err)
	}
	cn.clientID = data.ClientID
	if exp, err := tokenExpiry(token); err == nil && !exp.IsZero() {
		cn.exp.Store(exp.Unix())
	}
	c.wg.Add(2)
	go cn.pingLoop()
	go cn.refreshLoop()
	return cn, nil
}

// close ends the connection once: pending calls fail with ErrDisconnected wrapping cause,
// and when code is not 0 a close frame is sent first (best effort).
func (cn *conn) close(cause error, code int) {
	cn.once.Do(func() {
		cn.pmu.Lock()
		cn.dead, cn.cause = true, cause
		pending := cn.pending
		cn.pending = nil
		cn.pmu.Unlock()
		err := disconnected(cause)
		for _, cl := range pending {
			cl.ch <- result{err: err}
		}
		if code != 0 {
			// TryLock: a writer stuck on a dead socket must not hold up closing it.
			if cn.wmu.TryLock() {
				_ = cn.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = cn.nc.Write(wsframe.AppendClientClose(nil, ws.StatusCode(code), ""))
				cn.wmu.Unlock()
			}
		}
		if err := cn.nc.Close(); err != nil {
			cn.c.log.Debug("rtmate: close socket", "err", err)
		}
		close(cn.done)
	})
}

func disconnected(cause error) error {
	if errors.Is(cause, ErrDisconnected) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, cause)
}

// err returns why the connection ended (nil while it is alive).
func (cn *conn) err() error {
	cn.pmu.Lock()
	defer cn.pmu.Unlock()
	return cn.cause
}

func (cn *conn) readLoop() {
	defer cn.c.wg.Done()
	for {
		op, p, err := cn.rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server closed the TCP connection without a close frame")
			}
			cn.close(fmt.Errorf("rtmate: read: %w", err), 0)
			return
		}
		switch op {
		case ws.OpText, ws.OpBinary:
			cn.handle(p)
		case ws.OpPing:
			_ = cn.writeFrame(ws.OpPong, p) // a broken socket fails the next read, which reconnects
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			if code.Empty() {
				code = ws.StatusNoStatusRcvd
			}
			// Echo the code, as RFC 6455 asks, then report it.
			echo := int(code)
			if !code.IsProtocolDefined() && !code.IsApplicationSpec() && !code.IsPrivateSpec() {
				echo = CloseNormal
			}
			cn.close(&CloseError{Code: int(code), Reason: reason}, echo)
			return
		}
	}
}

// handle routes one server message: a response to its call, a push to its subscription.
func (cn *conn) handle(p []byte) {
	env, err := parseEnvelope(p)
	if err != nil {
		cn.c.reportError(fmt.Errorf("%w: %.200q", err, p))
		return
	}
	if env.HasID {
		cn.pmu.Lock()
		cl := cn.pending[env.ID]
		delete(cn.pending, env.ID)
		cn.pmu.Unlock()
		if cl == nil {
			return // the caller gave up waiting
		}
		if cl.hook != nil {
			cl.hook(env)
		}
		env.Data = bytes.Clone(env.Data) // p is reused by the next read
		cl.ch <- result{env: env}
		return
	}
	switch env.Event {
	case protocol.PushMessage:
		cn.c.onMessage(cn, env.Data)
	case protocol.PushJoin, protocol.PushLeave:
		cn.c.onPresence(env.Event, env.Data)
	case protocol.PushResync:
		cn.c.onResync(cn, env.Data)
	default:
		if env.Code != protocol.Success.Code() {
			// A response to a request the server could not parse (it has no id).
			cn.c.reportError(&Error{Code: env.Code, Message: env.Message, Event: env.Event})
		}
		// Unknown pushes are ignored: newer servers may add kinds.
	}
}

// writeFrame writes one masked frame; a failure ends the connection.
func (cn *conn) writeFrame(op ws.OpCode, p []byte) error {
	cn.wmu.Lock()
	cn.wbuf = wsframe.AppendClientFrame(cn.wbuf[:0], op, p)
	err := cn.nc.SetWriteDeadline(time.Now().Add(cn.c.cfg.WriteTimeout))
	if err == nil {
		_, err = cn.nc.Write(cn.wbuf)
	}
	if cap(cn.wbuf) > 64<<10 {
		cn.wbuf = nil // one big publish must not pin its buffer for the connection's life
	}
	cn.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("rtmate: write: %w", err)
		cn.close(err, 0)
	}
	return err
}

// send registers a call and writes its request. A write failure is delivered through the
// call like any other disconnection.
func (cn *conn) send(event string, payload []byte, hook func(envelope)) (uint64, *call, error) {
	id := cn.c.nextID.Add(1)
	cl := &call{event: event, ch: make(chan result, 1), hook: hook}
	cn.pmu.Lock()
	if cn.dead {
		cause := cn.cause
		cn.pmu.Unlock()
		return 0, nil, disconnected(cause)
	}
	cn.pending[id] = cl
	cn.pmu.Unlock()
	_ = cn.writeFrame(ws.OpText, appendRequest(nil, event, id, payload))
	return id, cl, nil
}

// wait waits for call id's response, at most timeout. A response with a code other than
// 200 becomes an *Error.
func (cn *conn) wait(ctx context.Context, id uint64, cl *call, timeout time.Duration) (envelope, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var r result
	select {
	case r = <-cl.ch:
	case <-ctx.Done():
		cn.forget(id)
		return envelope{}, ctx.Err()
	case <-t.C:
		cn.forget(id)
		return envelope{}, fmt.Errorf("%w: %s: no response within %v", ErrTimeout, cl.event, timeout)
	}
	if r.err != nil {
		return envelope{}, r.err
	}
	if r.env.Code != protocol.Success.Code() {
		return r.env, &Error{Code: r.env.Code, Message: r.env.Message, Event: cl.event, Reason: reasonOf(r.env.Data)}
	}
	return r.env, nil
}

func (cn *conn) forget(id uint64) {
	cn.pmu.Lock()
	delete(cn.pending, id)
	cn.pmu.Unlock()
}

// do is send followed by wait.
func (cn *conn) do(ctx context.Context, event string, payload []byte, hook func(envelope), timeout time.Duration) (envelope, error) {
	id, cl, err := cn.send(event, payload, hook)
	if err != nil {
		return envelope{}, err
	}
	return cn.wait(ctx, id, cl, timeout)
}

// pingLoop sends an application-level ping every PingInterval; a ping without a response
// within PingTimeout means the path is dead even if TCP has not noticed, so the connection
// is dropped and the client reconnects.
func (cn *conn) pingLoop() {
	defer cn.c.wg.Done()
	if cn.c.cfg.PingInterval < 0 {
		return
	}
	t := time.NewTicker(cn.c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case <-t.C:
		}
		_, err := cn.do(cn.c.ctx, protocol.EventPing, nil, nil, cn.c.cfg.PingTimeout)
		if errors.Is(err, ErrTimeout) {
			cn.c.log.Warn("rtmate: ping timed out, reconnecting", "timeout", cn.c.cfg.PingTimeout)
			cn.close(fmt.Errorf("rtmate: ping: %w", err), CloseNormal)
			return
		}
	}
}

// refreshLoop sends a fresh token before the current one expires. A failed refresh is
// retried until the token expires; then the server closes with 4001 and the reconnection
// fetches a new token anyway.
func (cn *conn) refreshLoop() {
	defer cn.c.wg.Done()
	const retry = 2 * time.Second
	for {
		exp := cn.exp.Load()
		if exp == 0 {
			return
		}
		t := time.NewTimer(refreshDelay(time.Now(), time.Unix(exp, 0), cn.c.cfg.RefreshBefore))
		select {
		case <-cn.done:
			t.Stop()
			return
		case <-t.C:
		}
		newExp, err := cn.refresh()
		if err == nil {
			cn.exp.Store(newExp)
			cn.c.log.Debug("rtmate: token refreshed", "exp", time.Unix(newExp, 0))
			continue
		}
		select {
		case <-cn.done:
			return
		default:
		}
		cn.c.reportError(fmt.Errorf("rtmate: token refresh: %w", err))
		select {
		case <-cn.done:
			return
		case <-time.After(retry):
		}
	}
}

func (cn *conn) refresh() (int64, error) {
	ctx, cancel := context.WithTimeout(cn.c.ctx, cn.c.cfg.RequestTimeout)
	defer cancel()
	token, err := cn.c.cfg.GetToken(ctx)
	if err != nil {
		return 0, err
	}
	payload, err := json.Marshal(protocol.AuthPayload{AppID: cn.c.cfg.AppID, Token: token})
	if err != nil {
		return 0, err
	}
	if _, err := cn.do(ctx, protocol.EventAuth, payload, nil, cn.c.cfg.RequestTimeout); err != nil {
		return 0, err
	}
	exp, err := tokenExpiry(token)
	if err != nil || exp.IsZero() {
		return 0, nil // no exp: nothing more to refresh
	}
	return exp.Unix(), nil
}
