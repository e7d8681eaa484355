package engine

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
)

// scrape gathers reg's metrics: name → value (gauge or counter, no labels).
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%s: %d series, want 1", mf.GetName(), len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			out[mf.GetName()] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			out[mf.GetName()] = m.GetGauge().GetValue()
		default:
			t.Fatalf("%s: type %v", mf.GetName(), mf.GetType())
		}
	}
	return out
}

// TestRedisCollector scrapes the engine's collector against a real Redis: every Stats field
// is exported, and the values follow what the engine did (subscriptions, publications
// received, a reconnection).
func TestRedisCollector(t *testing.T) {
	rds := redistest.Start(t)
	e, rec := startRedisEngine(t, rds, "metrics")
	reg := prometheus.NewPedanticRegistry() // also checks Collect against Describe
	reg.MustRegister(e.Collector())

	got := scrape(t, reg)
	want := map[string]float64{
		"rtmate_engine_redis_connected":           1,
		"rtmate_engine_redis_reconnects_total":    0,
		"rtmate_engine_redis_errors_total":        0,
		"rtmate_engine_redis_channels":            0,
		"rtmate_engine_redis_received_total":      0,
		"rtmate_engine_redis_recovered_total":     0,
		"rtmate_engine_redis_lost_total":          0,
		"rtmate_engine_redis_epoch_resets_total":  0,
		"rtmate_engine_redis_epoch_notices_total": 0,
		"rtmate_engine_redis_duplicates_total":    0,
		"rtmate_engine_redis_dropped_total":       0,
		"rtmate_engine_redis_backlog":             0,
	}
	if len(got) != len(want) {
		t.Fatalf("scraped %v, want the %d metrics %v", got, len(want), want)
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}

	ctx := context.Background()
	a, b := ChannelKey{App: "app", Name: "a"}, ChannelKey{App: "app", Name: "b"}
	for _, ch := range []ChannelKey{a, b} {
		if err := e.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, e, a, 1, 3, HistoryOptions{Size: 10})
	rec.wait(t, a, 3)
	got = scrape(t, reg)
	if got["rtmate_engine_redis_channels"] != 2 || got["rtmate_engine_redis_received_total"] != 3 {
		t.Fatalf("after 2 subscriptions and 3 publications: %v", got)
	}

	killClients(t, rds, e.NodeID())
	waitStats(t, e, func(st Stats) bool { return st.Reconnects == 1 && st.Connected })
	got = scrape(t, reg)
	if got["rtmate_engine_redis_reconnects_total"] != 1 || got["rtmate_engine_redis_connected"] != 1 ||
		got["rtmate_engine_redis_errors_total"] < 1 || got["rtmate_engine_redis_channels"] != 2 {
		t.Fatalf("after a reconnection: %v", got)
	}
}
