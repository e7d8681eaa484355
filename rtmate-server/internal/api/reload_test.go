package api_test

import (
	"net/http"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// TestReload is what SIGHUP does (Server.Reload with a freshly loaded config): limits and
// API keys change for connections that stay open, and the connections of a removed app are
// closed with 4004.
func TestReload(t *testing.T) {
	t.Parallel()
	s := startStack(t, testConfig(t, func(cfg *config.Config) {
		l := &app(cfg, auth.DevAppID).Limits
		l.MaxChannels = 1
		l.MaxPublishRate = 0.001
	}))
	a := connectDev(t, s, "a")
	a.subscribe("one")
	if r := a.call(protocol.EventSubscribe, map[string]any{"channel": "two"}); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("2nd channel before the reload: %s", r)
	}
	if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "one", "data": 1}); !r.is(protocol.Success) {
		t.Fatal(r)
	}
	a.expectMessage("one", "1", a.clientID)
	if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "one", "data": 2}); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("2nd publish before the reload: %s", r)
	}
	gone := connect(t, s, otherApp, otherSecret, "o")
	gone.subscribe("room")

	// The new config: more channels, no publish quota, a rotated key, other-app removed.
	next := testConfig(t, func(cfg *config.Config) {
		dev := app(cfg, auth.DevAppID)
		dev.Limits.MaxChannels = 3
		dev.APIKey = "rotated-key"
		cfg.Apps = []config.App{*dev}
	})
	if err := s.Reload(next); err != nil {
		t.Fatalf("reload: %v", err)
	}

	gone.expectClose(4004)
	// Same connection, new limits.
	a.subscribe("two")
	a.subscribe("three")
	if r := a.call(protocol.EventSubscribe, map[string]any{"channel": "four"}); !r.is(protocol.QuotaExceeded) {
		t.Fatalf("4th channel after the reload: %s", r)
	}
	for i := 3; i < 6; i++ {
		if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "two", "data": i}); !r.is(protocol.Success) {
			t.Fatalf("publish %d after the reload: %s", i, r)
		}
	}
	// Keys: the old one and the removed app's are refused, the new one works.
	s.expectError(t, http.MethodGet, "/api/usage?appId=demo-app", devKey, nil, http.StatusUnauthorized, protocol.Unauthenticated)
	s.expectError(t, http.MethodGet, "/api/usage?appId=other-app", otherKey, nil, http.StatusUnauthorized, protocol.Unauthenticated)
	s.expectOK(t, http.MethodPost, "/api/publish", "rotated-key", `{"appId":"demo-app","channel":"one","data":"rotated"}`)
	for i := 3; i < 6; i++ {
		a.expectMessage("two", string(rune('0'+i)), a.clientID)
	}
	a.expectMessage("one", `"rotated"`, "server")

	// The removed app cannot come back in, and its usage leaves the metrics.
	c := dialWS(t, s, nil)
	if r := c.call(protocol.EventAuth, map[string]any{"appId": otherApp, "token": "x"}); !r.is(protocol.AppNotFound) {
		t.Fatalf("auth to the removed app: %s", r)
	}
	fams := s.scrape(t)
	if v := value(fams, "rtmate_app_connections", "app", otherApp); v != -1 {
		t.Errorf("the removed app still has rtmate_app_connections %v", v)
	}
	if v := value(fams, "rtmate_app_connections_peak", "app", "demo-app"); v != 1 {
		t.Errorf("demo-app's usage did not survive the reload: peak %v", v)
	}
	if v := value(fams, "rtmate_app_messages_in_total", "app", "demo-app"); v != 5 {
		t.Errorf("demo-app messages in %v, want 5 (usage survives reloads)", v)
	}
}
