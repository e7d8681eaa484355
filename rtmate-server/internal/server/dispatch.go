package server

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

// OnControl answers pings and closes (wire.Handler). Read slot.
func (c *Conn) OnControl(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpPing:
		if c.closingRd {
			return nil
		}
		if !c.allowRequest() {
			return nil // a ping flood earns no pongs, and counts towards 4029
		}
		c.sendFrame(wire.AppendFrame(c.w.out[:0], ws.OpPong, payload), true)
	case ws.OpClose:
		if c.closingRd {
			// The peer answered our close frame (or sent a second one after ours answered its
			// first): the handshake is complete once our own close frame is out. Releasing now
			// would drop it when it is still queued, and the peer would never see a close.
			c.mu.Lock()
			queued := c.outHead < len(c.out) && !c.released
			if queued {
				c.releaseAfterFlush = true
			}
			c.mu.Unlock()
			if queued {
				return nil
			}
			c.releaseNow()
			return errReleased
		}
		// Answer with the peer's code (RFC 6455 §5.5.1), then hang up once it is written.
		frame := wire.AppendFrame(nil, ws.OpClose, payload)
		c.mu.Lock()
		if !c.closing && !c.released {
			c.closing = true
			c.out = append(c.out, frame)
			c.outBytes += len(frame)
			c.outPending.Store(true)
			c.releaseAfterFlush = true
		}
		c.mu.Unlock()
		c.closingRd = true
		c.closingSince.Store(time.Now().UnixNano())
		code := CloseNormal
		if len(payload) >= 2 {
			code = int(payload[0])<<8 | int(payload[1])
		}
		c.srv.noteClose(c, uint16(code))
		c.scheduleFlush()
		c.teardown()
	}
	return nil
}

// OnMessage handles one data message (wire.Handler). Read slot.
func (c *Conn) OnMessage(op ws.OpCode, payload []byte) error {
	if c.closingRd {
		return nil
	}
	if c.echo {
		c.sendFrame(wire.AppendFrame(c.w.out[:0], op, payload), false)
		return nil
	}
	if op != ws.OpText {
		return &wire.CloseError{Code: ws.StatusUnsupportedData, Reason: "binary messages are not supported"}
	}
	if c.pusher != nil {
		c.pusherDispatch(c.w, payload)
		return nil
	}
	c.dispatch(c.w, payload)
	return nil
}

// allowRequest applies the per-connection token bucket. A connection limited again and again
// for AbuseAfter is closed with 4029.
func (c *Conn) allowRequest() bool {
	lim := c.limits()
	now := time.Now().UnixNano()
	if c.bucket.allow(now, lim.Rate, lim.Burst) {
		return true
	}
	switch {
	case c.limitedSince == 0 || now-c.lastLimited > int64(time.Second):
		c.limitedSince = now // a new episode
	case now-c.limitedSince > int64(lim.AbuseAfter):
		c.requestClose(CloseRateLimited)
	}
	c.lastLimited = now
	return false
}

// dispatch decodes and answers one request.
func (c *Conn) dispatch(w *worker, msg []byte) {
	start := time.Now()
	w.event = EventUnknown
	err := protocol.DecodeRequest(msg, &w.req)
	if err == nil {
		w.event = parseEvent(w.req.Event)
	}
	switch {
	case !c.allowRequest():
		// Unparsable messages cost a token too: garbage, each piece answered, must not
		// escape 429 and 4029.
		err = protocol.NewError(protocol.RateLimited, nil)
	case err != nil:
	case w.event == EventUnknown:
		err = protocol.Errorf(protocol.UnsupportedEvent, "event %q", w.req.Event)
	case w.event != EventAuth && w.event != EventPing && !c.authed.Load():
		err = protocol.NewError(protocol.Unauthenticated, nil)
	default:
		err = c.handle(w)
	}
	code := protocol.CodeOf(err)
	if err != nil {
		c.reply(w, code, ErrorData(err))
	}
	took := time.Since(start)
	c.srv.obs.Request(w.event, code, took)
	c.srv.logRequest(c, w, code, err, took)
}

// handle runs the event's handler; on success the handler has replied itself.
func (c *Conn) handle(w *worker) error {
	if w.req.Payload != nil {
		if err := protocol.DecodePayload(w.req.Payload, &w.pl); err != nil {
			return err
		}
	} else {
		w.pl = protocol.Payload{}
	}
	switch w.event {
	case EventAuth:
		return c.onAuth(w)
	case EventSubscribe:
		return c.onSubscribe(w)
	case EventUnsubscribe:
		return c.onUnsubscribe(w)
	case EventMessageSend:
		return c.onMessageSend(w)
	case EventPresence:
		return c.onPresence(w)
	case EventHistory:
		return c.onHistory(w)
	case EventRPC:
		return c.onRPC(w)
	case EventPing:
		c.reply(w, protocol.Success, nil)
		return nil
	}
	return protocol.NewError(protocol.UnsupportedEvent, nil)
}

// reply encodes a response into the worker's scratch and sends it.
func (c *Conn) reply(w *worker, code protocol.WsBizCode, data []byte) {
	buf := append(w.out[:0], make([]byte, wire.HeaderReserve)...)
	buf = protocol.AppendResponse(buf, &protocol.Response{
		Code:    code,
		Event:   w.req.Event,
		ID:      w.req.ID,
		TraceID: w.traceID(),
		Data:    data,
	})
	w.out = buf
	c.send(wire.FrameInPlace(buf, ws.OpText))
}

func (c *Conn) app() *appState { return c.srv.apps.Load().app(c.appID) }

func (c *Conn) limits() *configLimits {
	if a := c.app(); a != nil {
		return &a.limits
	}
	return &c.srv.cfg.Load().Defaults
}

func (c *Conn) info() ConnInfo { return ConnInfo{App: c.appID, ClientID: c.clientID, UserID: c.userID} }

func (c *Conn) onAuth(w *worker) error {
	if w.pl.AppID == nil || w.pl.Token == nil {
		return protocol.Errorf(protocol.InvalidParams, "auth needs appId and token")
	}
	apps := c.srv.apps.Load()
	a := apps.app(string(w.pl.AppID))
	if a == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q", w.pl.AppID)
	}
	claims, err := apps.reg.Validate(a.cfg.ID, w.pl.Token)
	if err != nil {
		return err
	}
	if c.authed.Load() { // a token refresh
		if a.cfg.ID != c.appID {
			return protocol.Errorf(protocol.AuthMismatch, "refresh for app %q on a connection of %q", a.cfg.ID, c.appID)
		}
		if claims.Sub != c.tokenSub {
			return protocol.Errorf(protocol.Forbidden, "refresh for another user")
		}
		c.exp.Store(claims.Exp)
		c.allowed = claims.Channels
		if a.scripts.Has(script.HookSubscribe) {
			c.claims = tokenClaims(w.pl.Token)
		}
		c.replyAuth(w)
		return nil
	}
	if !a.auth.OriginAllowed(c.origin) {
		return protocol.Errorf(protocol.Forbidden, "origin %q not allowed", c.origin)
	}
	if max := a.limits.MaxConnections; max > 0 && c.srv.clusterConnections(a) >= int64(max) {
		return protocol.Errorf(protocol.QuotaExceeded, "app has %d connections", max)
	}
	scriptUser := claims.Sub
	if a.scripts.Has(script.HookConnect) {
		u, err := c.scriptConnect(w, a, claims, tokenClaims(w.pl.Token))
		if err != nil {
			return err
		}
		if u != "" {
			scriptUser = u
		}
	}
	userID, err := c.srv.hooks.Connect(context.Background(), ConnInfo{App: a.cfg.ID, ClientID: c.clientID, UserID: scriptUser}, claims)
	if err != nil {
		return err
	}
	if userID == "" {
		userID = scriptUser
	}
	if a.scripts.Has(script.HookSubscribe) {
		c.claims = tokenClaims(w.pl.Token) // the subscribe hook's ctx.claims
	}
	a.usage.connected()
	c.appID, c.userID, c.tokenSub, c.allowed = a.cfg.ID, userID, claims.Sub, claims.Channels
	c.exp.Store(claims.Exp)
	c.rd.MaxMessage = a.limits.MaxMessageSize
	c.mu.Lock()
	c.maxQueue = a.limits.MaxQueueBytes
	c.mu.Unlock()
	c.authed.Store(true) // publishes appID and userID to other goroutines
	c.srv.clients.add(c)
	c.srv.obs.Authenticated(c.info())
	c.replyAuth(w)
	return nil
}

func (c *Conn) replyAuth(w *worker) {
	d := append(w.data[:0], `{"state":true,"client_id":`...)
	d = protocol.AppendString(d, c.clientID)
	d = append(d, '}')
	w.data = d
	c.reply(w, protocol.Success, d)
}

// channelArg validates the payload's channel and the token's permission for it.
func (c *Conn) channelArg(w *worker) (string, error) {
	if w.pl.Channel == nil {
		return "", protocol.Errorf(protocol.InvalidParams, "bad channel name %q", w.pl.Channel)
	}
	ch := c.channelName(w.pl.Channel)
	if !protocol.ValidChannel(ch) {
		return "", protocol.Errorf(protocol.InvalidParams, "bad channel name %q", w.pl.Channel)
	}
	if !auth.ChannelAllowed(c.allowed, ch) {
		return "", protocol.Errorf(protocol.Forbidden, "token does not grant channel %q", w.pl.Channel)
	}
	return ch, nil
}

// channelName returns b as a string, reusing the connection's own copy when it subscribed
// to that channel: a subscriber publishing to its channel (the common case) then costs no
// allocation. Read slot.
func (c *Conn) channelName(b []byte) string {
	for _, s := range c.subs {
		if s == string(b) { // compared in place, not converted
			return s
		}
	}
	return string(b)
}

func (c *Conn) subscribed(ch string) bool {
	for _, s := range c.subs {
		if s == ch {
			return true
		}
	}
	return false
}

func (c *Conn) replyChannel(w *worker, ch string, offset uint64) {
	d := append(w.data[:0], `{"channel":`...)
	d = protocol.AppendString(d, ch)
	if offset > 0 {
		d = append(d, `,"offset":`...)
		d = strconv.AppendUint(d, offset, 10)
	}
	d = append(d, '}')
	w.data = d
	c.reply(w, protocol.Success, d)
}

func (c *Conn) onSubscribe(w *worker) error {
	ch, err := c.channelArg(w)
	if err != nil {
		return err
	}
	a := c.app()
	if a == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q was removed", c.appID)
	}
	if !c.subscribed(ch) && len(c.subs) >= a.limits.MaxChannels {
		return protocol.Errorf(protocol.QuotaExceeded, "connection has %d channels", len(c.subs))
	}
	if !c.subscribed(ch) {
		if a.scripts.Has(script.HookSubscribe) {
			if err := c.scriptSubscribe(w, a, ch); err != nil {
				return err
			}
		}
		if err := c.srv.hooks.Subscribe(context.Background(), c.info(), ch); err != nil {
			return err
		}
	}
	recoverReq := w.pl.Recover
	since, epoch := w.pl.Offset, string(w.pl.Epoch)
	if c.subscribed(ch) && !recoverReq {
		c.replyChannel(w, ch, 0)
		return nil
	}
	return c.srv.subscribe(c, w, a, ch, recoverReq, since, epoch)
}

func (c *Conn) onUnsubscribe(w *worker) error {
	if w.pl.Channel == nil {
		return protocol.Errorf(protocol.InvalidParams, "bad channel name %q", w.pl.Channel)
	}
	ch := c.channelName(w.pl.Channel)
	if !protocol.ValidChannel(ch) {
		return protocol.Errorf(protocol.InvalidParams, "bad channel name %q", w.pl.Channel)
	}
	c.srv.unsubscribe(c, ch)
	c.replyChannel(w, ch, 0)
	return nil
}

func (c *Conn) onMessageSend(w *worker) error {
	ch, err := c.channelArg(w)
	if err != nil {
		return err
	}
	if w.pl.Data == nil {
		return protocol.Errorf(protocol.InvalidParams, "messageSend needs data")
	}
	a := c.app()
	if a == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q was removed", c.appID)
	}
	data := w.pl.Data
	if a.scripts.Has(script.HookPublish) {
		if data, err = c.srv.scriptPublish(a, c.info(), ch, data, "client", w.traceString()); err != nil {
			return err
		}
	}
	pos, err := c.srv.publish(a, ch, data, c.info())
	if err != nil {
		return err
	}
	c.replyChannel(w, ch, pos.Offset)
	return nil
}

func (c *Conn) onPresence(w *worker) error {
	ch, err := c.channelArg(w)
	if err != nil {
		return err
	}
	a := c.app()
	if a == nil || !a.isPresence(ch) {
		return protocol.Errorf(protocol.InvalidParams, "%q is not a presence channel", ch)
	}
	data, err := c.srv.presenceData(a, ch, w.data[:0])
	if err != nil {
		return err
	}
	w.data = data
	c.reply(w, protocol.Success, data)
	return nil
}

func (c *Conn) onHistory(w *worker) error {
	ch, err := c.channelArg(w)
	if err != nil {
		return err
	}
	a := c.app()
	if a == nil {
		return protocol.Errorf(protocol.AppNotFound, "app %q was removed", c.appID)
	}
	limit := int(min(w.pl.Limit, maxHistoryLimit))
	if limit == 0 {
		limit = defaultHistoryLimit
	}
	pubs, pos, err := c.srv.engine.History(context.Background(), engine.ChannelKey{App: a.cfg.ID, Name: ch}, w.pl.Since, limit)
	if err != nil {
		return protocol.NewError(protocol.Internal, err)
	}
	d := append(w.data[:0], `{"channel":`...)
	d = protocol.AppendString(d, ch)
	d = append(d, `,"epoch":`...)
	d = protocol.AppendString(d, pos.Epoch)
	d = append(d, `,"offset":`...)
	d = strconv.AppendUint(d, pos.Offset, 10)
	d = append(d, `,"publications":`...)
	d = appendPublications(d, pubs)
	d = append(d, '}')
	w.data = d
	c.reply(w, protocol.Success, d)
	return nil
}

const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

func appendPublications(d []byte, pubs []engine.Publication) []byte {
	d = append(d, '[')
	for i := range pubs {
		if i > 0 {
			d = append(d, ',')
		}
		d = protocol.AppendPublication(d, "", pubs[i].Data, pubs[i].ClientID, pubs[i].Offset)
	}
	return append(d, ']')
}

// teardown ends the session: channels, presence, index, usage. Read slot; runs once.
func (c *Conn) teardown() {
	if c.tornDown {
		return
	}
	c.tornDown = true
	for len(c.subs) > 0 {
		c.srv.unsubscribe(c, c.subs[len(c.subs)-1])
	}
	c.subs = nil
	if c.authed.Load() {
		c.srv.clients.remove(c)
		if a := c.app(); a != nil {
			a.usage.Connections.Add(-1)
			a.usage.ConnSeconds.Add(int64(time.Since(time.Unix(0, c.openedAt)) / time.Second))
		}
	}
}

// noteClose records why a connection closes, once.
func (s *Server) noteClose(c *Conn, code uint16) {
	if code == CloseSlowConsumer {
		s.obs.SlowConsumer(c.appID)
	}
	s.obs.ConnClosed(c.info(), int(code))
}

func (s *Server) logClose(c *Conn, code uint16, reason string) {
	if ce := s.log.Check(zapcore.InfoLevel, "closing connection"); ce != nil {
		ce.Write(zap.String("app_id", c.appID), zap.String("client_id", c.clientID),
			zap.Uint16("close_code", code), zap.String("reason", reason))
	}
}

// RequestLevel is the log level of a request's line, for WebSocket and HTTP API alike:
// successes at debug, client errors at info, internal errors at error.
func RequestLevel(code protocol.WsBizCode) zapcore.Level {
	switch {
	case code == protocol.Internal:
		return zapcore.ErrorLevel
	case code != protocol.Success:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}

// logRequest logs a request at RequestLevel; the level is checked before any field is built.
func (s *Server) logRequest(c *Conn, w *worker, code protocol.WsBizCode, err error, took time.Duration) {
	ce := s.log.Check(RequestLevel(code), "request")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("app_id", c.appID), zap.String("client_id", c.clientID),
		zap.ByteString("trace_id", w.req.TraceID), zap.String("event", w.event.String()),
		zap.Int("code", code.Code()), zap.Duration("took", took),
	}
	if err != nil {
		var re *protocol.RtWsError
		if errors.As(err, &re) && re.Cause != nil {
			fields = append(fields, zap.NamedError("cause", re.Cause))
		} else if re == nil {
			fields = append(fields, zap.Error(err))
		}
	}
	ce.Write(fields...)
}
