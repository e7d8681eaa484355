package config

import (
	"strings"
	"testing"
	"time"
)

func TestAdminConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{name: "off by default, data_dir default", yaml: "apps: [{id: a, secret: s}]", check: func(t *testing.T, c *Config) {
			if c.Admin.Enabled() || c.DataDir != DefaultDataDir || c.Admin.UsageFlushInterval != MaxUsageFlushInterval {
				t.Errorf("admin %+v data_dir %q", c.Admin, c.DataDir)
			}
		}},
		{name: "token and named tokens, no apps needed", yaml: "admin: {token: 0123456789abcdef, tokens: [{name: ops, token: fedcba9876543210}], usage_flush_interval: 2s}", check: func(t *testing.T, c *Config) {
			all := c.Admin.AllTokens()
			if len(all) != 2 || all[0].Name != "admin" || all[1].Name != "ops" || c.Admin.UsageFlushInterval != 2*time.Second {
				t.Errorf("tokens %+v", all)
			}
		}},
		{name: "env", yaml: "{}", env: map[string]string{"RTMATE_ADMIN_TOKEN": "env-token-0123456789", "RTMATE_DATA_DIR": "/tmp/x", "RTMATE_ADMIN_LISTEN": "127.0.0.1:0"}, check: func(t *testing.T, c *Config) {
			if c.Admin.Token != "env-token-0123456789" || c.DataDir != "/tmp/x" || c.Admin.Listen != "127.0.0.1:0" {
				t.Errorf("env not applied: %+v %q", c.Admin, c.DataDir)
			}
		}},
		{name: "no apps and no token", yaml: "{}", wantErr: "no apps configured"},
		{name: "short token", yaml: "admin: {token: short}", wantErr: "at least 16"},
		{name: "unnamed token", yaml: "admin: {tokens: [{token: 0123456789abcdef}]}", wantErr: "name is required"},
		{name: "duplicate name", yaml: "admin: {token: 0123456789abcdef, tokens: [{name: admin, token: fedcba9876543210}]}", wantErr: "duplicate name"},
		{name: "bad listen", yaml: "admin: {token: 0123456789abcdef, listen: nope}", wantErr: "admin.listen"},
		{name: "flush too slow", yaml: "admin: {token: 0123456789abcdef, usage_flush_interval: 1m}", wantErr: "usage_flush_interval"},
		{name: "api_keys shared between apps", yaml: "apps: [{id: a, secret: s, api_keys: [k0123456789abcdef]}, {id: b, secret: s, api_key: k0123456789abcdef}]", wantErr: "the same key"},
		{name: "monthly_messages negative", yaml: "apps: [{id: a, secret: s, limits: {monthly_messages: -1}}]", wantErr: "monthly_messages"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"RTMATE_ADMIN_TOKEN", "RTMATE_DATA_DIR", "RTMATE_ADMIN_LISTEN"} {
				t.Setenv(k, c.env[k])
			}
			cfg, err := Parse([]byte(c.yaml))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestAppProblemsListsAll(t *testing.T) {
	a := App{Limits: Limits{MaxMessageSize: -1, Burst: -1, MonthlyMessages: -5}, APIKeys: []string{"short"}, PresenceChannels: []string{""}}
	a.ID = "bad id"
	p := AppProblems(&a, "")
	all := strings.Join(p, "\n")
	for _, want := range []string{"id", "max_message_size", "burst", "monthly_messages", "api_keys[0]", "presence_channels[0]", "no keys"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems %q do not mention %q", p, want)
		}
	}
}
