package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

type whoKey struct{}

// handlerFunc serves one admin endpoint: it returns the success data or an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// Handler serves /admin/ (the console) and /admin/api/ (the API, bearer-authenticated).
func (a *Admin) Handler() http.Handler {
	api := http.NewServeMux()
	route := func(pattern string, f handlerFunc) { api.Handle(pattern, a.endpoint(f)) }
	route("GET /admin/api/whoami", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]string{"name": whoOf(r), "node": a.srv.NodeID()}, nil
	})
	route("GET /admin/api/apps", a.listApps)
	route("POST /admin/api/apps", a.createApp)
	route("GET /admin/api/apps/{id}", a.getApp)
	route("PATCH /admin/api/apps/{id}", a.patchApp)
	route("DELETE /admin/api/apps/{id}", a.deleteApp)
	route("POST /admin/api/apps/{id}/keys", a.addKey)
	route("DELETE /admin/api/apps/{id}/keys/{kid}", a.removeKey)
	route("POST /admin/api/apps/{id}/api-keys", a.addAPIKey)
	route("DELETE /admin/api/apps/{id}/api-keys/{keyid}", a.removeAPIKey)
	route("POST /admin/api/apps/{id}/token", a.token)
	route("POST /admin/api/apps/{id}/publish", a.publish)
	route("GET /admin/api/apps/{id}/stats", a.stats)
	route("GET /admin/api/apps/{id}/series", a.series)
	route("GET /admin/api/apps/{id}/channels", a.channels)
	route("GET /admin/api/apps/{id}/presence", a.presence)
	route("GET /admin/api/apps/{id}/usage", a.usage)
	route("GET /admin/api/nodes", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		all, err := a.allFigures(r.Context())
		if err != nil {
			return nil, err
		}
		nodes := make([]server.NodeFigures, len(all))
		for i, f := range all {
			nodes[i] = f.Node
		}
		return map[string]any{"nodes": nodes}, nil
	})
	route("/admin/api/", func(_ http.ResponseWriter, r *http.Request) (any, error) {
		return nil, &apiError{status: http.StatusNotFound, code: protocol.UnsupportedEvent, problems: []string{"no endpoint " + r.Method + " " + r.URL.Path}}
	})
	console := consoleHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/admin/api/") {
			console.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		name := a.who(r)
		if name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtmate-admin"`)
			server.WriteEnvelope(w, http.StatusUnauthorized, protocol.Unauthenticated, map[string]any{"errors": []string{"missing or unknown admin token"}})
			return
		}
		if r.URL.Path == "/admin/api/stream" && r.Method == http.MethodGet {
			a.stream(w, r)
			return
		}
		api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, name)))
	})
}

func whoOf(r *http.Request) string { s, _ := r.Context().Value(whoKey{}).(string); return s }

func (a *Admin) endpoint(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := f(w, r)
		if err == nil {
			if data != nil {
				server.WriteEnvelope(w, http.StatusOK, protocol.Success, data)
			}
			return
		}
		ae := asAPIError(err)
		if ae.status >= 500 {
			a.log.Error("admin request failed", zap.String("path", r.URL.Path), zap.String("who", whoOf(r)), zap.Error(err))
		} else {
			a.log.Debug("admin request refused", zap.String("path", r.URL.Path), zap.Strings("problems", ae.problems))
		}
		server.WriteEnvelope(w, ae.status, ae.code, map[string]any{"errors": ae.problems})
	})
}

// randToken returns n random bytes, base64url without padding.
func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (it would crash the process first)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newKid() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // see randToken
	return "k" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(b)
}

func (a *Admin) listApps(http.ResponseWriter, *http.Request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []appView{}
	f := a.file.Load()
	for i := range f.Apps {
		out = append(out, a.viewOf(f.Apps[i], nil))
	}
	for _, r := range a.recs {
		if !isConfigApp(a, r.App.ID) {
			out = append(out, a.viewOf(r.App, &r))
		}
	}
	slices.SortFunc(out, func(x, y appView) int { return strings.Compare(x.ID, y.ID) })
	return map[string]any{"count": len(out), "apps": out}, nil
}

// view returns one app's view. Lock held.
func (a *Admin) view(id string) (appView, error) {
	if app, ok := a.fileApp(id); ok {
		return a.viewOf(app, nil), nil
	}
	r, ok := a.recs[id]
	if !ok {
		return appView{}, notFound(id)
	}
	return a.viewOf(r.App, &r), nil
}

func (a *Admin) getApp(_ http.ResponseWriter, r *http.Request) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.view(r.PathValue("id"))
}

// created is the answer to a create: the app and the secrets generated for it, shown once.
type created struct {
	App    appView `json:"app"`
	Kid    string  `json:"kid,omitempty"`
	Secret string  `json:"secret,omitempty"`
	APIKey string  `json:"api_key,omitempty"`
}

func (a *Admin) createApp(w http.ResponseWriter, r *http.Request) (any, error) {
	var req appRequest
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	app := req.App
	app.ID = cleanID(app.ID)
	if app.ID == "" {
		app.ID = "app-" + strings.ToLower(randToken(6))
	}
	if isConfigApp(a, app.ID) {
		return nil, readOnly(app.ID)
	}
	if _, ok := a.recs[app.ID]; ok {
		return nil, conflict("app " + app.ID + " exists")
	}
	var out created
	if app.Secret != "" {
		// A given shorthand secret becomes a key with a kid, so that it can be rotated.
		app.Keys = append([]auth.KeyConfig{{Kid: newKid(), Secret: app.Secret}}, app.Keys...)
		app.Secret = ""
	}
	if len(app.Keys) == 0 {
		out.Kid, out.Secret = newKid(), randToken(32)
		app.Keys = []auth.KeyConfig{{Kid: out.Kid, Secret: out.Secret}}
	}
	if problems := refuseFiles(app.Keys); len(problems) > 0 {
		return nil, badRequest(problems...)
	}
	if app.APIKey != "" {
		app.APIKeys = append([]string{app.APIKey}, app.APIKeys...)
		app.APIKey = ""
	}
	if len(app.APIKeys) == 0 {
		out.APIKey = "rk_" + randToken(24)
		app.APIKeys = []string{out.APIKey}
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := store.Record{App: app, CreatedAt: now, UpdatedAt: now, Disabled: req.Disabled != nil && *req.Disabled}
	if err := a.change(r.Context(), app.ID, &rec); err != nil {
		return nil, err
	}
	out.App = a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "app.create", app.ID, nil, out.App)
	return out, nil
}

// refuseFiles lists keys that name files: the API never reads the server's file system.
func refuseFiles(keys []auth.KeyConfig) []string {
	var out []string
	for i, k := range keys {
		if k.PublicKeyFile != "" || k.JWKSFile != "" {
			out = append(out, "keys["+strconv.Itoa(i)+"]: public_key_file and jwks_file are config file keys; send public_key or jwks")
		}
	}
	return out
}

func (a *Admin) patchApp(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	before := a.viewOf(rec.App, &rec)
	req := appRequest{App: rec.App}
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	var problems []string
	if req.ID != id {
		problems = append(problems, "id cannot be changed")
	}
	if req.Secret != rec.App.Secret || !slices.Equal(req.Keys, rec.App.Keys) {
		problems = append(problems, "keys change through POST and DELETE …/keys")
	}
	if req.APIKey != rec.App.APIKey || !slices.Equal(req.APIKeys, rec.App.APIKeys) {
		problems = append(problems, "API keys change through POST and DELETE …/api-keys")
	}
	if len(problems) > 0 {
		return nil, badRequest(problems...)
	}
	rec.App = req.App
	if req.Disabled != nil {
		rec.Disabled = *req.Disabled
	}
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := a.change(r.Context(), id, &rec); err != nil {
		return nil, err
	}
	after := a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "app.update", id, before, after)
	return after, nil
}

func (a *Admin) deleteApp(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	before := a.viewOf(rec.App, &rec)
	if err := a.change(r.Context(), id, nil); err != nil {
		return nil, err
	}
	a.audit(whoOf(r), "app.delete", id, before, nil)
	return map[string]any{"deleted": id}, nil
}

func (a *Admin) addKey(w http.ResponseWriter, r *http.Request) (any, error) {
	var req keyRequest
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	if problems := refuseFiles([]auth.KeyConfig{req}); len(problems) > 0 {
		return nil, badRequest(problems...)
	}
	out := map[string]any{}
	if req.Secret == "" && req.PublicKey == "" && req.JWKS == "" {
		req.Secret = randToken(32)
		out["secret"] = req.Secret
	}
	if req.Kid == "" && req.JWKS == "" {
		req.Kid = newKid()
	}
	for _, k := range rec.App.Keys {
		if req.Kid != "" && k.Kid == req.Kid {
			return nil, conflict("kid " + req.Kid + " exists")
		}
	}
	before := a.viewOf(rec.App, &rec)
	rec.App.Keys = append(rec.App.Keys, req)
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := a.change(r.Context(), id, &rec); err != nil {
		return nil, err
	}
	after := a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "key.add", id, before, after, zap.String("kid", req.Kid))
	out["kid"], out["app"] = req.Kid, after
	return out, nil
}

func (a *Admin) removeKey(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, kid := r.PathValue("id"), r.PathValue("kid")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(rec.App.Keys, func(k auth.KeyConfig) bool { return k.Kid == kid })
	if i < 0 {
		return nil, &apiError{status: http.StatusNotFound, code: protocol.InvalidParams, problems: []string{"no key " + kid}}
	}
	if len(rec.App.Keys) == 1 && rec.App.Secret == "" {
		return nil, badRequest("the app's only key: add its successor first")
	}
	before := a.viewOf(rec.App, &rec)
	rec.App.Keys = slices.Delete(rec.App.Keys, i, i+1)
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := a.change(r.Context(), id, &rec); err != nil {
		return nil, err
	}
	after := a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "key.remove", id, before, after, zap.String("kid", kid))
	return after, nil
}

func (a *Admin) addAPIKey(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apiKeyRequest
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if req.Key == "" {
		req.Key = "rk_" + randToken(24)
		out["api_key"] = req.Key
	}
	before := a.viewOf(rec.App, &rec)
	rec.App.APIKeys = append(rec.App.APIKeys, req.Key)
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := a.change(r.Context(), id, &rec); err != nil {
		return nil, err
	}
	after := a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "api_key.add", id, before, after, zap.String("api_key_id", apiKeyID(req.Key)))
	out["id"], out["app"] = apiKeyID(req.Key), after
	return out, nil
}

func (a *Admin) removeAPIKey(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, keyID := r.PathValue("id"), r.PathValue("keyid")
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(id)
	if err != nil {
		return nil, err
	}
	before := a.viewOf(rec.App, &rec)
	n := len(rec.App.APIKeys)
	rec.App.APIKeys = slices.DeleteFunc(rec.App.APIKeys, func(k string) bool { return apiKeyID(k) == keyID })
	if rec.App.APIKey != "" && apiKeyID(rec.App.APIKey) == keyID {
		rec.App.APIKey = ""
		n++
	}
	if len(rec.App.APIKeys) == n {
		return nil, &apiError{status: http.StatusNotFound, code: protocol.InvalidParams, problems: []string{"no API key " + keyID}}
	}
	rec.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	if err := a.change(r.Context(), id, &rec); err != nil {
		return nil, err
	}
	after := a.viewOf(rec.App, &rec)
	a.audit(whoOf(r), "api_key.remove", id, before, after, zap.String("api_key_id", keyID))
	return after, nil
}

// runningApp returns the app id as the server runs it (file or stored, not disabled).
func (a *Admin) runningApp(id string) (config.App, error) {
	if app, ok := a.fileApp(id); ok {
		return app, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.recs[id]
	if !ok {
		return config.App{}, notFound(id)
	}
	if r.Disabled {
		return config.App{}, conflict("app " + id + " is disabled")
	}
	return r.App, nil
}

// token signs a connection token for an app with one of its HS256 secrets: kid's, or the
// newest. Apps with only public keys sign their tokens themselves.
func (a *Admin) token(w http.ResponseWriter, r *http.Request) (any, error) {
	var req tokenRequest
	if err := decode(w, r, &req); err != nil {
		return nil, err
	}
	app, err := a.runningApp(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if req.TTL == 0 {
		req.TTL = 3600
	}
	if req.TTL < 1 || req.TTL > 30*24*3600 {
		return nil, badRequest("ttl must be between 1 and 2592000 seconds")
	}
	key := auth.SigningKey{}
	for i := len(app.Keys) - 1; i >= 0; i-- {
		k := app.Keys[i]
		if k.Secret != "" && (req.Kid == "" || k.Kid == req.Kid) {
			key = auth.SigningKey{Kid: k.Kid, Secret: []byte(k.Secret)}
			break
		}
	}
	if key.Secret == nil && app.Secret != "" && req.Kid == "" {
		key.Secret = []byte(app.Secret)
	}
	if key.Secret == nil {
		return nil, badRequest("no HS256 secret to sign with (kid " + req.Kid + "); apps with public keys sign their own tokens")
	}
	now := time.Now()
	claims := protocol.Claims{AppID: app.ID, Sub: req.Sub, Iat: now.Unix(), Exp: now.Unix() + req.TTL, Channels: req.Channels}
	tok, err := auth.Sign(claims, key)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	a.log.Info("admin token issued", zap.String("who", whoOf(r)), zap.String("app_id", app.ID), zap.String("sub", req.Sub),
		zap.String("kid", key.Kid), zap.Int64("ttl", req.TTL))
	return map[string]any{"token": tok, "exp": claims.Exp, "kid": key.Kid, "app_id": app.ID}, nil
}

func (a *Admin) publish(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("body: " + err.Error())
	}
	id := r.PathValue("id")
	if req.Data == nil {
		return nil, badRequest("data is required")
	}
	off, err := a.srv.PublishAPI(id, req.Channel, req.Data)
	if err != nil {
		return nil, err
	}
	a.log.Info("admin publish", zap.String("who", whoOf(r)), zap.String("app_id", id), zap.String("channel", req.Channel))
	return protocol.ChannelData{Channel: req.Channel, Offset: off}, nil
}

// stats sums the app's live figures over every node (with a shared store) and lists them.
func (a *Admin) stats(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, err := a.runningApp(id); err != nil {
		return nil, err
	}
	all, err := a.allFigures(r.Context())
	if err != nil {
		return nil, err
	}
	type nodeStats struct {
		Node string `json:"node"`
		appFigures
	}
	var total appFigures
	nodes := []nodeStats{}
	for _, f := range all {
		af := f.Apps[id]
		total.Connections += af.Connections
		total.Channels = max(total.Channels, af.Channels) // a channel may have subscribers on several nodes
		total.In += af.In
		total.Out += af.Out
		nodes = append(nodes, nodeStats{Node: f.Node.ID, appFigures: af})
	}
	return map[string]any{
		"app_id": id, "t": time.Now().Unix(), "connections": total.Connections, "channels": total.Channels,
		"messages_in_per_s": total.In, "messages_out_per_s": total.Out, "nodes": nodes,
	}, nil
}

func (a *Admin) series(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, err := a.runningApp(id); err != nil {
		return nil, err
	}
	pts := a.live.seriesSince(id, time.Now().Add(-time.Hour).Unix())
	if pts == nil {
		pts = []point{}
	}
	return map[string]any{"app_id": id, "points": pts}, nil
}

func (a *Admin) channels(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	prefix := r.URL.Query().Get("prefix")
	chans, err := a.srv.Channels(id, prefix)
	if err != nil {
		return nil, err
	}
	type ch struct {
		Channel     string `json:"channel"`
		Subscribers int    `json:"subscribers"`
	}
	out := make([]ch, len(chans))
	for i, c := range chans {
		out[i] = ch{c.Name, c.Subscribers}
	}
	return map[string]any{"count": len(out), "channels": out}, nil
}

func (a *Admin) presence(_ http.ResponseWriter, r *http.Request) (any, error) {
	ch := r.URL.Query().Get("channel")
	members, err := a.srv.Presence(r.PathValue("id"), ch)
	if err != nil {
		return nil, err
	}
	return protocol.PresenceData{Channel: ch, Count: len(members), Members: members}, nil
}

// stream sends every app's latest figures once a second as server-sent events, until the
// client goes or the admin API stops.
func (a *Admin) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		server.WriteEnvelope(w, http.StatusInternalServerError, protocol.Internal, nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	done := a.done()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-a.live.wait():
		}
		frame := map[string]any{"t": time.Now().Unix(), "node": a.srv.NodeID(), "apps": a.live.snapshot()}
		b, err := json.Marshal(frame)
		if err != nil {
			return
		}
		if _, err := w.Write(append(append([]byte("data: "), b...), '\n', '\n')); err != nil {
			return
		}
		fl.Flush()
	}
}

// RequireToken wraps h so that it answers only requests with an admin token (401 otherwise),
// for admin endpoints served outside /admin/api/ (POST /admin/drain). Mount it on the main
// mux with a more specific pattern than /admin/, e.g. mux.Handle("POST /admin/drain", …).
func (a *Admin) RequireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := a.who(r)
		if name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rtmate-admin"`)
			server.WriteEnvelope(w, http.StatusUnauthorized, protocol.Unauthenticated, map[string]any{"errors": []string{"missing or unknown admin token"}})
			return
		}
		a.log.Info("admin request", zap.String("who", name), zap.String("path", r.URL.Path))
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, name)))
	})
}

// Who returns the name of the admin token a request passed RequireToken (or the API) with.
func Who(r *http.Request) string { return whoOf(r) }
