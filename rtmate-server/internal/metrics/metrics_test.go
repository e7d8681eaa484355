package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

type fakeSource struct {
	stats server.Stats
	usage []server.UsageReport
}

func (f *fakeSource) Stats() server.Stats            { return f.stats }
func (f *fakeSource) UsageAll() []server.UsageReport { return f.usage }

func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.Metric {
		for k, v := range labels {
			found := false
			for _, lp := range m.Label {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		if m.Histogram != nil {
			return float64(m.Histogram.GetSampleCount())
		}
		return m.Gauge.GetValue()
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestScrapeBeforeSetSource: the handler works before the server exists (runtime metrics
// and the observer's counters), and the scrape-time families appear once it does.
func TestScrapeBeforeSetSource(t *testing.T) {
	m := New()
	fams := scrape(t, m)
	if fams["go_goroutines"] == nil || fams["rtmate_connections_accepted_total"] == nil {
		t.Fatal("runtime or observer families missing")
	}
	if fams["rtmate_connections"] != nil {
		t.Fatal("rtmate_connections without a source")
	}
	src := &fakeSource{
		stats: server.Stats{Connections: 7, Channels: 3, Subscriptions: 9, QueueDrops: 11},
		usage: []server.UsageReport{{AppID: "a", Connections: 5, ConnectionsPeak: 6, ConnectionSeconds: 120, MessagesIn: 1, MessagesOut: 2, BytesIn: 3, BytesOut: 4}},
	}
	src.stats.EngineErrors[server.EngineOpHistory] = 2
	m.SetSource(src)
	fams = scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rtmate_connections", nil, 7},
		{"rtmate_channels", nil, 3},
		{"rtmate_subscriptions", nil, 9},
		{"rtmate_outbound_dropped_frames_total", nil, 11},
		{"rtmate_engine_errors_total", map[string]string{"op": "history"}, 2},
		{"rtmate_engine_errors_total", map[string]string{"op": "publish"}, 0},
		{"rtmate_app_connections", map[string]string{"app": "a"}, 5},
		{"rtmate_app_connections_peak", map[string]string{"app": "a"}, 6},
		{"rtmate_app_connection_seconds_total", map[string]string{"app": "a"}, 120},
		{"rtmate_app_messages_in_total", map[string]string{"app": "a"}, 1},
		{"rtmate_app_messages_out_total", map[string]string{"app": "a"}, 2},
		{"rtmate_app_bytes_in_total", map[string]string{"app": "a"}, 3},
		{"rtmate_app_bytes_out_total", map[string]string{"app": "a"}, 4},
	} {
		if got := sample(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestCloseCodesBounded: whatever close codes peers send, the code label has a fixed set
// of values.
func TestCloseCodesBounded(t *testing.T) {
	m := New()
	for code := 0; code < 5000; code++ {
		m.ConnClosed(server.ConnInfo{}, code)
	}
	fams := scrape(t, m)
	f := fams["rtmate_connections_closed_total"]
	if len(f.Metric) != len(closeCodes)+1 {
		t.Fatalf("%d code values", len(f.Metric))
	}
	if got := sample(t, fams, "rtmate_connections_closed_total", map[string]string{"code": "other"}); got != 5000-float64(len(closeCodes)) {
		t.Errorf("other = %v", got)
	}
	if got := sample(t, fams, "rtmate_connections_closed_total", map[string]string{"code": "4030"}); got != 1 {
		t.Errorf("4030 = %v", got)
	}
}

// TestRequestCells: each event×code pair is its own series with the row's name, created on
// first use only; out-of-range inputs are folded instead of panicking.
func TestRequestCells(t *testing.T) {
	m := New()
	m.Request(server.EventSubscribe, protocol.QuotaExceeded, time.Millisecond)
	m.Request(server.EventSubscribe, protocol.RateLimited, time.Millisecond)
	m.Request(server.EventSubscribe, protocol.RateLimited, time.Millisecond)
	m.Request(server.NumEvents+3, protocol.WsBizCode(200), time.Millisecond)
	fams := scrape(t, m)
	if n := len(fams["rtmate_requests_total"].Metric); n != 3 {
		t.Fatalf("%d request series, want 3", n)
	}
	if got := sample(t, fams, "rtmate_requests_total", map[string]string{"event": "subscribe", "code": "429", "result": "RateLimited"}); got != 2 {
		t.Errorf("RateLimited = %v", got)
	}
	if got := sample(t, fams, "rtmate_requests_total", map[string]string{"event": "unknown", "code": "500", "result": "Internal"}); got != 1 {
		t.Errorf("folded = %v", got)
	}
	if got := sample(t, fams, "rtmate_request_duration_seconds", map[string]string{"event": "subscribe"}); got != 3 {
		t.Errorf("latency count = %v", got)
	}
}

// TestObserverAllocatesNothing: the per-event methods run on the event loop for every
// request and connection; once a label cell is resolved they must not allocate.
func TestObserverAllocatesNothing(t *testing.T) {
	m := New()
	info := server.ConnInfo{App: "a", ClientID: "c", UserID: "u"}
	run := func() {
		m.ConnOpened()
		m.Authenticated(info)
		m.Subscribed(info, "ch")
		m.Published(info, "ch", []byte("1"))
		m.Delivered("a", 10, 100)
		m.Request(server.EventMessageSend, protocol.Success, 50*time.Microsecond)
		m.Request(server.EventAPIPublish, protocol.QuotaExceeded, time.Millisecond)
		m.Unsubscribed(info, "ch")
		m.SlowConsumer("a")
		m.ConnClosed(info, 1000)
		m.ConnClosed(info, 3999)
	}
	run() // resolve the cells
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(server.EventMessageSend, protocol.Success, 80*time.Microsecond)
		}
	})
}

func BenchmarkScrape(b *testing.B) {
	m := New()
	src := &fakeSource{}
	for i := 0; i < 100; i++ {
		src.usage = append(src.usage, server.UsageReport{AppID: "app-" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	m.SetSource(src)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}
}
