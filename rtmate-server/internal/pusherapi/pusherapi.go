package pusherapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/pusher"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// backend is what the API needs from the server (*server.Server).
type backend interface {
	PusherApp(appID string) (config.Pusher, config.Limits, bool)
	PusherTrigger(appID string, events []server.PusherEvent) error
	PusherChannels(appID, prefix string, users bool) ([]server.PusherChannel, error)
	PusherChannelInfo(appID, name string) (server.PusherChannel, error)
	PusherChannelsInfo(appID string, names []string) ([]server.PusherChannel, error)
	PusherUsers(appID, name string) ([]string, error)
	PusherTerminate(appID, userID string) (int, error)
	ObserveAPIRequest(event server.EventID, code protocol.WsBizCode, took time.Duration)
}

var _ backend = (*server.Server)(nil)

// Limits of the API, Pusher's own.
const (
	MaxChannels    = 100 // channels of one event
	MaxBatch       = 10  // events of one batch
	maxBodyOverrun = 16 << 10
)

// Handler serves /apps/. Safe for concurrent use.
type Handler struct {
	srv backend
	log *zap.Logger
	mux *http.ServeMux
	now func() time.Time
}

// New returns the API handler.
func New(srv *server.Server, log *zap.Logger) http.Handler { return newHandler(srv, log) }

func newHandler(srv backend, log *zap.Logger) *Handler {
	h := &Handler{srv: srv, log: log.Named("pusherapi"), mux: http.NewServeMux(), now: time.Now}
	h.route("POST /apps/{app}/events", server.EventAPIPublish, h.events)
	h.route("POST /apps/{app}/batch_events", server.EventAPIBroadcast, h.batchEvents)
	h.route("GET /apps/{app}/channels", server.EventAPIChannels, h.channels)
	h.route("GET /apps/{app}/channels/{channel}", server.EventAPIChannels, h.channel)
	h.route("GET /apps/{app}/channels/{channel}/users", server.EventAPIPresence, h.users)
	h.route("POST /apps/{app}/users/{user}/terminate_connections", server.EventAPIDisconnect, h.terminate)
	return h
}

// ServeHTTP routes; unknown paths answer 404 as text, as Pusher does.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// apiError is an answer other than 200: Pusher's status and text body.
type apiError struct {
	status int
	msg    string
	code   protocol.WsBizCode
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, code protocol.WsBizCode, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...), code: code}
}

// request is a verified request's context.
type request struct {
	app  string
	body []byte
	lim  config.Limits
	r    *http.Request
}

type serveFunc func(q *request) (any, error)

// route registers an endpoint behind the checks every request passes, in Pusher's order:
// the app (404), the body size (413), the signature (401).
func (h *Handler) route(pattern string, ev server.EventID, serve serveFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reply, err := h.verify(r, serve)
		code := protocol.Success
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = fromServer(err)
			}
			code = ae.code
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(ae.status)
			_, _ = io.WriteString(w, ae.msg+"\n") // the client may be gone; nothing to do about it
		} else {
			w.Header().Set("Content-Type", "application/json")
			if err := json.NewEncoder(w).Encode(reply); err != nil {
				h.log.Debug("write reply", zap.Error(err))
			}
		}
		took := time.Since(start)
		h.srv.ObserveAPIRequest(ev, code, took)
		if ce := h.log.Check(server.RequestLevel(code), "pusher api request"); ce != nil {
			ce.Write(zap.String("app_id", r.PathValue("app")), zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.Int("code", code.Code()), zap.Duration("took", took), zap.Error(err))
		}
	})
}

func (h *Handler) verify(r *http.Request, serve serveFunc) (any, error) {
	app := r.PathValue("app")
	p, lim, ok := h.srv.PusherApp(app)
	if !ok {
		return nil, fail(http.StatusNotFound, protocol.AppNotFound, "Unknown app_id %s", app)
	}
	// A batch carries up to MaxBatch events of up to max_message_size each, plus their JSON.
	limit := int64(MaxBatch*lim.MaxMessageSize + maxBodyOverrun)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Could not read the body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, fail(http.StatusRequestEntityTooLarge, protocol.MessageTooLarge, "Request body over %d bytes", limit)
	}
	if err := pusher.VerifyRequest(r.Method, r.URL.Path, r.URL.Query(), body, p.Key, p.Secret, h.now()); err != nil {
		var re *pusher.RequestError
		if errors.As(err, &re) {
			return nil, fail(re.Status, protocol.Unauthenticated, "%s", re.Message)
		}
		return nil, fail(http.StatusUnauthorized, protocol.Unauthenticated, "%v", err)
	}
	return serve(&request{app: app, body: body, lim: lim, r: r})
}

// fromServer maps the server's errors onto Pusher's statuses.
func fromServer(err error) *apiError {
	code := protocol.CodeOf(err)
	status := http.StatusInternalServerError
	switch code {
	case protocol.InvalidParams:
		status = http.StatusBadRequest
	case protocol.AppNotFound:
		status = http.StatusNotFound
	case protocol.QuotaExceeded, protocol.Forbidden:
		status = http.StatusForbidden
	case protocol.MessageTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	msg := err.Error()
	if reason, ok := script.ReasonOf(err); ok {
		msg = reason // a publish script's rejection: its reason is the answer
	}
	if status == http.StatusInternalServerError {
		msg = "Internal error"
	}
	return &apiError{status: status, msg: msg, code: code}
}

// eventBody is one event of /events or /batch_events.
type eventBody struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

// check validates an event and returns it for the server.
func (e *eventBody) check(lim config.Limits) (server.PusherEvent, error) {
	var ev server.PusherEvent
	switch {
	case e.Name == "":
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Missing event name")
	case len(e.Name) > pusher.MaxEventNameLen:
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Event name too long (over %d characters)", pusher.MaxEventNameLen)
	case len(e.Data) == 0:
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Missing data")
	case e.SocketID != "" && !pusher.ValidSocketID(e.SocketID):
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Invalid socket_id %q", e.SocketID)
	}
	size := len(e.Data)
	if e.Data[0] == '"' {
		var s string
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Invalid data")
		}
		size = len(s)
	}
	if size > lim.MaxMessageSize {
		return ev, fail(http.StatusRequestEntityTooLarge, protocol.MessageTooLarge, "Event data of %d bytes is over the limit of %d bytes", size, lim.MaxMessageSize)
	}
	chans := e.Channels
	if e.Channel != "" {
		chans = append(chans, e.Channel)
	}
	switch {
	case len(chans) == 0:
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Missing channel or channels")
	case len(chans) > MaxChannels:
		return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Too many channels: %d, at most %d", len(chans), MaxChannels)
	}
	for i, ch := range chans {
		if !validTarget(ch) {
			return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Invalid channel name %q", ch)
		}
		for _, prev := range chans[:i] {
			if prev == ch {
				return ev, fail(http.StatusBadRequest, protocol.InvalidParams, "Channel %q listed twice", ch)
			}
		}
	}
	return server.PusherEvent{Name: e.Name, Data: compact(e.Data), Channels: chans, SocketID: e.SocketID}, nil
}

// validTarget allows the channels a client may subscribe to and users' own channels.
func validTarget(ch string) bool {
	if user, ok := strings.CutPrefix(ch, pusher.ServerToUserPrefix); ok {
		return user != "" && len(ch) <= pusher.MaxChannelLen+len(pusher.ServerToUserPrefix)
	}
	return pusher.ValidChannel([]byte(ch))
}

// compact drops insignificant white space, so the stored data is one line of JSON.
func compact(raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func decodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, protocol.InvalidParams, "Invalid JSON body: %v", err)
	}
	return nil
}

func (h *Handler) events(q *request) (any, error) {
	var e eventBody
	if err := decodeBody(q.body, &e); err != nil {
		return nil, err
	}
	ev, err := e.check(q.lim)
	if err != nil {
		return nil, err
	}
	if err := h.srv.PusherTrigger(q.app, []server.PusherEvent{ev}); err != nil {
		return nil, err
	}
	if e.Info == "" {
		return struct{}{}, nil
	}
	chans, err := h.channelsInfo(q.app, ev.Channels, e.Info)
	if err != nil {
		return nil, err
	}
	return map[string]any{"channels": chans}, nil
}

func (h *Handler) batchEvents(q *request) (any, error) {
	var b struct {
		Batch []eventBody `json:"batch"`
	}
	if err := decodeBody(q.body, &b); err != nil {
		return nil, err
	}
	switch {
	case len(b.Batch) == 0:
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Missing batch")
	case len(b.Batch) > MaxBatch:
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Batch too large: %d events, at most %d", len(b.Batch), MaxBatch)
	}
	evs := make([]server.PusherEvent, len(b.Batch))
	anyInfo := false
	for i := range b.Batch {
		ev, err := b.Batch[i].check(q.lim)
		if err != nil {
			return nil, err
		}
		evs[i] = ev
		anyInfo = anyInfo || b.Batch[i].Info != ""
	}
	if err := h.srv.PusherTrigger(q.app, evs); err != nil {
		return nil, err
	}
	if !anyInfo {
		return struct{}{}, nil
	}
	out := make([]map[string]any, len(evs))
	for i := range evs {
		out[i] = map[string]any{}
		if b.Batch[i].Info == "" {
			continue
		}
		chans, err := h.channelsInfo(q.app, evs[i].Channels, b.Batch[i].Info)
		if err != nil {
			return nil, err
		}
		if len(evs[i].Channels) == 1 {
			out[i] = chans[evs[i].Channels[0]]
		}
	}
	return map[string]any{"batch": out}, nil
}

// infoFields parses info=user_count,subscription_count.
func infoFields(info string) (users, subs bool, err error) {
	if info == "" {
		return false, false, nil
	}
	for _, f := range strings.Split(info, ",") {
		switch f {
		case "user_count":
			users = true
		case "subscription_count":
			subs = true
		default:
			return false, false, fail(http.StatusBadRequest, protocol.InvalidParams, "Unknown info attribute %q", f)
		}
	}
	return users, subs, nil
}

func channelAttrs(pc server.PusherChannel, users, subs bool) map[string]any {
	m := map[string]any{}
	if users && pusher.IsPresence(pc.Name) {
		m["user_count"] = pc.Users
	}
	if subs {
		m["subscription_count"] = pc.Subscriptions
	}
	return m
}

func (h *Handler) channelsInfo(app string, chans []string, info string) (map[string]map[string]any, error) {
	users, subs, err := infoFields(info)
	if err != nil {
		return nil, err
	}
	pcs, err := h.srv.PusherChannelsInfo(app, chans)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]any, len(pcs))
	for _, pc := range pcs {
		out[pc.Name] = channelAttrs(pc, users, subs)
	}
	return out, nil
}

func (h *Handler) channels(q *request) (any, error) {
	qs := q.r.URL.Query()
	prefix := qs.Get("filter_by_prefix")
	users, subs, err := infoFields(qs.Get("info"))
	if err != nil {
		return nil, err
	}
	if users && !strings.HasPrefix(prefix, pusher.PresencePrefix) {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "info=user_count requires filter_by_prefix=presence-")
	}
	chans, err := h.srv.PusherChannels(q.app, prefix, users)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(chans))
	for _, pc := range chans {
		out[pc.Name] = channelAttrs(pc, users, subs)
	}
	return map[string]any{"channels": out}, nil
}

func (h *Handler) channel(q *request) (any, error) {
	name := q.r.PathValue("channel")
	if !pusher.ValidChannel([]byte(name)) {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Invalid channel name %q", name)
	}
	users, subs, err := infoFields(q.r.URL.Query().Get("info"))
	if err != nil {
		return nil, err
	}
	if users && !pusher.IsPresence(name) {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "info=user_count is only for presence channels")
	}
	pc, err := h.srv.PusherChannelInfo(q.app, name)
	if err != nil {
		return nil, err
	}
	m := channelAttrs(pc, users, subs)
	m["occupied"] = pc.Subscriptions > 0 || pc.Users > 0
	return m, nil
}

func (h *Handler) users(q *request) (any, error) {
	name := q.r.PathValue("channel")
	if !pusher.IsPresence(name) || !pusher.ValidChannel([]byte(name)) {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Users can only be listed for presence channels")
	}
	ids, err := h.srv.PusherUsers(q.app, name)
	if err != nil {
		return nil, err
	}
	type user struct {
		ID string `json:"id"`
	}
	out := make([]user, len(ids))
	for i, id := range ids {
		out[i] = user{ID: id}
	}
	return map[string]any{"users": out}, nil
}

func (h *Handler) terminate(q *request) (any, error) {
	user := q.r.PathValue("user")
	if user == "" {
		return nil, fail(http.StatusBadRequest, protocol.InvalidParams, "Missing user id")
	}
	if _, err := h.srv.PusherTerminate(q.app, user); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
