package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Client is a connection to an RTMate server that keeps itself connected. Safe for
// concurrent use by multiple goroutines; see the package documentation for where
// callbacks run.
//
// Lock order: Client.mu before Subscription.mu; neither is held while waiting for the
// network or calling user code.
type Client struct {
	cfg    Config
	log    *slog.Logger
	disp   *dispatcher
	nextID atomic.Uint64
	ctx    context.Context // cancelled by Close: bounds dials and token fetches
	cancel context.CancelFunc
	wg     sync.WaitGroup // the supervisor and every conn goroutine

	mu         sync.Mutex
	state      State
	conn       *conn         // nil unless StateConnected
	ready      chan struct{} // closed while StateConnected or StateClosed
	connecting bool          // a Connect call is in progress
	closeErr   error         // why the client closed, when the server closed it
	subs       map[string]*Subscription
}

// New checks cfg and returns a client that is not connected yet; call Connect.
func New(cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cfg:    cfg,
		log:    cfg.Logger,
		disp:   newDispatcher(),
		ctx:    ctx,
		cancel: cancel,
		ready:  make(chan struct{}),
		subs:   make(map[string]*Subscription),
	}, nil
}

// Dial is New followed by Connect.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		_ = c.Close() // the connect error is the one worth reporting
		return nil, err
	}
	return c, nil
}

// Connect makes one attempt to connect and authenticate, and returns its error (an *Error
// when the server refused the token). Once it has succeeded the client reconnects by itself
// whenever the connection is lost, until Close. Calling Connect on a connected client does
// nothing.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.state == StateClosed:
		c.mu.Unlock()
		return ErrClosed
	case c.state != StateDisconnected:
		c.mu.Unlock()
		return nil
	case c.connecting:
		c.mu.Unlock()
		return errors.New("rtmate: Connect already in progress")
	}
	c.connecting = true
	c.wg.Add(1) // held by the dial, then handed to the supervisor
	c.mu.Unlock()

	// Close must not wait for a slow dial: cancel it with the client.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	cn, err := c.dial(ctx)
	stop()
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.connecting = false
	if err == nil && c.state == StateClosed {
		cn.close(ErrClosed, CloseNormal)
		err = ErrClosed
	}
	if err != nil {
		c.wg.Done()
		return err
	}
	c.setConnectedLocked(cn)
	go c.supervise(cn)
	return nil
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ClientID returns the id the server gave the current connection ("" while not connected).
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return ""
	}
	return c.conn.clientID
}

// Close disconnects (close code 1000), ends every subscription and waits for the client's
// goroutines, except the one running callbacks, which finishes the queued callbacks (the
// last is the change to StateClosed) and exits. Calls in progress fail with ErrClosed.
// Close may be called from a callback and more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state != StateClosed {
		cn := c.conn
		c.closeLocked(nil)
		c.mu.Unlock()
		if cn != nil {
			cn.close(ErrClosed, CloseNormal)
		}
	} else {
		c.mu.Unlock()
	}
	c.wg.Wait()
	return nil
}

// closeLocked moves to StateClosed. c.mu must be held.
func (c *Client) closeLocked(cause error) {
	if c.state != StateConnected {
		close(c.ready) // open in every other state
	}
	c.conn = nil
	c.closeErr = cause
	c.setStateLocked(StateClosed, cause, 0)
	c.cancel()
	for _, s := range c.subs {
		s.markClosed()
	}
	c.subs = map[string]*Subscription{}
	c.disp.close()
}

func (c *Client) setConnectedLocked(cn *conn) {
	c.conn = cn
	close(c.ready)
	c.setStateLocked(StateConnected, nil, 0)
}

// setStateLocked records a transition and queues the callback. c.mu must be held.
func (c *Client) setStateLocked(to State, err error, attempt int) {
	ch := StateChange{From: c.state, To: to, Err: err, Attempt: attempt}
	c.state = to
	if err != nil {
		c.log.Info("rtmate: state", "from", ch.From, "to", to, "attempt", attempt, "err", err)
	} else {
		c.log.Debug("rtmate: state", "from", ch.From, "to", to)
	}
	if f := c.cfg.OnStateChange; f != nil {
		c.disp.post(func() { f(ch) })
	}
}

func (c *Client) reportError(err error) {
	c.log.Warn("rtmate: error", "err", err)
	if f := c.cfg.OnError; f != nil {
		c.disp.post(func() { f(err) })
	}
}

// supervise waits for the connection to end and replaces it, until the client closes or
// the server disconnects it for good.
func (c *Client) supervise(cn *conn) {
	defer c.wg.Done()
	for {
		select {
		case <-cn.done:
		case <-c.ctx.Done():
			return
		}
		cause := cn.err()
		c.mu.Lock()
		if c.state == StateClosed {
			c.mu.Unlock()
			return
		}
		if ce := (*CloseError)(nil); errors.As(cause, &ce) && !ce.Reconnect() {
			c.closeLocked(cause)
			c.mu.Unlock()
			return
		}
		c.conn = nil
		c.ready = make(chan struct{})
		c.setStateLocked(StateConnecting, cause, 0)
		c.mu.Unlock()
		if cn = c.reconnect(); cn == nil {
			return
		}
	}
}

// reconnect dials with backoff until it succeeds (and resubscribes) or the client closes.
func (c *Client) reconnect() *conn {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(backoff(attempt, c.cfg.ReconnectMin, c.cfg.ReconnectMax))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		cn, err := c.dial(c.ctx)
		c.mu.Lock()
		if c.state == StateClosed {
			c.mu.Unlock()
			if cn != nil {
				cn.close(ErrClosed, CloseNormal)
			}
			return nil
		}
		if err != nil {
			c.setStateLocked(StateConnecting, err, attempt+1)
			c.mu.Unlock()
			continue
		}
		c.setConnectedLocked(cn)
		subs := make([]*Subscription, 0, len(c.subs))
		for _, s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		c.resubscribe(cn, subs)
		return cn
	}
}

// resubscribe renews the confirmed subscriptions on a new connection, all requests sent
// before the first response is awaited.
func (c *Client) resubscribe(cn *conn, subs []*Subscription) {
	type inflight struct {
		s  *Subscription
		id uint64
		cl *call
	}
	var sent []inflight
	for _, s := range subs {
		id, cl, ok, err := s.startSubscribe(cn, true)
		if err != nil {
			return // the connection is already gone; the next one will try again
		}
		if ok {
			sent = append(sent, inflight{s, id, cl})
		}
	}
	for _, f := range sent {
		_, err := cn.wait(c.ctx, f.id, f.cl, c.cfg.RequestTimeout)
		switch {
		case err == nil:
		case errors.Is(err, ErrDisconnected), c.ctx.Err() != nil:
			return
		case errors.Is(err, ErrTimeout):
			f.s.clearPending(cn)
			cn.close(err, CloseNormal)
			return
		default:
			f.s.clearPending(cn)
			c.dropSubscription(f.s, fmt.Errorf("rtmate: resubscribe %s: %w", f.s.channel, err))
		}
	}
}

// waitConn returns the live connection, waiting while the client reconnects.
func (c *Client) waitConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		switch c.state {
		case StateClosed:
			err := c.closeErr
			c.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrClosed, err)
			}
			return nil, ErrClosed
		case StateDisconnected:
			c.mu.Unlock()
			return nil, ErrNotConnected
		case StateConnected:
			cn := c.conn
			c.mu.Unlock()
			return cn, nil
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ready:
		}
	}
}

// retries bounds how often an idempotent request is repeated after lost connections.
const retries = 3

// request sends one request on the live connection and waits for its response. Idempotent
// requests are repeated on the next connection when the connection is lost before the
// response; others report ErrDisconnected because the server may have acted on them.
func (c *Client) request(ctx context.Context, event string, payload []byte, idempotent bool) (envelope, error) {
	for try := 0; ; try++ {
		cn, err := c.waitConn(ctx)
		if err != nil {
			return envelope{}, err
		}
		env, err := cn.do(ctx, event, payload, nil, c.cfg.RequestTimeout)
		if err != nil && idempotent && try < retries && errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrClosed) {
			continue
		}
		return env, err
	}
}

// PublishResult is the server's acknowledgement of a publication.
type PublishResult struct {
	// Offset is the publication's position in the channel's history (0 when the channel
	// keeps none).
	Offset uint64
}

// Publish sends data to channel. data is encoded with encoding/json, except that a
// json.RawMessage is sent byte for byte (after a validity check). The client need not be
// subscribed to the channel. A publication whose response is lost with the connection
// reports ErrDisconnected and is not repeated: the server may have accepted it.
func (c *Client) Publish(ctx context.Context, channel string, data any) (PublishResult, error) {
	if !protocol.ValidChannel(channel) {
		return PublishResult{}, fmt.Errorf("%w: %q", ErrInvalidChannel, channel)
	}
	var raw []byte
	if r, ok := data.(json.RawMessage); ok {
		if !protocol.Valid(r) {
			return PublishResult{}, ErrInvalidData
		}
		raw = r
	} else {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return PublishResult{}, fmt.Errorf("%w: %w", ErrInvalidData, err)
		}
	}
	env, err := c.request(ctx, protocol.EventMessageSend, appendMessageSend(nil, channel, raw), false)
	if err != nil {
		return PublishResult{}, err
	}
	var ack protocol.ChannelData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &ack); err != nil {
			return PublishResult{}, fmt.Errorf("rtmate: messageSend response: %w", err)
		}
	}
	return PublishResult{Offset: ack.Offset}, nil
}

// Presence returns the members of a presence channel (one whose name starts with
// "presence-" or matches the app's presence patterns; others answer ErrInvalidParams).
func (c *Client) Presence(ctx context.Context, channel string) (protocol.PresenceData, error) {
	var out protocol.PresenceData
	if !protocol.ValidChannel(channel) {
		return out, fmt.Errorf("%w: %q", ErrInvalidChannel, channel)
	}
	payload, err := json.Marshal(protocol.ChannelPayload{Channel: channel})
	if err != nil {
		return out, err
	}
	env, err := c.request(ctx, protocol.EventPresence, payload, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return out, fmt.Errorf("rtmate: presence response: %w", err)
	}
	return out, nil
}

// HistoryOptions selects part of a channel's history.
type HistoryOptions struct {
	// Since returns publications with an offset greater than Since (0: from the oldest kept).
	Since uint64
	// Limit caps the number returned; 0 means the server's default.
	Limit int
}

// History returns the publications a channel keeps, oldest first.
func (c *Client) History(ctx context.Context, channel string, opt HistoryOptions) (protocol.HistoryData, error) {
	var out protocol.HistoryData
	if !protocol.ValidChannel(channel) {
		return out, fmt.Errorf("%w: %q", ErrInvalidChannel, channel)
	}
	payload, err := json.Marshal(protocol.HistoryPayload{Channel: channel, Since: opt.Since, Limit: opt.Limit})
	if err != nil {
		return out, err
	}
	env, err := c.request(ctx, protocol.EventHistory, payload, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(env.Data, &out); err != nil {
		return out, fmt.Errorf("rtmate: history response: %w", err)
	}
	for i := range out.Publications {
		if out.Publications[i].Channel == "" {
			out.Publications[i].Channel = channel
		}
	}
	return out, nil
}

// Ping sends an application-level ping and waits for the response.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.request(ctx, protocol.EventPing, nil, true)
	return err
}
