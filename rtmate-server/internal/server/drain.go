package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// Draining a node (rolling restarts, canaries): /readyz answers 503 at once so that load
// balancers stop sending new connections; after the grace period the node stops accepting
// and closes every client with 1001 (the contract's "server shutting down"), on which the
// SDKs reconnect with jittered backoff to another node and recover from history; the node
// shuts down as soon as its clients are gone, or when the drain timeout passes. Serve then
// returns, and cmd/rtmate-server exits.

// Drain starts draining in the background and reports whether it started (false when the
// node is already draining or shutting down). grace and timeout of 0 mean the configured
// drain.grace and drain.timeout.
func (s *Server) Drain(grace, timeout time.Duration) bool {
	cfg := s.cfg.Load()
	if grace <= 0 {
		grace = cfg.Drain.Grace
	}
	if timeout <= 0 {
		timeout = cfg.Drain.Timeout
	}
	grace = min(grace, timeout)
	if s.stopping.Load() || !s.cl.draining.CompareAndSwap(false, true) {
		return false
	}
	s.log.Info("draining: /readyz answers 503; closing clients after the grace period",
		zap.Duration("grace", grace), zap.Duration("timeout", timeout), zap.Int("connections", s.table.count()))
	go func() {
		deadline := time.Now().Add(timeout)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		n := s.table.count()
		if err := s.Shutdown(ctx); err != nil {
			s.log.Warn("drain: shutdown", zap.Error(err))
			return
		}
		s.log.Info("drained", zap.Int("clients_closed", n), zap.Duration("took", timeout-time.Until(deadline)))
	}()
	return true
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.cl.draining.Load() }

// drainData is POST /admin/drain's answer.
type drainData struct {
	Draining    bool  `json:"draining"`
	Started     bool  `json:"started"`
	GraceMs     int64 `json:"grace_ms"`
	TimeoutMs   int64 `json:"timeout_ms"`
	Connections int   `json:"connections"`
}

// adminDrain serves POST /admin/drain[?grace=5s&timeout=30s], with admin.token as bearer.
func (s *Server) adminDrain(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	if !cfg.Admin.Enabled() {
		WriteEnvelope(w, http.StatusNotFound, protocol.UnsupportedEvent, nil)
		return
	}
	if !adminAuthorized(r, cfg.Admin.AllTokens()) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtmate-admin"`)
		WriteEnvelope(w, http.StatusUnauthorized, protocol.Unauthenticated, nil)
		return
	}
	grace, timeout := cfg.Drain.Grace, cfg.Drain.Timeout
	for name, d := range map[string]*time.Duration{"grace": &grace, "timeout": &timeout} {
		v := r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		p, err := time.ParseDuration(v)
		if err != nil || p < 0 || p > time.Hour {
			WriteEnvelope(w, http.StatusBadRequest, protocol.InvalidParams, nil)
			s.log.Info("admin drain: bad parameter", zap.String("param", name), zap.String("value", v))
			return
		}
		*d = p
	}
	if grace > timeout {
		grace = timeout
	}
	started := s.Drain(grace, timeout)
	s.log.Info("admin drain requested", zap.String("remote", r.RemoteAddr), zap.Bool("started", started))
	WriteEnvelope(w, http.StatusOK, protocol.Success, drainData{
		Draining: true, Started: started, GraceMs: grace.Milliseconds(), TimeoutMs: timeout.Milliseconds(),
		Connections: s.table.count(),
	})
}

// adminAuthorized compares the bearer token with every admin token (admin.token and
// admin.tokens) in constant time (digests, so the length does not leak either), and looks at
// all of them whichever matches.
func adminAuthorized(r *http.Request, tokens []config.AdminToken) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a := sha256.Sum256([]byte(strings.TrimSpace(got)))
	match := 0
	for _, t := range tokens {
		b := sha256.Sum256([]byte(t.Token))
		match |= subtle.ConstantTimeCompare(a[:], b[:])
	}
	return match == 1
}
