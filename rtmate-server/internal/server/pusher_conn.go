package server

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

// A Pusher connection is an ordinary Conn (same event loop, hub, engine, limits, metrics and
// webhooks) whose messages are read and written in the Pusher Channels protocol 7. It is
// authenticated by its app key at the handshake, so it never sends RTMate's auth; its client
// id is its Pusher socket id, "<node>.<sequence>".

// Pusher close codes (pusher:error codes that end the connection).
const (
	PusherCloseAppNotFound   = 4001
	PusherCloseOverQuota     = 4004
	PusherCloseBadProtocol   = 4007
	PusherCloseNoProtocol    = 4008
	PusherCloseUnauthorized  = 4009
	PusherCodeClientRate     = 4301
	pusherClientEventRate    = 10 // client events per second per connection, as Pusher allows
	pusherMaxUserIDLen       = 128
	pusherMaxChannelDataSize = 1024
)

// pusherConn is what a Pusher connection has beyond a native one. Read slot only, but for
// user, which the HTTP API reads.
type pusherConn struct {
	user    atomic.Pointer[string] // the signed-in user's id (pusher:signin); nil before
	members []pusherMember         // this connection's membership of presence channels
	events  bucket                 // client events
}

// pusherMember is the connection's member of one presence channel, from channel_data.
type pusherMember struct {
	channel string
	userID  string
	info    string // raw JSON of user_info; empty for none
}

// WantsAlt makes the hub queue publications' Pusher frames to Pusher connections
// (hub.AltSub).
func (c *Conn) WantsAlt() bool { return c.pusher != nil }

func (p *pusherConn) member(ch string) (userID, info string) {
	for i := range p.members {
		if p.members[i].channel == ch {
			return p.members[i].userID, p.members[i].info
		}
	}
	return "", ""
}

func (p *pusherConn) dropMember(ch string) {
	for i := range p.members {
		if p.members[i].channel == ch {
			p.members = append(p.members[:i], p.members[i+1:]...)
			return
		}
	}
}

// signedIn returns the signed-in user id, or "".
func (p *pusherConn) signedIn() string {
	if u := p.user.Load(); u != nil {
		return *u
	}
	return ""
}

// pusherTarget reads the app key and the protocol version of a handshake's request line,
// "GET /app/{key}?protocol=7&… HTTP/1.1" (or its absolute form "GET http://host/app/…").
// proto is -1 when absent or not a number.
func pusherTarget(req []byte) (key string, proto int) {
	line, _, _ := bytes.Cut(req, []byte{'\n'})
	_, rest, _ := bytes.Cut(line, []byte{' '})
	target, _, _ := bytes.Cut(rest, []byte{' '})
	target, _ = originForm(target)
	path, query, _ := bytes.Cut(target, []byte{'?'})
	key = string(bytes.TrimPrefix(path, []byte("/app/")))
	proto = -1
	if q, err := url.ParseQuery(string(query)); err == nil {
		if n, err := strconv.Atoi(q.Get("protocol")); err == nil {
			proto = n
		}
	}
	return key, proto
}

// pusherNodeNumber is the node id as the decimal first half of socket ids.
func pusherNodeNumber(nodeID string) string {
	n, err := strconv.ParseUint(nodeID, 16, 32)
	if err != nil {
		return "0"
	}
	return strconv.FormatUint(n, 10)
}

// pusherOpen authenticates a Pusher connection right after its upgrade: its app by key,
// protocol version, origin, quota and connect hook. A refusal is a pusher:error and a close
// with the same code, as Pusher does. Read slot.
func (s *Server) pusherOpen(c *Conn, key string, proto int) {
	c.pusher = &pusherConn{}
	c.clientID = s.pusherNode + "." + strconv.FormatUint(s.nextID.Add(1), 10)
	a := s.apps.Load().pusherApp(key)
	switch {
	case a == nil:
		c.pusherClose(PusherCloseAppNotFound, "App key "+key+" does not exist")
		return
	case proto < 0:
		c.pusherClose(PusherCloseNoProtocol, "No protocol version supplied")
		return
	case proto < 5 || proto > 7:
		c.pusherClose(PusherCloseBadProtocol, "Unsupported protocol version "+strconv.Itoa(proto))
		return
	case !a.auth.OriginAllowed(c.origin):
		c.pusherClose(PusherCloseUnauthorized, "Origin "+c.origin+" not allowed")
		return
	}
	if max := a.limits.MaxConnections; max > 0 && a.usage.Connections.Load() >= int64(max) {
		c.pusherClose(PusherCloseOverQuota, "Application is over connection quota")
		return
	}
	if _, err := s.hooks.Connect(context.Background(), ConnInfo{App: a.cfg.ID, ClientID: c.clientID}, nil); err != nil {
		c.pusherClose(PusherCloseUnauthorized, "Connection refused: "+protocol.CodeOf(err).Message())
		return
	}
	a.usage.connected()
	c.appID = a.cfg.ID
	c.rd.MaxMessage = a.limits.MaxMessageSize
	c.mu.Lock()
	c.maxQueue = a.limits.MaxQueueBytes
	c.mu.Unlock()
	c.authed.Store(true)
	s.clients.add(c)
	s.obs.Authenticated(c.info())
	c.pusherSend(func(d []byte) []byte { return pusher.AppendConnectionEstablished(d, c.clientID, s.activityTimeout()) })
}

// activityTimeout is what pusher-js is told: the server pings a connection silent for the
// ping interval, so the client need not ping more often.
func (s *Server) activityTimeout() int {
	return max(1, int(s.cfg.Load().PingInterval/time.Second))
}

// pusherSend sends one Pusher message encoded by enc into the worker's scratch.
func (c *Conn) pusherSend(enc func(dst []byte) []byte) {
	w := c.w
	buf := append(w.out[:0], make([]byte, wire.HeaderReserve)...)
	buf = enc(buf)
	w.out = buf
	c.send(wire.FrameInPlace(buf, ws.OpText))
}

// pusherError sends pusher:error without closing.
func (c *Conn) pusherError(code int, msg string) {
	c.pusherSend(func(d []byte) []byte { return pusher.AppendError(d, code, msg) })
}

// pusherClose sends pusher:error and closes with the same code. Read slot.
func (c *Conn) pusherClose(code int, msg string) {
	c.pusherError(code, msg)
	c.srv.logClose(c, uint16(code), msg)
	c.closeWith(ws.StatusCode(code), msg)
}

// pusherPing is the server's keepalive for Pusher connections: a protocol message, which
// pusher-js answers and counts as activity (a WebSocket ping is invisible to a browser app).
var pusherPing = wire.AppendFrame(nil, ws.OpText, []byte(`{"event":"pusher:ping","data":"{}"}`))

// pingFrame is the keepalive the sweeper sends to an idle connection.
func (c *Conn) pingFrame() []byte {
	if c.pusher != nil {
		return pusherPing
	}
	return ws.CompiledPing
}

// pusherDispatch handles one Pusher message. Read slot.
func (c *Conn) pusherDispatch(w *worker, msg []byte) {
	start := time.Now()
	w.event = EventUnknown
	var m pusher.Message
	err := pusher.Decode(msg, &m)
	switch {
	case !c.allowRequest():
		c.pusherError(PusherCodeClientRate, "Rate limit exceeded")
		err = protocol.NewError(protocol.RateLimited, nil)
	case err != nil:
		c.pusherError(0, "Invalid message: "+err.Error())
		err = protocol.NewError(protocol.InvalidParams, err)
	default:
		err = c.pusherHandle(w, &m)
	}
	code := protocol.CodeOf(err)
	took := time.Since(start)
	c.srv.obs.Request(w.event, code, took)
	if ce := c.srv.log.Check(RequestLevel(code), "pusher request"); ce != nil {
		ce.Write(zap.String("app_id", c.appID), zap.String("client_id", c.clientID),
			zap.ByteString("event", m.Event), zap.ByteString("channel", m.Channel),
			zap.Int("code", code.Code()), zap.Duration("took", took), zap.Error(err))
	}
}

func (c *Conn) pusherHandle(w *worker, m *pusher.Message) error {
	switch string(m.Event) {
	case pusher.EventPing:
		w.event = EventPing
		c.pusherSend(func(d []byte) []byte { return append(d, `{"event":"pusher:pong","data":"{}"}`...) })
		return nil
	case pusher.EventPong:
		w.event = EventPing
		return nil // lastSeen is already updated
	case pusher.EventSubscribe:
		w.event = EventSubscribe
		return c.pusherSubscribe(w, m.Data)
	case pusher.EventUnsubscribe:
		w.event = EventUnsubscribe
		var sub pusher.Subscribe
		if err := pusher.DecodeSubscribe(m.Data, &sub); err != nil {
			c.pusherError(0, "Invalid pusher:unsubscribe: "+err.Error())
			return protocol.NewError(protocol.InvalidParams, err)
		}
		c.srv.unsubscribe(c, c.channelName(sub.Channel))
		return nil
	case pusher.EventSignin:
		w.event = EventAuth
		return c.pusherSignin(w, m.Data)
	}
	if bytes.HasPrefix(m.Event, []byte(pusher.ClientEventPrefix)) {
		w.event = EventMessageSend
		return c.pusherClientEvent(w, m)
	}
	c.pusherError(0, "Unsupported event "+string(m.Event))
	return protocol.Errorf(protocol.UnsupportedEvent, "event %q", m.Event)
}

// pusherSubError answers a refused subscription and returns the error for the request log.
func (c *Conn) pusherSubError(ch, kind, msg string, status int, code protocol.WsBizCode) error {
	c.sendSubError(ch, kind, msg, status)
	return protocol.Errorf(code, "%s", msg)
}

// sendSubError is pusherSubError for a caller that already holds the error to log (a
// script's, with its cause), so only the client's pusher:subscription_error is wanted.
func (c *Conn) sendSubError(ch, kind, msg string, status int) {
	c.pusherSend(func(d []byte) []byte { return pusher.AppendSubscriptionError(d, ch, kind, msg, status) })
}

func (c *Conn) pusherSubscribe(w *worker, data []byte) error {
	var sub pusher.Subscribe
	if err := pusher.DecodeSubscribe(data, &sub); err != nil {
		c.pusherError(0, "Invalid pusher:subscribe: "+err.Error())
		return protocol.NewError(protocol.InvalidParams, err)
	}
	ch := c.channelName(sub.Channel)
	a := c.app()
	if a == nil || a.cfg.Pusher == nil {
		return c.pusherSubError(ch, "AppNotFound", "the app is gone", 404, protocol.AppNotFound)
	}
	p := a.cfg.Pusher
	if user, ok := strings.CutPrefix(ch, pusher.ServerToUserPrefix); ok {
		// pusher-js subscribes to its user's channel after pusher:signin, without auth.
		if u := c.pusher.signedIn(); u == "" || u != user {
			return c.pusherSubError(ch, "AuthError", "sign in as user "+user+" first", 401, protocol.Forbidden)
		}
	} else if !pusher.ValidChannel(sub.Channel) {
		return c.pusherSubError(ch, "InvalidChannel", "invalid channel name", 400, protocol.InvalidParams)
	}
	if c.subscribed(ch) {
		return c.pusherSucceeded(a, ch)
	}
	if len(c.subs) >= a.limits.MaxChannels {
		return c.pusherSubError(ch, "LimitReached", "connection has "+strconv.Itoa(len(c.subs))+" channels", 403, protocol.QuotaExceeded)
	}
	presence := pusher.IsPresence(ch)
	var mem pusher.Member
	if pusher.IsPrivate(ch) {
		var cd []byte
		if presence {
			if len(sub.ChannelData) > pusherMaxChannelDataSize {
				return c.pusherSubError(ch, "InvalidChannelData", "channel_data over 1024 bytes", 400, protocol.InvalidParams)
			}
			cd = sub.ChannelData
			if cd == nil {
				cd = []byte{}
			}
		}
		if !pusher.ChannelAuthValid(p.Key, p.Secret, sub.Auth, c.clientID, ch, cd) {
			return c.pusherSubError(ch, "AuthError", "Invalid signature: Expected HMAC SHA256 hex digest of "+
				c.clientID+":"+ch+", but got "+string(sub.Auth), 401, protocol.Unauthenticated)
		}
		if presence {
			if err := pusher.DecodeChannelData(sub.ChannelData, &mem); err != nil || len(mem.UserID) > pusherMaxUserIDLen {
				return c.pusherSubError(ch, "InvalidChannelData", "channel_data needs a user_id of at most 128 characters", 400, protocol.InvalidParams)
			}
		}
	}
	if err := c.pusherScriptSubscribe(w, a, ch, mem.UserID); err != nil {
		return err
	}
	if err := c.srv.hooks.Subscribe(context.Background(), c.info(), ch); err != nil {
		return c.pusherSubError(ch, "Forbidden", "subscription refused", 403, protocol.CodeOf(err))
	}
	return c.srv.pusherJoin(c, a, ch, presence, mem)
}

// pusherJoin subscribes c; the subscription_succeeded (with the member list of a presence
// channel) is queued while no publication can reach c, so nothing overtakes it. Read slot.
func (s *Server) pusherJoin(c *Conn, a *appState, ch string, presence bool, mem pusher.Member) error {
	key := engine.ChannelKey{App: a.cfg.ID, Name: ch}
	ctx := context.Background()
	if presence {
		defer s.members.lock(key)()
	}
	var refusal error
	var once, joined bool // joined: the engine published the join (s.announcer)
	added, first, err := s.hub.SubscribeWith(key, c, func(first bool) (uint64, string, error) {
		if first {
			if err := s.engine.Subscribe(ctx, key); err != nil {
				return 0, "", protocol.NewError(protocol.Internal, err)
			}
		}
		if !presence {
			c.pusherSend(func(d []byte) []byte {
				return pusher.AppendStringEvent(d, pusher.EventSubscriptionSucceeded, ch, []byte("{}"))
			})
			return 0, "", nil
		}
		members, err := s.engine.Presence(ctx, key)
		if err != nil {
			return 0, "", protocol.NewError(protocol.Internal, err)
		}
		users := presenceUsers(members)
		once = !containsUser(users, mem.UserID)
		if once && len(users) >= a.cfg.Pusher.MaxPresenceMembers {
			refusal = c.pusherSubError(ch, "LimitReached", "presence channel has "+strconv.Itoa(len(users))+" members", 403, protocol.QuotaExceeded)
			return 0, "", refusal
		}
		listed := !once
		member := engine.ClientInfo{ClientID: c.clientID, UserID: engine.StoredMember(mem.UserID, mem.UserInfo)}
		if s.announcer != nil {
			// Another node may have changed the user's members since the look above; the
			// engine's answer is the one every node's announcements agree with.
			once, err = s.announcer.JoinMember(ctx, key, member)
			joined = err == nil
		} else {
			err = s.engine.AddPresence(ctx, key, member)
		}
		if err != nil {
			return 0, "", protocol.NewError(protocol.Internal, err)
		}
		if !listed {
			users = append(users, pusher.PresenceMember(mem))
		}
		c.pusherSend(func(d []byte) []byte {
			text := pusher.AppendPresenceText(nil, users)
			return pusher.AppendStringEvent(d, pusher.EventSubscriptionSucceeded, ch, text)
		})
		return 0, "", nil
	})
	if err != nil {
		if refusal != nil {
			return refusal
		}
		return c.pusherSubError(ch, "InternalError", "subscription failed", 500, protocol.CodeOf(err))
	}
	if !added {
		return nil
	}
	c.subs = append(c.subs, ch)
	if first {
		s.syncOccupancy(a, key)
	}
	if presence {
		c.pusher.members = append(c.pusher.members, pusherMember{channel: ch, userID: mem.UserID, info: string(mem.UserInfo)})
	}
	s.obs.Subscribed(c.info(), ch)
	switch {
	case joined:
		s.observeMember(key, engine.KindJoin, mem.UserID, once)
	case presence:
		s.publishMember(key, engine.KindJoin, c.clientID, engine.AnnouncedMember(mem.UserID, string(mem.UserInfo), once))
	}
	return nil
}

// pusherSucceeded repeats subscription_succeeded for a channel c is already in.
func (c *Conn) pusherSucceeded(a *appState, ch string) error {
	if !pusher.IsPresence(ch) {
		c.pusherSend(func(d []byte) []byte {
			return pusher.AppendStringEvent(d, pusher.EventSubscriptionSucceeded, ch, []byte("{}"))
		})
		return nil
	}
	members, err := c.srv.engine.Presence(context.Background(), engine.ChannelKey{App: a.cfg.ID, Name: ch})
	if err != nil {
		return protocol.NewError(protocol.Internal, err)
	}
	users := presenceUsers(members)
	c.pusherSend(func(d []byte) []byte {
		return pusher.AppendStringEvent(d, pusher.EventSubscriptionSucceeded, ch, pusher.AppendPresenceText(nil, users))
	})
	return nil
}

// pusherClientEvent relays a client-* event to the channel's other subscribers.
func (c *Conn) pusherClientEvent(w *worker, m *pusher.Message) error {
	a := c.app()
	ch := c.channelName(m.Channel)
	switch {
	case a == nil || a.cfg.Pusher == nil || !a.cfg.Pusher.ClientEvents:
		c.pusherError(0, "To send client events, you must enable client events for the app")
		return protocol.Errorf(protocol.Forbidden, "client events are off")
	case !pusher.IsPrivate(ch) || strings.HasPrefix(ch, pusher.PrivateEncryptedPrefix):
		c.pusherError(0, "Client event rejected - only supported on private and presence channels")
		return protocol.Errorf(protocol.Forbidden, "client event on %q", ch)
	case !c.subscribed(ch):
		c.pusherError(0, "Client event rejected - not subscribed to "+ch)
		return protocol.Errorf(protocol.Forbidden, "client event on %q: not subscribed", ch)
	case len(m.Event) > pusher.MaxEventNameLen:
		c.pusherError(0, "Client event rejected - event name over 200 characters")
		return protocol.Errorf(protocol.InvalidParams, "event name of %d bytes", len(m.Event))
	case m.Data == nil:
		c.pusherError(0, "Client event rejected - no data")
		return protocol.Errorf(protocol.InvalidParams, "client event without data")
	case !c.pusher.events.allow(nowNano(), pusherClientEventRate, pusherClientEventRate):
		c.pusherError(PusherCodeClientRate, "Client event rejected due to rate limit")
		return protocol.NewError(protocol.RateLimited, nil)
	}
	userID, _ := c.pusher.member(ch)
	data := appendNativeEvent(w.data[:0], string(m.Event), m.Data, c.clientID, userID)
	w.data = data
	data, err := c.pusherScriptClientEvent(w, a, ch, data)
	if err != nil {
		return err
	}
	if _, err := c.srv.publish(a, ch, data, c.info()); err != nil {
		c.pusherError(0, "Client event rejected: "+protocol.CodeOf(err).Message())
		return err
	}
	event, evData := m.Event, m.Data
	if a.scripts.Has(script.HookPublish) {
		// The client_event webhook tells what subscribers got: the script's rewrite.
		if ev, ok := parsePusherEvent(data); ok {
			event, evData = ev.event, ev.data
		}
	}
	c.srv.pobs.ClientEvent(a.cfg.ID, ch, string(event), evData, c.clientID, userID)
	return nil
}

// pusherSignin authenticates the connection's user (pusher:signin); an invalid signature
// closes the connection with 4009, as Pusher does.
func (c *Conn) pusherSignin(w *worker, data []byte) error {
	a := c.app()
	var si pusher.Signin
	if err := pusher.DecodeSignin(data, &si); err != nil {
		c.pusherError(0, "Invalid pusher:signin: "+err.Error())
		return protocol.NewError(protocol.InvalidParams, err)
	}
	if a == nil || a.cfg.Pusher == nil || !pusher.UserAuthValid(a.cfg.Pusher.Key, a.cfg.Pusher.Secret, si.Auth, c.clientID, si.UserData) {
		c.pusherClose(PusherCloseUnauthorized, "Invalid signature")
		return protocol.Errorf(protocol.Unauthenticated, "pusher:signin: invalid signature")
	}
	id, err := pusher.DecodeUserData(si.UserData)
	if err != nil || len(id) > pusherMaxUserIDLen {
		c.pusherClose(PusherCloseUnauthorized, "Invalid user_data: it needs an id of at most 128 characters")
		return protocol.NewError(protocol.InvalidParams, err)
	}
	if err := c.pusherScriptSignin(w, a, id, si.UserData); err != nil {
		msg := "Sign-in refused: the connect script failed"
		if reason, ok := script.ReasonOf(err); ok {
			msg = "Sign-in refused: " + reason
		}
		c.pusherClose(PusherCloseUnauthorized, msg)
		return err
	}
	c.pusher.user.Store(&id)
	c.claims = bytes.Clone(si.UserData) // subscribe scripts see the user_data as claims, as native ones see the token's
	c.pusherSend(func(d []byte) []byte {
		d = append(d, `{"event":"pusher:signin_success","data":{"user_data":`...)
		d = protocol.AppendStringBytes(d, si.UserData)
		return append(d, "}}"...)
	})
	return nil
}

// pusherApp returns the app whose Pusher key is key.
func (s *appSet) pusherApp(key string) *appState {
	if s == nil {
		return nil
	}
	return s.pusher[key]
}

// pusherCloseReason is the pusher:error message for a close the server decides on.
func pusherCloseReason(code uint32) string {
	if code == PusherCloseUnauthorized {
		return "Connection terminated by the server"
	}
	if r := closeReason(code); r != "" {
		return r
	}
	return "Connection closed"
}
