package usage

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// Source is what the aggregator reads (*server.Server).
type Source interface {
	UsageAll() []server.UsageReport
	AppCounters() []server.AppCounter
	AppLimits(appID string) (config.Limits, bool)
	SetMonthMessages(appID string, total, mark int64)
}

var _ Source = (*server.Server)(nil)

// Aggregator flushes a node's usage to a store. Safe for concurrent use.
type Aggregator struct {
	src      Source
	st       store.Store
	node     string
	interval time.Duration
	log      *zap.Logger
	now      func() time.Time

	mu   sync.Mutex // serialises flushes; guards the fields below
	last map[string]server.UsageReport
	peak map[string]int64 // the most connections sampled per app since the last flush
}

// New returns an aggregator of src's usage into st every interval (config.MaxUsageFlushInterval
// when 0 or larger).
func New(src Source, st store.Store, node string, interval time.Duration, log *zap.Logger) *Aggregator {
	if interval <= 0 || interval > config.MaxUsageFlushInterval {
		interval = config.MaxUsageFlushInterval
	}
	return &Aggregator{
		src: src, st: st, node: node, interval: interval, log: log, now: time.Now,
		last: map[string]server.UsageReport{}, peak: map[string]int64{},
	}
}

// Run samples connections every second (for peaks) and flushes every interval until ctx ends.
// It does not flush at the end: the caller calls Flush once the server has closed its
// connections, so that their last seconds are counted.
func (a *Aggregator) Run(ctx context.Context) {
	sample := time.NewTicker(min(time.Second, a.interval))
	defer sample.Stop()
	flush := time.NewTicker(a.interval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sample.C:
			a.sample()
		case <-flush.C:
			if err := a.Flush(ctx); err != nil {
				a.log.Error("usage flush failed; retried at the next interval", zap.Error(err))
			}
		}
	}
}

func (a *Aggregator) sample() {
	counters := a.src.AppCounters()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range counters {
		a.peak[c.AppID] = max(a.peak[c.AppID], c.Connections)
	}
}

// Flush adds every app's usage since the previous flush to its current hour. When the store
// refuses, nothing is marked as flushed, so the next Flush carries it.
func (a *Aggregator) Flush(ctx context.Context) error {
	reports := a.src.UsageAll()
	now := a.now()
	hour := store.HourOf(now)
	a.mu.Lock()
	defer a.mu.Unlock()
	deltas := make([]store.Delta, 0, len(reports))
	for _, r := range reports {
		prev, ok := a.last[r.AppID]
		if !ok || !prev.Since.Equal(r.Since) {
			// The app is new to this process (or was removed and added again): its counters
			// started from zero.
			prev = server.UsageReport{}
		}
		d := store.Counters{
			ConnectionSeconds: r.ConnectionSeconds - prev.ConnectionSeconds,
			PeakConnections:   max(a.peak[r.AppID], r.Connections),
			MessagesIn:        r.MessagesIn - prev.MessagesIn,
			MessagesOut:       r.MessagesOut - prev.MessagesOut,
			BytesIn:           r.BytesIn - prev.BytesIn,
			BytesOut:          r.BytesOut - prev.BytesOut,
			Calls:             r.Calls - prev.Calls,
		}
		if !d.IsZero() {
			deltas = append(deltas, store.Delta{App: r.AppID, Hour: hour, Counters: d})
		}
	}
	if len(deltas) > 0 {
		if err := a.st.AddUsage(ctx, a.node, deltas); err != nil {
			return err
		}
	}
	clear(a.peak)
	// Rebuilt from this flush only, so that removed apps are forgotten.
	a.last = make(map[string]server.UsageReport, len(reports))
	for _, r := range reports {
		a.last[r.AppID] = r
	}
	a.updateMonths(ctx, reports, now)
	return nil
}

// updateMonths gives apps with limits.monthly_messages their month so far. Lock held.
func (a *Aggregator) updateMonths(ctx context.Context, reports []server.UsageReport, now time.Time) {
	month := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, r := range reports {
		lim, ok := a.src.AppLimits(r.AppID)
		if !ok || lim.MonthlyMessages <= 0 {
			continue
		}
		hours, err := a.st.Usage(ctx, r.AppID, month, month.AddDate(0, 1, 0))
		if err != nil {
			a.log.Warn("monthly usage not read; the quota uses the previous figure", zap.String("app_id", r.AppID), zap.Error(err))
			continue
		}
		var total int64
		for _, h := range hours {
			total += h.MessagesIn
		}
		a.src.SetMonthMessages(r.AppID, total, r.MessagesIn)
	}
}
