package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Registry holds the apps the server accepts and validates their connection tokens. It is
// immutable after NewRegistry and safe for concurrent use; on a config reload the server
// builds a new Registry and swaps it in whole (e.g. through an atomic.Pointer).
type Registry struct {
	apps map[string]*App
	list []*App // sorted by ID
}

// App is one configured app: its verification keys, origin policy and clock. It is immutable
// and safe for concurrent use.
type App struct {
	// ID is the app id.
	ID string

	keys    [numAlgs][]*verifyKey // by algorithm: the header's alg only selects a list
	nkeys   int
	origins originSet
	leeway  time.Duration
	now     func() time.Time
}

// NewRegistry validates apps and prepares their keys. Every problem is reported with the
// app and key it concerns: an empty or duplicate id, an app without keys, unreadable or bad
// PEM/JWKS, a key that does not fit its alg, a bad allowed_origins entry. Key files are read
// here, once; Validate never touches the file system.
func NewRegistry(apps []AppConfig, opts Options) (*Registry, error) {
	r := &Registry{apps: make(map[string]*App, len(apps))}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var errs []error
	for i, ac := range apps {
		if ac.ID == "" {
			errs = append(errs, fmt.Errorf("apps[%d]: id is empty", i))
			continue
		}
		if _, dup := r.apps[ac.ID]; dup {
			errs = append(errs, fmt.Errorf("apps[%d]: duplicate app id %q", i, ac.ID))
			continue
		}
		a, err := newApp(ac, opts.Dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %q: %w", ac.ID, err))
			continue
		}
		a.leeway, a.now = opts.leeway(), now
		r.apps[a.ID] = a
		r.list = append(r.list, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	slices.SortFunc(r.list, func(x, y *App) int { return strings.Compare(x.ID, y.ID) })
	return r, nil
}

func newApp(ac AppConfig, dir string) (*App, error) {
	keys, err := loadKeys(ac, dir)
	if err != nil {
		return nil, err
	}
	a := &App{ID: ac.ID, nkeys: len(keys)}
	for _, k := range keys {
		a.keys[k.alg] = append(a.keys[k.alg], k)
	}
	if a.origins, err = parseOrigins(ac.AllowedOrigins); err != nil {
		return nil, err
	}
	return a, nil
}

// App returns the app with the given id.
func (r *Registry) App(id string) (*App, bool) {
	a, ok := r.apps[id]
	return a, ok
}

// Apps returns every app, sorted by id. The slice is the caller's.
func (r *Registry) Apps() []*App { return slices.Clone(r.list) }

// Validate checks token for the app appID (the auth payload's appId) and returns its claims.
// The error is always a *protocol.RtWsError whose Code is the contract's answer and whose
// Cause wraps one of the Err* sentinels with details for logs. See the package doc for the
// order of the checks.
func (r *Registry) Validate(appID string, token []byte) (*protocol.Claims, error) {
	a, ok := r.apps[appID]
	if !ok {
		return nil, protocol.Errorf(protocol.AppNotFound, "%w %q", ErrUnknownApp, clip(appID))
	}
	return a.Validate(token)
}

// Algorithms lists the algorithms the app accepts, in a fixed order.
func (a *App) Algorithms() []string {
	var out []string
	for al := algHS256; al < numAlgs; al++ {
		if len(a.keys[al]) > 0 {
			out = append(out, al.String())
		}
	}
	return out
}

// OriginAllowed reports whether a WebSocket upgrade with this Origin header may proceed. An
// empty origin is allowed: browsers always send one, so only non-browser clients (which an
// Origin check cannot restrict anyway) arrive without it.
func (a *App) OriginAllowed(origin string) bool { return a.origins.allowed(origin) }

// ChannelAllowed reports whether a token's channels claim permits channel. nil means every
// channel; a non-nil empty list means none; entries are exact names or "prefix*" patterns
// (protocol.MatchPattern).
func ChannelAllowed(patterns []string, channel string) bool {
	if patterns == nil {
		return true
	}
	for _, p := range patterns {
		if protocol.MatchPattern(p, channel) {
			return true
		}
	}
	return false
}

// clip bounds attacker-chosen text quoted into error causes (which end up in logs).
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
