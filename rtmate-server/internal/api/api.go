package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// backend is what the API needs from the server (*server.Server).
type backend interface {
	AppByAPIKey(key string) (appID string, ok bool)
	AppLimits(appID string) (config.Limits, bool)
	PublishAPI(appID, channel string, data []byte) (uint64, error)
	BroadcastAPI(appID string, channels []string, data []byte) ([]uint64, error)
	Presence(appID, channel string) ([]protocol.Member, error)
	ClusterChannels(appID, prefix string) ([]server.ChannelInfo, server.Gathered, error)
	ClusterDisconnect(appID, clientID, userID string) (int, server.Gathered, error)
	ClusterUsage(appID string) (server.UsageReport, server.Gathered, error)
	Nodes(appID string) ([]server.NodeInfo, error)
	ObserveAPIRequest(event server.EventID, code protocol.WsBizCode, took time.Duration)
}

var _ backend = (*server.Server)(nil)

// Handler serves /api/. Safe for concurrent use.
type Handler struct {
	srv backend
	log *zap.Logger
}

// New returns the API handler; mount it with srv.Handle("/api/", api.New(srv, log)).
func New(srv *server.Server, log *zap.Logger) http.Handler { return newHandler(srv, log) }

func newHandler(srv backend, log *zap.Logger) *Handler {
	return &Handler{srv: srv, log: log.Named("api")}
}

// endpoint is one API request kind: its method, its event for metrics, and its handler,
// which returns the success data or an error carrying a WsBizCode.
type endpoint struct {
	method string
	event  server.EventID
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request, appID string) (any, error)
}

var endpoints = map[string]endpoint{
	"/api/publish":    {http.MethodPost, server.EventAPIPublish, (*Handler).publish},
	"/api/broadcast":  {http.MethodPost, server.EventAPIBroadcast, (*Handler).broadcast},
	"/api/presence":   {http.MethodGet, server.EventAPIPresence, (*Handler).presence},
	"/api/channels":   {http.MethodGet, server.EventAPIChannels, (*Handler).channels},
	"/api/disconnect": {http.MethodPost, server.EventAPIDisconnect, (*Handler).disconnect},
	"/api/usage":      {http.MethodGet, server.EventAPIUsage, (*Handler).usage},
	"/api/nodes":      {http.MethodGet, server.EventAPINodes, (*Handler).nodes},
}

// ServeHTTP routes, authenticates, runs the endpoint and answers with the envelope. The
// order of checks is part of the contract (docs/api.md): unknown path 404, wrong method
// 405, bad or missing key 401, then the endpoint's own checks.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ep, ok := endpoints[r.URL.Path]
	if !ok {
		h.answer(w, r, server.EventUnknown, "", http.StatusNotFound, nil,
			protocol.Errorf(protocol.UnsupportedEvent, "no endpoint %s", r.URL.Path), start)
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		h.answer(w, r, ep.event, "", http.StatusMethodNotAllowed, nil,
			protocol.Errorf(protocol.InvalidParams, "method %s, want %s", r.Method, ep.method), start)
		return
	}
	appID, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtmate"`)
		h.answer(w, r, ep.event, "", http.StatusUnauthorized, nil,
			protocol.Errorf(protocol.Unauthenticated, "missing or unknown API key"), start)
		return
	}
	data, err := ep.serve(h, w, r, appID)
	h.answer(w, r, ep.event, appID, 0, data, err, start)
}

// authenticate finds the app whose api_key the request carries as a bearer token.
func (h *Handler) authenticate(r *http.Request) (appID string, ok bool) {
	scheme, key, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return h.srv.AppByAPIKey(strings.TrimSpace(key))
}

// checkApp enforces that a request names the app its key belongs to: one key never reaches
// another app, and whether that other app exists is not revealed.
func checkApp(keyApp, reqApp string) error {
	switch reqApp {
	case "":
		return protocol.Errorf(protocol.InvalidParams, "appId is required")
	case keyApp:
		return nil
	}
	return protocol.Errorf(protocol.Forbidden, "the API key of %q used for %q", keyApp, reqApp)
}

// statusOf is the HTTP status of a code: the code itself when it is an HTTP status
// (200, 400, 401, 403, 413, 429, 500), else 400.
func statusOf(code protocol.WsBizCode) int {
	if c := code.Code(); c >= 200 && c < 600 {
		return c
	}
	return http.StatusBadRequest
}

// answer writes the envelope (data only on success), reports the request to the metrics and
// logs it. status 0 means statusOf(code).
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, event server.EventID, appID string, status int, data any, err error, start time.Time) {
	code := protocol.CodeOf(err)
	if status == 0 {
		status = statusOf(code)
	}
	if code != protocol.Success {
		data = nil
		if d := server.ErrorData(err); d != nil {
			data = json.RawMessage(d) // a script's {"reason":…}
		}
	}
	server.WriteEnvelope(w, status, code, data)
	took := time.Since(start)
	if status != http.StatusNotFound {
		h.srv.ObserveAPIRequest(event, code, took)
	}
	ce := h.log.Check(server.RequestLevel(code), "api request")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("app_id", appID), zap.String("event", event.String()), zap.String("path", r.URL.Path),
		zap.Int("status", status), zap.Int("code", code.Code()), zap.Duration("took", took),
		zap.String("remote", r.RemoteAddr),
	}
	var re *protocol.RtWsError
	if errors.As(err, &re) && re.Cause != nil {
		fields = append(fields, zap.NamedError("cause", re.Cause))
	} else if err != nil && re == nil {
		fields = append(fields, zap.Error(err))
	}
	ce.Write(fields...)
}
