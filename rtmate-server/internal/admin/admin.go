package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
	"github.com/rtmate/rtmate/rtmate-server/internal/usage"
)

// backend is what the admin API needs from the server (*server.Server).
type backend interface {
	usage.Source
	Reload(cfg *config.Config) error
	AppChannelCount(appID string) int
	Channels(appID, prefix string) ([]server.ChannelInfo, error)
	Presence(appID, channel string) ([]protocol.Member, error)
	PublishAPI(appID, channel string, data []byte) (uint64, error)
	Node() server.NodeFigures
	AllNodes(ctx context.Context) ([]server.NodeInfo, error)
	SetConsoleStatus(fn func() []byte)
	NodeID() string
	Handle(pattern string, h http.Handler)
}

var _ backend = (*server.Server)(nil)

// Options are the parts of the admin API that are not configuration.
type Options struct {
	// OnApply is told every configuration the server runs with after a change (webhooks
	// reload their apps with it).
	OnApply func(*config.Config)
	// Store replaces the store that the configuration selects (tests).
	Store store.Store
}

// Admin is the running admin API. Safe for concurrent use.
type Admin struct {
	srv     backend
	st      store.Store
	log     *zap.Logger
	onApply func(*config.Config)
	agg     *usage.Aggregator
	live    *live

	file   atomic.Pointer[config.Config] // the config file's configuration
	tokens atomic.Pointer[[]namedToken]

	mu   sync.Mutex // serialises changes; guards recs
	recs map[string]store.Record

	httpSrv   *http.Server // on admin.listen, nil on the main port
	addr      string
	cancel    context.CancelFunc
	stop      chan struct{} // closed by Close: streams end
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type namedToken struct {
	name string
	sum  [sha256.Size]byte
}

// Start opens the store, applies its apps to srv (before srv accepts anything, when called
// before Serve), starts usage aggregation and live figures, and serves the admin API and
// console on the main port or on admin.listen. It returns nil, nil when no admin token is
// configured: then /admin/ is not mounted and answers 404.
func Start(cfg *config.Config, srv *server.Server, log *zap.Logger, opts Options) (*Admin, error) {
	return start(cfg, srv, log, opts)
}

func start(cfg *config.Config, srv backend, log *zap.Logger, opts Options) (*Admin, error) {
	if !cfg.Admin.Enabled() {
		return nil, nil
	}
	st := opts.Store
	if st == nil {
		var err error
		if st, err = openStore(cfg); err != nil {
			return nil, err
		}
	}
	a := &Admin{srv: srv, st: st, log: log, onApply: opts.OnApply, recs: map[string]store.Record{}}
	if a.onApply == nil {
		a.onApply = func(*config.Config) {}
	}
	a.file.Store(cfg)
	a.setTokens(cfg)
	if err := a.load(context.Background()); err != nil {
		_ = st.Close() // the load error is the one to report
		return nil, err
	}
	a.agg = usage.New(srv, st, srv.NodeID(), cfg.Admin.UsageFlushInterval, log.Named("usage"))
	// A first flush (nothing to add yet) gives apps with monthly_messages their month so far
	// from the store before the first publication is accepted.
	if err := a.agg.Flush(context.Background()); err != nil {
		log.Warn("usage store not read at start; monthly quotas count this node only until the next flush", zap.Error(err))
	}
	a.live = newLive(srv)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.stop = make(chan struct{})
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.agg.Run(ctx) }()
	go func() { defer a.wg.Done(); a.live.run(ctx) }()
	// The console's node list rides on the engine's node registry: one record per node.
	srv.SetConsoleStatus(a.consoleStatus)
	if w, ok := st.(store.Watcher); ok {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.follow(ctx, w) }()
	}

	h := a.Handler()
	if cfg.Admin.Listen == "" {
		srv.Handle("/admin/", h)
		srv.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
		return a, nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		_ = a.Close(context.Background()) // the listen error is the one to report
		return nil, fmt.Errorf("admin: listen %s: %w", cfg.Admin.Listen, err)
	}
	a.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	mux.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	a.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: zap.NewStdLog(log.Named("http"))}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", zap.Error(err))
		}
	}()
	log.Info("admin API listening", zap.String("addr", a.addr))
	return a, nil
}

// openStore is the Redis engine's Redis when the engine is redis (every node sees the same
// apps and usage), else the Bolt file in data_dir.
func openStore(cfg *config.Config) (store.Store, error) {
	if cfg.Engine.Type == "redis" {
		return store.NewRedis(cfg.Engine.Redis)
	}
	return store.OpenBolt(cfg.DataDir)
}

func (a *Admin) done() <-chan struct{} { return a.stop }

// Addr is admin.listen's bound address, or "" on the main port.
func (a *Admin) Addr() string { return a.addr }

func (a *Admin) setTokens(cfg *config.Config) {
	all := cfg.Admin.AllTokens()
	ts := make([]namedToken, len(all))
	for i, t := range all {
		ts[i] = namedToken{name: t.Name, sum: sha256.Sum256([]byte(t.Token))}
	}
	a.tokens.Store(&ts)
}

// who returns the name of the token r carries, or "". Digests are compared, every one of
// them, in constant time: neither a token's length nor how much of it matches shows in the
// time taken.
func (a *Admin) who(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	name := ""
	for _, t := range *a.tokens.Load() {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 && name == "" {
			name = t.name
		}
	}
	return name
}

// ReloadFile applies a new config file (SIGHUP) together with the stored apps and returns the
// configuration the server now runs with.
func (a *Admin) ReloadFile(cfg *config.Config) (*config.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	merged, err := a.apply(cfg, a.recs)
	if err != nil {
		return nil, err
	}
	a.file.Store(cfg)
	a.setTokens(cfg)
	return merged, nil
}

// Close stops the admin listener and the background work, flushes usage a last time and
// closes the store. Call it after the server's Shutdown, so that the last connections'
// seconds are in the final flush.
func (a *Admin) Close(ctx context.Context) error {
	err := errors.New("admin: already closed")
	a.closeOnce.Do(func() { err = a.close(ctx) })
	return err
}

func (a *Admin) close(ctx context.Context) error {
	if a.stop != nil {
		close(a.stop)
	}
	if a.httpSrv != nil {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = a.httpSrv.Shutdown(sctx) // streams are cut; nothing else to do about them
		cancel()
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	var errs []error
	if a.agg != nil {
		if err := a.agg.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("admin: last usage flush: %w", err))
		}
	}
	if err := a.st.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
