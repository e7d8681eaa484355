package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWebhookValidate(t *testing.T) {
	ok := func(w *Webhook) {}
	tests := []struct {
		name   string
		adjust func(w *Webhook)
		err    string // substring; empty: valid
	}{
		{"valid", ok, ""},
		{"https", func(w *Webhook) { w.URL = "https://hooks.example.com/rtmate?x=1" }, ""},
		{"hook only", func(w *Webhook) { w.URL, w.ConnectHook = "", "https://example.com/hook" }, ""},
		{"neither url", func(w *Webhook) { w.URL = "" }, "url or connect_hook is required"},
		{"no secret", func(w *Webhook) { w.Secret = "" }, "secret is required"},
		{"ftp scheme", func(w *Webhook) { w.URL = "ftp://example.com/x" }, "scheme must be http or https"},
		{"file scheme", func(w *Webhook) { w.URL = "file:///etc/passwd" }, "scheme must be http or https"},
		{"gopher hook", func(w *Webhook) { w.ConnectHook = "gopher://example.com:70/_x" }, "connect_hook"},
		{"no host", func(w *Webhook) { w.URL = "http:///path" }, "no host"},
		{"port only", func(w *Webhook) { w.URL = "http://:8080/path" }, "no host"},
		{"relative", func(w *Webhook) { w.URL = "/hook" }, "scheme must be http or https"},
		{"user info", func(w *Webhook) { w.URL = "https://user:pass@example.com/x" }, "user info is not allowed"},
		{"user info redacted", func(w *Webhook) { w.URL = "https://user:topsecret@example.com/x" }, "xxxxx"},
		{"fragment", func(w *Webhook) { w.URL = "https://example.com/x#frag" }, "fragment"},
		{"unknown event", func(w *Webhook) { w.Events = []string{"connect", "publish"} }, `unknown event "publish"`},
		{"all events", func(w *Webhook) { w.Events = WebhookEvents }, ""},
		{"negative queue", func(w *Webhook) { w.QueueSize = -1 }, "queue_size"},
		{"too many workers", func(w *Webhook) { w.Workers = 65 }, "workers"},
		{"huge batch", func(w *Webhook) { w.BatchSize = 1001 }, "batch_size"},
		{"hook timeout too long", func(w *Webhook) { w.HookTimeout = time.Minute }, "hook_timeout"},
		{"negative timeout", func(w *Webhook) { w.Timeout = -time.Second }, "timeout"},
		{"negative retries: none", func(w *Webhook) { w.MaxRetries = -1 }, ""},
		{"loopback allowed by default", func(w *Webhook) { w.URL = "http://127.0.0.1:8080/x" }, ""},
		{"deny_private: loopback", func(w *Webhook) { w.URL, w.DenyPrivate = "http://127.0.0.1:8080/x", true }, "private or local"},
		{"deny_private: metadata", func(w *Webhook) { w.URL, w.DenyPrivate = "http://169.254.169.254/latest", true }, "private or local"},
		{"deny_private: ipv6 loopback hook", func(w *Webhook) { w.ConnectHook, w.DenyPrivate = "http://[::1]:9/x", true }, "connect_hook"},
		{"deny_private: mapped", func(w *Webhook) { w.URL, w.DenyPrivate = "http://[::ffff:10.0.0.1]/x", true }, "private or local"},
		{"deny_private: public literal", func(w *Webhook) { w.URL, w.DenyPrivate = "https://93.184.215.14/x", true }, ""},
		{"deny_private: hostname (checked at dial time)", func(w *Webhook) { w.URL, w.DenyPrivate = "http://localhost/x", true }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Dev()
			w := &Webhook{URL: "http://hooks.example.com/rtmate", Secret: "s"}
			tc.adjust(w)
			cfg.Apps[0].Webhook = w
			err := cfg.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("the error leaks the password: %v", err)
			}
		})
	}
}

func TestWebhookYAML(t *testing.T) {
	cfg, err := Parse([]byte(`
apps:
  - id: shop
    secret: shop-secret-0123456789
    webhook:
      url: https://backend.example.com/rtmate/events
      secret: whsec-1
      events: [connect, disconnect, message]
      timeout: 3s
      max_retries: 2
      queue_size: 500
      workers: 2
      batch_size: 20
      connect_hook: https://backend.example.com/rtmate/hook
      hook_timeout: 1s
      hook_fail_open: true
      deny_private: true
`))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Apps[0].Webhook.WithDefaults()
	want := Webhook{URL: "https://backend.example.com/rtmate/events", Secret: "whsec-1", Events: []string{"connect", "disconnect", "message"},
		Timeout: 3 * time.Second, MaxRetries: 2, QueueSize: 500, Workers: 2, BatchSize: 20,
		ConnectHook: "https://backend.example.com/rtmate/hook", HookTimeout: time.Second, HookFailOpen: true, DenyPrivate: true}
	if w.URL != want.URL || strings.Join(w.Events, ",") != strings.Join(want.Events, ",") || w.Timeout != want.Timeout ||
		w.MaxRetries != want.MaxRetries || w.QueueSize != want.QueueSize || w.Workers != want.Workers || w.BatchSize != want.BatchSize ||
		w.ConnectHook != want.ConnectHook || w.HookTimeout != want.HookTimeout || !w.HookFailOpen || !w.DenyPrivate {
		t.Fatalf("parsed %+v, want %+v", w, want)
	}
	if _, err := Parse([]byte("apps:\n  - id: shop\n    secret: s\n    webhook:\n      url: https://x.example\n      secret: s\n      retries: 2\n")); err == nil {
		t.Fatal("an unknown webhook key was accepted")
	}
}

func TestWebhookDefaults(t *testing.T) {
	w := Webhook{URL: "https://x.example", Secret: "s"}.WithDefaults()
	if len(w.Events) != 5 || w.Timeout != 5*time.Second || w.MaxRetries != 5 || w.QueueSize != 10000 ||
		w.Workers != 4 || w.BatchSize != 1 || w.HookTimeout != 2*time.Second || w.HookFailOpen || w.DenyPrivate {
		t.Fatalf("defaults %+v", w)
	}
	if w := (Webhook{MaxRetries: -1}).WithDefaults(); w.MaxRetries != 0 {
		t.Fatalf("max_retries -1 resolved to %d, want 0", w.MaxRetries)
	}
}

func TestDeniedAddr(t *testing.T) {
	denied := []string{
		"127.0.0.1", "127.255.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.1.1.1", "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.8",
		"::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd00:ec2::254", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:0001::1", "2002:a00:1::1",
		"2001:db8::1", "64:ff9b:1::1",
	}
	allowed := []string{
		"93.184.215.14", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
	}
	for _, s := range denied {
		if !DeniedAddr(netip.MustParseAddr(s)) {
			t.Errorf("DeniedAddr(%s) = false, want true", s)
		}
	}
	for _, s := range allowed {
		if DeniedAddr(netip.MustParseAddr(s)) {
			t.Errorf("DeniedAddr(%s) = true, want false", s)
		}
	}
	if !DeniedIP(nil) {
		t.Error("DeniedIP(nil) = false")
	}
}
