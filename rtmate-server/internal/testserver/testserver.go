// Package testserver starts a real RTMate server in-process on a free loopback port, for
// black-box tests that talk to it over real sockets.
//
// Entry points: Start, Config, Token.
package testserver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// Server is a running server.
type Server struct {
	*server.Server
	Addr string // host:port
	URL  string // ws://host:port/ws
	HTTP string // http://host:port
}

// Config returns the development configuration (demo-app, history on) with the given
// adjustments applied before validation.
func Config(t testing.TB, adjust func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Dev()
	cfg.Listen = "127.0.0.1:0"
	if adjust != nil {
		adjust(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("testserver: config: %v", err)
	}
	return cfg
}

// Start runs a server with cfg (nil: Config(t, nil)) until the test ends; it is shut down
// gracefully in t.Cleanup. Logs go to the test log at warn level and above unless
// RTMATE_TEST_LOG=debug.
func Start(t testing.TB, cfg *config.Config, opts server.Options) *Server {
	t.Helper()
	if cfg == nil {
		cfg = Config(t, nil)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	srv, err := server.New(cfg, log, opts)
	if err != nil {
		t.Fatalf("testserver: new: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	addr := ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !strings.Contains(err.Error(), "already shut down") {
			t.Errorf("testserver: shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("testserver: serve: %v", err)
		}
	})
	return &Server{Server: srv, Addr: addr, URL: "ws://" + addr + "/ws", HTTP: "http://" + addr}
}

// Token signs an HS256 token for app with secret.
func Token(t testing.TB, app, secret, sub string, ttl time.Duration, channels []string) string {
	t.Helper()
	tok, err := auth.Sign(protocol.Claims{AppID: app, Sub: sub, Exp: time.Now().Add(ttl).Unix(), Iat: time.Now().Unix(), Channels: channels},
		auth.SigningKey{Alg: "HS256", Secret: []byte(secret)})
	if err != nil {
		t.Fatalf("testserver: sign: %v", err)
	}
	return tok
}

// DevToken signs a token for the development app.
func DevToken(t testing.TB, sub string, ttl time.Duration) string {
	return Token(t, auth.DevAppID, auth.DevSecret, sub, ttl, nil)
}
