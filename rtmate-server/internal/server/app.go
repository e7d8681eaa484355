package server

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/script"
)

// appState is one app as the running server sees it: its config, resolved limits and keys.
// A reload builds new appStates; Usage survives reloads because it is shared by pointer.
type appState struct {
	cfg      config.App
	auth     *auth.App
	limits   config.Limits
	presence []string
	history  engine.HistoryOptions
	usage    *Usage
	pub      *sharedBucket // the app-wide publish rate, nil when unlimited
	scripts  *script.Set   // nil without scripts; set by Server.loadScripts
}

// appSet is an immutable snapshot of every app; the server swaps it on reload.
type appSet struct {
	reg  *auth.Registry
	apps map[string]*appState
	keys map[[32]byte]string // SHA-256 of api_key → app id (see AppByAPIKey)
	// pusher finds an app by its Pusher key (pusher_api.go).
	pusher map[string]*appState
}

func buildApps(cfg *config.Config, prev *appSet) (*appSet, error) {
	acs := make([]auth.AppConfig, len(cfg.Apps))
	for i := range cfg.Apps {
		acs[i] = cfg.Apps[i].AppConfig
	}
	reg, err := auth.NewRegistry(acs, auth.Options{Dir: cfg.Dir})
	if err != nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	set := &appSet{reg: reg, apps: make(map[string]*appState, len(cfg.Apps)), keys: make(map[[32]byte]string), pusher: make(map[string]*appState)}
	for i := range cfg.Apps {
		ac := cfg.Apps[i]
		a, _ := reg.App(ac.ID)
		st := &appState{
			cfg:      ac,
			auth:     a,
			limits:   cfg.AppLimits(&ac),
			presence: ac.PresenceChannels,
		}
		st.history = engine.HistoryOptions{Size: st.limits.HistorySize, TTLSeconds: int64(st.limits.HistoryTTL / time.Second)}
		if old := prev.app(ac.ID); old != nil {
			st.usage = old.usage
		} else {
			st.usage = &Usage{Since: time.Now()}
		}
		for _, k := range ac.AllAPIKeys() {
			set.keys[sha256.Sum256([]byte(k))] = ac.ID
		}
		if r := st.limits.MaxPublishRate; r > 0 {
			st.pub = &sharedBucket{rate: r, burst: max(1, int(r))}
		}
		set.apps[ac.ID] = st
		if ac.Pusher != nil {
			set.pusher[ac.Pusher.Key] = st
		}
	}
	return set, nil
}

func (s *appSet) app(id string) *appState {
	if s == nil {
		return nil
	}
	return s.apps[id]
}

// isPresence reports whether channel tracks members: the presence- prefix or a configured pattern.
func (a *appState) isPresence(channel string) bool {
	if strings.HasPrefix(channel, protocol.PresencePrefix) {
		return true
	}
	for _, p := range a.presence {
		if protocol.MatchPattern(p, channel) {
			return true
		}
	}
	return false
}

// Usage is what an app consumed, for billing and /api/usage. Safe for concurrent use.
type Usage struct {
	Connections     atomic.Int64 // current authenticated connections
	ConnectionsPeak atomic.Int64
	ConnSeconds     atomic.Int64 // connection-seconds of closed connections
	MessagesIn      atomic.Int64 // messages published (WebSocket and API)
	MessagesOut     atomic.Int64 // pushes delivered
	BytesIn         atomic.Int64
	BytesOut        atomic.Int64
	// Calls counts rpc and script invocations (the scripting engine adds to it).
	Calls atomic.Int64
	// Since is when the counters started: when the process started with the app, or the reload
	// that added it (an app removed and added again starts from zero).
	Since time.Time

	connSecondsSeen atomic.Int64 // the largest connection-seconds reported, so reports never go back
	month           monthCount   // for limits.monthly_messages (admin_methods.go)
}

func (u *Usage) connected() int64 {
	n := u.Connections.Add(1)
	for {
		peak := u.ConnectionsPeak.Load()
		if n <= peak || u.ConnectionsPeak.CompareAndSwap(peak, n) {
			return n
		}
	}
}

// sharedBucket is a token bucket shared by all connections of an app.
type sharedBucket struct {
	mu    sync.Mutex
	b     bucket
	rate  float64
	burst int
}

func (s *sharedBucket) allow(now int64) bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.allow(now, s.rate, s.burst)
}

func (s *sharedBucket) allowN(now int64, n int) bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.allowN(now, s.rate, s.burst, n)
}

// minSecretLen is the shortest HS256 secret that is not a warning: RFC 7518 §3.2 asks for a key
// at least as long as the hash output (32 bytes).
const minSecretLen = 32

// weakSecrets names the apps whose HS256 secrets are shorter than minSecretLen. The
// development app is exempt: its secret is public by design.
func weakSecrets(cfg *config.Config) []string {
	var weak []string
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if cfg.Development && a.ID == auth.DevAppID {
			continue
		}
		short := a.Secret != "" && len(a.Secret) < minSecretLen
		for _, k := range a.Keys {
			short = short || k.Secret != "" && len(k.Secret) < minSecretLen
		}
		if short {
			weak = append(weak, a.ID)
		}
	}
	return weak
}
