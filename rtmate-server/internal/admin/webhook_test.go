package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
	"github.com/rtmate/rtmate/rtmate-server/internal/webhook"
)

// TestWebhookOfAPIApp: an app created through the admin API with a webhook sends its events
// to a real HTTP receiver, as a config file app's would (the dispatcher is told every
// configuration the admin API applies).
func TestWebhookOfAPIApp(t *testing.T) {
	events := make(chan map[string]any, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev map[string]any
		if json.Unmarshal(b, &ev) == nil {
			events <- ev
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	cfg := testserver.Config(t, func(c *config.Config) {
		c.Admin.Token = testToken
		c.DataDir = t.TempDir()
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	hooks := webhook.New(cfg, log)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hooks.Close(ctx) // the receiver got what the test waits for; the rest may be dropped
	}()
	srv := testserver.Start(t, cfg, server.Options{Observer: hooks, Hooks: hooks})
	adm, err := start(cfg, srv.Server, log, Options{OnApply: hooks.Reload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.Close(context.Background()) })
	s := &stack{Server: srv, adm: adm}

	var c createdApp
	s.ok(t, "POST", "/admin/api/apps", map[string]any{"id": "hooked", "webhook": map[string]any{
		"url": recv.URL, "secret": "webhook-secret", "events": []string{"connect"},
	}}, &c)
	var v appView
	s.ok(t, "GET", "/admin/api/apps/hooked", nil, &v)
	if wh, _ := v.Settings["webhook"].(map[string]any); wh["secret"] != nil || wh["secret_set"] != true {
		t.Fatalf("webhook view shows its secret or hides that it has one: %+v", wh)
	}
	if _, r := connect(t, s, "hooked", sign(t, "hooked", c.Kid, c.Secret, "alice")); r.Code != 200 {
		t.Fatal(r)
	}
	select {
	case ev := <-events:
		if ev["event"] != "connect" || ev["app_id"] != "hooked" || ev["user_id"] != "alice" {
			t.Fatalf("event %v", ev)
		}
	case <-time.After(waitFor):
		t.Fatal("no connect event")
	}
}
