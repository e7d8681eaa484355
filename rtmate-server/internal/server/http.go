package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

func (s *Server) routes(cfg *config.Config) {
	s.mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) { s.upgrade(w, r, false) })
	if cfg.ConformanceEcho {
		s.mux.HandleFunc("GET /ws/echo", func(w http.ResponseWriter, r *http.Request) { s.upgrade(w, r, true) })
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("POST /admin/drain", s.adminDrain) // drain.go
	if cfg.Development {
		s.mux.HandleFunc("GET /dev/token", s.devToken)
	}
	if cfg.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.stopping.Load() || s.cl.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// devToken mints a token for the built-in development app, so that the README's browser
// snippet and the demo page work with nothing else installed. Development mode only.
func (s *Server) devToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	q := r.URL.Query()
	sub := q.Get("sub")
	if sub == "" {
		sub = "guest-" + strconv.FormatUint(s.nextID.Add(1), 36)
	}
	ttl := time.Hour
	if v := q.Get("ttl"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs <= 0 || secs > 7*24*3600 {
			WriteEnvelope(w, http.StatusBadRequest, protocol.InvalidParams, nil)
			return
		}
		ttl = time.Duration(secs) * time.Second
	}
	var channels []string
	if v := q.Get("channels"); v != "" {
		channels = strings.Split(v, ",")
	}
	tok, err := auth.DevToken(sub, ttl, channels)
	if err != nil {
		s.log.Error("dev token", zap.Error(err))
		WriteEnvelope(w, http.StatusInternalServerError, protocol.Internal, nil)
		return
	}
	WriteEnvelope(w, http.StatusOK, protocol.Success, map[string]any{
		"appId": auth.DevAppID, "token": tok, "exp": time.Now().Add(ttl).Unix(), "sub": sub,
	})
}

// WriteEnvelope answers an HTTP request with the protocol's envelope.
func WriteEnvelope(w http.ResponseWriter, status int, code protocol.WsBizCode, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	body := struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    any    `json:"data"`
	}{code.Code(), code.Message(), data}
	_ = json.NewEncoder(w).Encode(body) // the client may be gone; nothing to do about it
}
