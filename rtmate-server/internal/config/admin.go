package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// Admin configures the admin API (/admin/api/) and the admin console (/admin/). Both are off
// (404) unless at least one token is configured. docs/admin.md describes them.
type Admin struct {
	// Token is one admin bearer token, named "admin" in the change log. RTMATE_ADMIN_TOKEN
	// sets it too.
	Token string `yaml:"token"`
	// Tokens are further named tokens, so that the change log says who changed what.
	Tokens []AdminToken `yaml:"tokens"`
	// Listen serves the admin API and console on their own address instead of the main port.
	// Empty: on the main port.
	Listen string `yaml:"listen"`
	// UsageFlushInterval is how often usage counters are written to the store. Default 10s, at
	// most 10s: a crash loses at most this much usage.
	UsageFlushInterval time.Duration `yaml:"usage_flush_interval"`
}

// AdminToken is one named admin token.
type AdminToken struct {
	// Name is who the token belongs to, as the change log shows it.
	Name string `yaml:"name"`
	// Token is the bearer token; at least 16 characters.
	Token string `yaml:"token"`
}

// DefaultDataDir is where the embedded store lives when data_dir is not set.
const DefaultDataDir = "./rtmate-data"

// MaxUsageFlushInterval bounds admin.usage_flush_interval (the "at least every 10 s").
const MaxUsageFlushInterval = 10 * time.Second

// minAdminTokenLen refuses admin tokens that can be guessed.
const minAdminTokenLen = 16

// Enabled reports whether any admin token is configured.
func (a *Admin) Enabled() bool { return len(a.AllTokens()) > 0 }

// AllTokens returns the configured tokens, Token first (named "admin").
func (a *Admin) AllTokens() []AdminToken {
	var out []AdminToken
	if a.Token != "" {
		out = append(out, AdminToken{Name: "admin", Token: a.Token})
	}
	return append(out, a.Tokens...)
}

func (c *Config) applyAdminEnv() {
	if v := os.Getenv("RTMATE_ADMIN_TOKEN"); v != "" {
		c.Admin.Token = v
	}
	if v := os.Getenv("RTMATE_ADMIN_LISTEN"); v != "" {
		c.Admin.Listen = v
	}
	if v := os.Getenv("RTMATE_DATA_DIR"); v != "" {
		c.DataDir = v
	}
}

func (c *Config) setAdminDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Admin.UsageFlushInterval == 0 {
		c.Admin.UsageFlushInterval = MaxUsageFlushInterval
	}
}

func (a *Admin) validate() error {
	var errs []error
	names := map[string]bool{}
	for i, t := range a.AllTokens() {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("admin.tokens[%d]: name is required", i))
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("admin.tokens[%d]: duplicate name %q", i, t.Name))
		}
		names[t.Name] = true
		if len(t.Token) < minAdminTokenLen {
			errs = append(errs, fmt.Errorf("admin token %q: at least %d characters", t.Name, minAdminTokenLen))
		}
	}
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			errs = append(errs, fmt.Errorf("admin.listen %q: %w", a.Listen, err))
		}
	}
	if a.UsageFlushInterval < 0 || a.UsageFlushInterval > MaxUsageFlushInterval {
		errs = append(errs, fmt.Errorf("admin.usage_flush_interval must be between 1ms and %v", MaxUsageFlushInterval))
	}
	return errors.Join(errs...)
}

// AppProblems lists every problem of one app, as the admin API reports them (400 with the
// list): the same checks Validate makes, plus building its keys as the server will. dir
// resolves relative key file paths.
func AppProblems(a *App, dir string) []string {
	var out []string
	if !appIDPattern.MatchString(a.ID) {
		out = append(out, fmt.Sprintf("id %q: want 1-64 characters of [A-Za-z0-9_.-]", a.ID))
	}
	for _, err := range a.Limits.problems() {
		out = append(out, "limits."+err.Error())
	}
	if a.Webhook != nil {
		if err := a.Webhook.validate(); err != nil {
			out = append(out, "webhook: "+err.Error())
		}
	}
	if err := validateScripts(a.Scripts); err != nil {
		out = append(out, err.Error())
	}
	keys := a.AllAPIKeys()
	for i, k := range keys {
		if len(k) < minAdminTokenLen {
			out = append(out, fmt.Sprintf("api_keys[%d]: at least %d characters", i, minAdminTokenLen))
		}
		if slices.Contains(keys[:i], k) {
			out = append(out, fmt.Sprintf("api_keys[%d]: listed twice", i))
		}
	}
	for i, p := range a.PresenceChannels {
		if p == "" || len(p) > 255 || strings.ContainsAny(p, " \t\r\n") {
			out = append(out, fmt.Sprintf("presence_channels[%d] %q: want a channel name or a prefix* pattern", i, p))
		}
	}
	ac := a.AppConfig
	if ac.ID == "" {
		ac.ID = "app"
	}
	if _, err := auth.NewRegistry([]auth.AppConfig{ac}, auth.Options{Dir: dir}); err != nil {
		out = append(out, strings.TrimPrefix(err.Error(), "auth config: "))
	}
	return out
}

// AllAPIKeys returns APIKey (when set) followed by APIKeys.
func (a *App) AllAPIKeys() []string {
	var out []string
	if a.APIKey != "" {
		out = append(out, a.APIKey)
	}
	return append(out, a.APIKeys...)
}

// ValidAppID reports whether id is a possible app id (1-64 characters of [A-Za-z0-9_.-]).
func ValidAppID(id string) bool { return appIDPattern.MatchString(id) }
