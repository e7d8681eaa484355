package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// DefaultWriteCoalesce is write_coalesce when the file does not set it: on a saturated node it
// multiplies the pushes per write several times, and it never holds a connection that keeps
// up, whose pushes go out at once.
const DefaultWriteCoalesce = 10 * time.Millisecond

// maxWriteCoalesce bounds write_coalesce: beyond it, latency is what a client sees first.
const maxWriteCoalesce = time.Second

// Config is the whole server configuration. Zero values mean the documented defaults.
type Config struct {
	// Listen is the TCP address for WebSocket and HTTP. Default "127.0.0.1:3000".
	Listen string `yaml:"listen"`
	// Development enables the /dev/token endpoint and the /demo page. It is on, with the
	// built-in demo-app, when the server starts without a config file.
	Development bool `yaml:"development"`
	// ConformanceEcho serves GET /ws/echo for RFC 6455 conformance suites. Never on by default.
	ConformanceEcho bool `yaml:"conformance_echo"`
	// Pprof serves /debug/pprof/ on the same port. Off by default.
	Pprof bool `yaml:"pprof"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Workers is the size of the pool that reads, dispatches and writes. Default GOMAXPROCS
	// (at least 2), or 4×GOMAXPROCS when an app has a synchronous connect hook.
	Workers int `yaml:"workers"`
	// HandshakeTimeout bounds the HTTP upgrade request. Default 5s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// PingInterval is how long a connection may be silent before the server pings it. Default 25s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// PongTimeout closes a connection that sent nothing (no pong, no frame, not a byte) for
	// this long after the server's ping: with the defaults a stalled peer is cut off about
	// 35 s after its last byte, whatever its frame reader was in the middle of. Default 10s.
	PongTimeout time.Duration `yaml:"pong_timeout"`
	// IdleTimeout closes a connection from which nothing (not even a pong) arrived for this
	// long: it is dead or half-open. Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteCoalesce is how long a connection whose last write carried a backlog (several
	// pushes) waits before its next write, so that a busy node writes many pushes per system
	// call instead of a few. A connection that is keeping up (one push per write) is never held.
	// 0s turns it off. Default 10ms (docs/performance.md, "Write coalescing").
	WriteCoalesce *time.Duration `yaml:"write_coalesce"`
	// ShutdownTimeout bounds draining outbound queues on SIGTERM. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Defaults are the limits of apps that do not set their own.
	Defaults Limits `yaml:"defaults"`
	// Engine selects the broker/presence/history engine. Default memory.
	Engine Engine `yaml:"engine"`
	// Drain times a node's drain (POST /admin/drain, SIGUSR1); see drain.go.
	Drain Drain `yaml:"drain"`
	// Apps are the tenants.
	Apps []App `yaml:"apps"`
	// Admin configures the admin API and console (admin.go).
	Admin Admin `yaml:"admin"`
	// DataDir holds the embedded store of apps created through the admin API and of usage.
	// Default ./rtmate-data (RTMATE_DATA_DIR).
	DataDir string `yaml:"data_dir"`

	// Dir is the config file's directory, for relative key paths.
	Dir string `yaml:"-"`
}

// Log configures zap.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json, console in development.
	Format string `yaml:"format"`
}

// Engine selects where channels, presence and history live.
type Engine struct {
	// Type is memory (default, one node) or redis (several nodes).
	Type  string `yaml:"type"`
	Redis Redis  `yaml:"redis"`
}

// Redis is the redis engine's connection: a standalone Redis (Address), a Redis Cluster
// (Cluster with Addresses) or a master found through Sentinel (Sentinel); see redis.go.
type Redis struct {
	Address string `yaml:"address"`
	// Cluster selects Redis Cluster mode; Addresses are its seed nodes.
	Cluster   bool      `yaml:"cluster"`
	Addresses []string  `yaml:"addresses"`
	Sentinel  *Sentinel `yaml:"sentinel"`
	Password  string    `yaml:"password"`
	DB        int       `yaml:"db"`
	TLS       bool      `yaml:"tls"`
	KeyPrefix string    `yaml:"key_prefix"`
	// PresenceTTL is how long a dead node's members stay listed. Default 30s.
	PresenceTTL time.Duration `yaml:"presence_ttl"`
}

// App is one tenant: its auth keys (inlined from rtmate-auth) plus server-side settings.
type App struct {
	auth.AppConfig `yaml:",inline"`
	// APIKey authenticates the HTTP server API (Authorization: Bearer). Empty disables the API
	// for this app.
	APIKey string `yaml:"api_key"`
	// APIKeys are further API keys, all valid at once: how API keys are rotated.
	APIKeys []string `yaml:"api_keys"`
	// PresenceChannels are extra patterns ("room-*", exact names) of presence channels besides
	// the presence- prefix.
	PresenceChannels []string `yaml:"presence_channels"`
	// Limits override Defaults field by field.
	Limits Limits `yaml:"limits"`
	// Webhook sends the app's events to its backend.
	Webhook *Webhook `yaml:"webhook"`
	// Scripts are sandboxed Lua and Wasm hooks (see scripts.go and docs/scripts.md).
	Scripts []Script `yaml:"scripts"`
	// Pusher enables the Pusher Channels protocol for the app (see pusher.go). Nil: /app/{key}
	// refuses with 4001 and the Pusher HTTP API answers 404.
	Pusher *Pusher `yaml:"pusher"`
}

// Load reads and validates the file at path, then applies environment overrides.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.Dir = filepath.Dir(path)
	return cfg, nil
}

// Parse decodes YAML strictly, applies the environment and validates.
func Parse(raw []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decode yaml: %w", err)
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Dev is the configuration used without a file: one development app, demo-app, whose secret
// is public. The server logs a warning when it runs with it.
func Dev() *Config {
	cfg := &Config{
		Development: true,
		Apps: []App{{
			AppConfig: auth.DevAppConfig(),
			APIKey:    auth.DevAPIKey,
			Limits:    Limits{HistorySize: 100},
			Pusher:    &Pusher{Key: DevPusherKey, Secret: DevPusherSecret, ClientEvents: true},
		}},
	}
	if err := cfg.finish(); err != nil {
		panic(fmt.Sprintf("config: the built-in development config is invalid: %v", err))
	}
	return cfg
}

func (c *Config) finish() error {
	c.applyEnv()
	c.setDefaults()
	return c.Validate()
}

// applyEnv lets containers and scripts override the common keys without a file.
func (c *Config) applyEnv() {
	if v := os.Getenv("RTMATE_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := os.Getenv("RTMATE_LOG_LEVEL"); v != "" {
		c.Log.Level = v
	}
	if v := os.Getenv("RTMATE_LOG_FORMAT"); v != "" {
		c.Log.Format = v
	}
	if v := os.Getenv("RTMATE_REDIS_ADDRESS"); v != "" {
		c.Engine.Type, c.Engine.Redis.Address = "redis", v
	}
	c.applyAdminEnv()
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:3000"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
		if c.Development {
			c.Log.Format = "console"
		}
	}
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.PingInterval, 25*time.Second)
	def(&c.PongTimeout, 10*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	if c.WriteCoalesce == nil {
		d := DefaultWriteCoalesce
		c.WriteCoalesce = &d
	}
	def(&c.Drain.Grace, 5*time.Second)
	def(&c.Drain.Timeout, 30*time.Second)
	if c.Engine.Type == "" {
		c.Engine.Type = "memory"
	}
	def(&c.Engine.Redis.PresenceTTL, 30*time.Second)
	if c.Engine.Redis.KeyPrefix == "" {
		c.Engine.Redis.KeyPrefix = "rtmate:"
	}
	c.Defaults = c.Defaults.Merge(BuiltinLimits)
	c.setAdminDefaults()
}

var appIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// Validate reports every problem of a configuration, joined (errors.Join), or nil. It does
// not read key files; Check does.
func (c *Config) Validate() error { return errors.Join(c.problems()...) }

// problems lists every problem Validate reports, in the order of the file.
func (c *Config) problems() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Apps) == 0 && !c.Admin.Enabled() {
		add("no apps configured (and no admin token to create them with)")
	}
	if err := c.Admin.validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.Engine.Type {
	case "memory":
	case "redis":
		if err := c.Engine.Redis.validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		add("engine.type %q: want memory or redis", c.Engine.Type)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen %q: want host:port", c.Listen)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Engine.Redis.DB < 0 {
		add("engine.redis.db must not be negative")
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format %q: want json or console", c.Log.Format)
	}
	if c.Workers < 0 {
		add("workers must not be negative (0: the default)")
	}
	if wc := c.WriteCoalesce; wc != nil && (*wc < 0 || *wc > maxWriteCoalesce) {
		add("write_coalesce %v: want 0s (off) to %v", *wc, maxWriteCoalesce)
	}
	errs = append(errs, negative(
		keyDuration{"handshake_timeout", c.HandshakeTimeout}, keyDuration{"ping_interval", c.PingInterval},
		keyDuration{"pong_timeout", c.PongTimeout}, keyDuration{"idle_timeout", c.IdleTimeout}, keyDuration{"shutdown_timeout", c.ShutdownTimeout},
		keyDuration{"engine.redis.presence_ttl", c.Engine.Redis.PresenceTTL})...)
	if c.PingInterval >= c.IdleTimeout && c.IdleTimeout > 0 {
		// A connection would be closed as idle before it was ever pinged.
		add("ping_interval (%v) must be shorter than idle_timeout (%v)", c.PingInterval, c.IdleTimeout)
	}
	seen := make(map[string]bool, len(c.Apps))
	keys := make(map[string]bool, len(c.Apps))
	for i := range c.Apps {
		a := &c.Apps[i]
		if !appIDPattern.MatchString(a.ID) {
			add("apps[%d].id %q: want 1-64 characters of [A-Za-z0-9_.-]", i, a.ID)
		} else if seen[a.ID] {
			add("apps[%d].id %q: duplicate", i, a.ID)
		}
		seen[a.ID] = true
		for _, k := range a.AllAPIKeys() {
			// The HTTP API finds the app by its key alone.
			if keys[k] {
				add("apps[%d] (%s).api_key: the same key as another app", i, a.ID)
			}
			keys[k] = true
		}
		for _, err := range a.Limits.problems() {
			add("apps[%d] (%s).limits: %w", i, a.ID, err)
		}
		if err := validateScripts(a.Scripts); err != nil {
			add("apps[%d] (%s).%w", i, a.ID, err)
		}
		if a.Webhook != nil {
			if err := a.Webhook.validate(); err != nil {
				add("apps[%d] (%s).webhook: %w", i, a.ID, err)
			}
		}
	}
	if err := c.validatePusher(); err != nil {
		errs = append(errs, err)
	}
	for _, err := range c.Defaults.problems() {
		add("defaults: %w", err)
	}
	return errs
}

// AppLimits returns app's limits with every unset field taken from the defaults.
func (c *Config) AppLimits(a *App) Limits { return a.Limits.Merge(c.Defaults) }
