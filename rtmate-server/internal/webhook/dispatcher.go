package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

var (
	_ server.Observer = (*Dispatcher)(nil)
	_ server.Hooks    = (*Dispatcher)(nil)
)

// Dispatcher sends the events of every app that has a webhook, and asks the apps' connect
// hooks. Create it with New, pass it to server.Options as Observer (or in a
// server.Observers list) and as Hooks, call Reload with every new configuration and Close
// after the server has shut down. Safe for concurrent use.
type Dispatcher struct {
	log      *zap.Logger
	idPrefix string
	seq      atomic.Uint64
	targets  atomic.Pointer[map[string]*target] // by app id; read on the event loop
	hookSem  chan struct{}                      // bounds connect hooks in flight (see hook.go)
	tune     tuning

	// root is cancelled when Close's deadline passes: every request in flight is aborted and
	// what is still queued is counted as dropped.
	root context.Context
	kill context.CancelFunc

	mu       sync.Mutex // serializes Reload and Close; guards the fields below
	counters map[string]*counters
	retiring map[*target]struct{}
	drainFor time.Duration // how long a retired target may keep delivering
	closed   bool
}

// tuning holds what tests shorten.
type tuning struct {
	backoffBase time.Duration // first retry delay (before jitter); doubles per retry
	backoffMax  time.Duration
}

var defaultTuning = tuning{backoffBase: 500 * time.Millisecond, backoffMax: 30 * time.Second}

// New returns a dispatcher for cfg's apps; delivery goroutines start for every app with a
// webhook URL.
func New(cfg *config.Config, log *zap.Logger) *Dispatcher {
	return newDispatcher(cfg, log, defaultTuning)
}

func newDispatcher(cfg *config.Config, log *zap.Logger, tune tuning) *Dispatcher {
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	workers := cfg.Workers
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0) // the server's default pool size
	}
	d := &Dispatcher{
		log:      log.Named("webhook"),
		idPrefix: hex.EncodeToString(id[:]),
		hookSem:  make(chan struct{}, max(1, workers/2)),
		tune:     tune,
		counters: make(map[string]*counters),
		retiring: make(map[*target]struct{}),
	}
	d.root, d.kill = context.WithCancel(context.Background())
	empty := map[string]*target{}
	d.targets.Store(&empty)
	d.Reload(cfg)
	return d
}

// Reload applies a new configuration (SIGHUP). Changes of url, secret, events, timeouts,
// retries, batch size and the connect hook apply to the next request, queued events
// included. A change of workers or queue_size, or a webhook URL that appears, starts new
// queues; the old ones are still delivered (for at most the config's shutdown_timeout) in
// the background. Apps removed, or whose webhook is removed, have their queues delivered the
// same way. Reload after Close does nothing.
func (d *Dispatcher) Reload(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.drainFor = cfg.ShutdownTimeout
	if d.drainFor <= 0 {
		d.drainFor = 10 * time.Second
	}
	old := *d.targets.Load()
	next := make(map[string]*target, len(cfg.Apps))
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if a.Webhook == nil {
			continue
		}
		w := a.Webhook.WithDefaults()
		if t := old[a.ID]; t != nil && t.sameShape(&w) {
			prev := t.set.Swap(newSettings(&w, a.Pusher, d.hookConns()))
			prev.client.CloseIdleConnections()
			next[a.ID] = t
			continue
		}
		next[a.ID] = d.newTarget(a.ID, &w, a.Pusher)
	}
	d.targets.Store(&next)
	for id, t := range old {
		if next[id] != t {
			d.retire(t)
		}
	}
}

// Close stops accepting events and delivers what is queued (retries included) until ctx is
// done; then it aborts what is in flight, counts what is left as dropped and returns an
// error. Call it after the server's Shutdown, so that the disconnects it causes are sent.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var all []*target
	for _, t := range *d.targets.Load() {
		all = append(all, t)
	}
	for t := range d.retiring {
		all = append(all, t)
	}
	d.mu.Unlock()

	for _, t := range all {
		t.stop()
	}
	done := make(chan struct{})
	go func() {
		for _, t := range all {
			t.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		d.kill()
		return nil
	case <-ctx.Done():
	}
	before := d.dropped()
	d.kill()
	<-done
	lost := d.dropped() - before
	d.log.Warn("webhook queues not flushed before the shutdown deadline", zap.Uint64("dropped", lost))
	return fmt.Errorf("webhook: close: %d events not delivered: %w", lost, ctx.Err())
}

// AppStats are one app's webhook counters since the process started (they survive reloads).
// Sent, Failed, Retried and Dropped count events: Sent got a 2xx; Failed were given up (a
// 4xx other than 408/429, a redirect, a denied address, or retries exhausted); Retried
// counts re-sends; Dropped were pushed out of a full queue or abandoned at Close's or a
// reload's deadline. Queued is how many wait now. The Hook fields count connect hook calls
// (connects and subscribes): Rejected got a 403, Errors failed (timeout, network, status,
// bad reply, too many hooks in flight) and took the fallback.
type AppStats struct {
	App          string
	Sent         uint64
	Failed       uint64
	Retried      uint64
	Dropped      uint64
	Queued       int64
	HookCalls    uint64
	HookRejected uint64
	HookErrors   uint64
}

// Stats returns every app's counters, sorted by app id: every app that had a webhook since
// the process started.
func (d *Dispatcher) Stats() []AppStats {
	d.mu.Lock()
	out := make([]AppStats, 0, len(d.counters))
	for app, c := range d.counters {
		out = append(out, c.snapshot(app))
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b AppStats) int { return strings.Compare(a.App, b.App) })
	return out
}

func (d *Dispatcher) dropped() uint64 {
	var n uint64
	for _, s := range d.Stats() {
		n += s.Dropped
	}
	return n
}

// counters are an app's statistics, shared by its successive targets.
type counters struct {
	sent, failed, retried, dropped      atomic.Uint64
	queued                              atomic.Int64
	hookCalls, hookRejected, hookErrors atomic.Uint64
}

func (c *counters) snapshot(app string) AppStats {
	return AppStats{
		App: app, Sent: c.sent.Load(), Failed: c.failed.Load(), Retried: c.retried.Load(),
		Dropped: c.dropped.Load(), Queued: c.queued.Load(), HookCalls: c.hookCalls.Load(),
		HookRejected: c.hookRejected.Load(), HookErrors: c.hookErrors.Load(),
	}
}

// lookup returns app's target and its current settings, or nils. Event loop: two atomic
// loads and a map read.
func (d *Dispatcher) lookup(app string) (*target, *settings) {
	t := (*d.targets.Load())[app]
	if t == nil {
		return nil, nil
	}
	return t, t.set.Load()
}

// hookConns is how many connections a target's HTTP client keeps idle per host.
func (d *Dispatcher) hookConns() int { return cap(d.hookSem) }

// Lock should be held.
func (d *Dispatcher) newTarget(app string, w *config.Webhook, p *config.Pusher) *target {
	c := d.counters[app]
	if c == nil {
		c = new(counters)
		d.counters[app] = c
	}
	t := &target{d: d, app: app, stats: c, stopped: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(d.root)
	t.set.Store(newSettings(w, p, d.hookConns()))
	if w.URL != "" {
		t.queueSize, t.workers = w.QueueSize, w.Workers
		per := (w.QueueSize + w.Workers - 1) / w.Workers
		t.shards = make([]*shard, w.Workers)
		for i := range t.shards {
			t.shards[i] = newShard(t, max(1, per))
		}
		t.wg.Add(len(t.shards))
		for _, s := range t.shards {
			go s.run()
		}
	}
	return t
}

// retire lets t deliver what it has queued for at most drainFor, then aborts it. Lock
// should be held.
func (d *Dispatcher) retire(t *target) {
	d.retiring[t] = struct{}{}
	t.stop()
	limit := d.drainFor
	go func() {
		timer := time.AfterFunc(limit, t.cancel)
		t.wg.Wait()
		timer.Stop()
		t.cancel()
		t.set.Load().client.CloseIdleConnections()
		d.mu.Lock()
		delete(d.retiring, t)
		d.mu.Unlock()
	}()
}

// settings are an app's webhook configuration resolved for use; replaced whole on reload.
type settings struct {
	url, hookURL string
	secret       []byte
	mask         uint16 // 1<<kind for every kind sent
	// pusherKey and pusherSecret are set for a webhook of format pusher (pusher_format.go).
	pusherKey, pusherSecret string
	timeout, hookTimeout    time.Duration
	maxRetries, batch       int
	failOpen                bool
	client                  *http.Client
}

func newSettings(w *config.Webhook, p *config.Pusher, hookConns int) *settings {
	s := &settings{
		url: w.URL, hookURL: w.ConnectHook, secret: []byte(w.Secret),
		timeout: w.Timeout, hookTimeout: w.HookTimeout, maxRetries: w.MaxRetries, batch: w.BatchSize,
		failOpen: w.HookFailOpen,
		client:   newClient(w.DenyPrivate, w.Workers+hookConns),
	}
	if w.Format == config.WebhookFormatPusher && p != nil {
		s.pusherKey, s.pusherSecret = p.Key, p.Secret
	}
	if w.URL != "" {
		for _, e := range w.Events {
			if k, ok := parseKind(e); ok {
				s.mask |= 1 << k
			}
		}
	}
	return s
}

func (s *settings) sends(k kind) bool { return s.mask&(1<<k) != 0 }

// target is one app's webhook: its settings, its queue shards and their workers.
type target struct {
	d       *Dispatcher
	app     string
	set     atomic.Pointer[settings]
	shards  []*shard // nil when the app has no webhook URL (connect hook only)
	stats   *counters
	ctx     context.Context // cancelled to abort delivery
	cancel  context.CancelFunc
	stopped chan struct{} // closed to let the workers exit once their queues are empty
	stopMu  sync.Once
	wg      sync.WaitGroup

	queueSize, workers int // the shape; changing it needs new shards

	dropLogAt atomic.Int64 // Unix nanos of the last "queue full" log line
	failLogAt atomic.Int64 // Unix nanos of the last delivery failure log line
	hookLogAt atomic.Int64
}

func (t *target) sameShape(w *config.Webhook) bool {
	if t.shards == nil {
		return w.URL == ""
	}
	return w.URL != "" && w.QueueSize == t.queueSize && w.Workers == t.workers
}

func (t *target) stop() { t.stopMu.Do(func() { close(t.stopped) }) }

// shard returns the queue shard of a client: always the same one, so that its events stay
// in order.
func (t *target) shard(clientID string) *shard {
	if len(t.shards) == 1 {
		return t.shards[0]
	}
	// FNV-1a: inlined, no allocation on the event loop.
	h := uint32(2166136261)
	for i := 0; i < len(clientID); i++ {
		h ^= uint32(clientID[i])
		h *= 16777619
	}
	return t.shards[h%uint32(len(t.shards))]
}

// every reports whether a rate-limited log line may be written now (at most one per second
// per kind of line and app), so that a dead backend does not flood the log.
func every(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(time.Second) && last.CompareAndSwap(prev, now)
}
