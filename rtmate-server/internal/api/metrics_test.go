package api_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// TestMetricsFollowTraffic scrapes /metrics, parses the exposition format, and checks that
// connections, requests, latency, channels, subscriptions, per-app messages and bytes and
// closes by code move with real traffic.
func TestMetricsFollowTraffic(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	fams := s.scrape(t)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_open_fds",
		"rtmate_connections", "rtmate_channels", "rtmate_subscriptions", "rtmate_outbound_dropped_frames_total",
		"rtmate_connections_accepted_total", "rtmate_connections_closed_total", "rtmate_app_connections"} {
		if fams[name] == nil {
			t.Errorf("no %s before any traffic", name)
		}
	}
	if v := value(fams, "rtmate_engine_errors_total", "op", "publish"); v != 0 {
		t.Errorf("engine errors %v", v)
	}

	a := connectDev(t, s, "a")
	b := connectDev(t, s, "b")
	a.subscribe("news")
	b.subscribe("news")
	if r := a.call(protocol.EventMessageSend, map[string]any{"channel": "news", "data": "hi"}); !r.is(protocol.Success) {
		t.Fatal(r)
	}
	s.expectOK(t, http.MethodPost, "/api/publish", devKey, `{"appId":"demo-app","channel":"news","data":{"x":1}}`)
	s.expectError(t, http.MethodPost, "/api/publish", "bad-key", `{}`, http.StatusUnauthorized, protocol.Unauthenticated)
	if r := a.call("nope", nil); !r.is(protocol.UnsupportedEvent) {
		t.Fatal(r)
	}
	for _, c := range []*wsClient{a, b} {
		c.expectMessage("news", `"hi"`, a.clientID)
		c.expectMessage("news", `{"x":1}`, "server")
	}

	fams = s.scrape(t)
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"rtmate_connections_accepted_total", nil, 2},
		{"rtmate_connections", nil, 2},
		{"rtmate_app_connections", []string{"app", "demo-app"}, 2},
		{"rtmate_app_connections", []string{"app", otherApp}, 0},
		{"rtmate_app_connections_peak", []string{"app", "demo-app"}, 2},
		{"rtmate_channels", nil, 1},
		{"rtmate_subscriptions", nil, 2},
		{"rtmate_requests_total", []string{"event", "auth", "code", "200", "result", "Success"}, 2},
		{"rtmate_requests_total", []string{"event", "subscribe", "code", "200"}, 2},
		{"rtmate_requests_total", []string{"event", "messageSend", "code", "200"}, 1},
		{"rtmate_requests_total", []string{"event", "unknown", "code", "400", "result", "UnsupportedEvent"}, 1},
		{"rtmate_requests_total", []string{"event", "api.publish", "code", "200", "result", "Success"}, 1},
		{"rtmate_requests_total", []string{"event", "api.publish", "code", "401", "result", "Unauthenticated"}, 1},
		{"rtmate_request_duration_seconds", []string{"event", "subscribe"}, 2},
		{"rtmate_request_duration_seconds", []string{"event", "api.publish"}, 2},
		{"rtmate_app_messages_in_total", []string{"app", "demo-app"}, 2},
		{"rtmate_app_messages_out_total", []string{"app", "demo-app"}, 4},
		{"rtmate_app_bytes_in_total", []string{"app", "demo-app"}, float64(len(`"hi"`) + len(`{"x":1}`))},
		{"rtmate_app_messages_in_total", []string{"app", otherApp}, 0},
		{"rtmate_connections_closed_total", []string{"code", "1000"}, 0},
	}
	for _, w := range want {
		if got := value(fams, w.name, w.labels...); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	if v := value(fams, "rtmate_app_bytes_out_total", "app", "demo-app"); v <= 0 {
		t.Errorf("bytes out %v", v)
	}

	// A normal close and a vanished peer are counted by code.
	if err := a.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	_ = b.c.CloseNow()
	eventually(t, "the closes to be counted", func() bool {
		fams = s.scrape(t)
		return value(fams, "rtmate_connections_closed_total", "code", "1000") == 1 &&
			value(fams, "rtmate_connections_closed_total", "code", "1006") == 1 &&
			value(fams, "rtmate_connections", nil...) == 0 &&
			value(fams, "rtmate_app_connections", "app", "demo-app") == 0 &&
			value(fams, "rtmate_subscriptions", nil...) == 0
	})
	if v := value(fams, "rtmate_app_connections_peak", "app", "demo-app"); v != 2 {
		t.Errorf("peak %v after the closes", v)
	}
}

// TestMetricsLabelsBounded: many clients on many channels add no series — labels are per
// app at most, never per channel, client or user.
func TestMetricsLabelsBounded(t *testing.T) {
	t.Parallel()
	s := startStack(t, nil)
	round := func(n int) {
		for i := 0; i < n; i++ {
			c := connectDev(t, s, "user-"+strings.Repeat("x", i))
			for j := 0; j < 3; j++ {
				ch := "chan-" + strings.Repeat("y", i) + "-" + string(rune('a'+j))
				c.subscribe(ch)
				if r := c.call(protocol.EventMessageSend, map[string]any{"channel": ch, "data": i}); !r.is(protocol.Success) {
					t.Fatal(r)
				}
				s.expectOK(t, http.MethodPost, "/api/publish", devKey, map[string]any{"appId": "demo-app", "channel": ch, "data": j})
			}
			if err := c.c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	round(1)
	first := series(t, s.scrape(t))
	round(15)
	second := series(t, s.scrape(t))
	if strings.Join(first, "\n") != strings.Join(second, "\n") {
		t.Fatalf("series changed with traffic:\nbefore %d: %v\nafter %d: %v", len(first), first, len(second), second)
	}
	if len(first) > 400 {
		t.Errorf("%d rtmate series", len(first))
	}
}

// series lists the rtmate_* series (name and labels, not values) and fails on a label that
// would grow with traffic.
func series(t *testing.T, fams map[string]*dto.MetricFamily) []string {
	t.Helper()
	var out []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "rtmate_") {
			continue
		}
		for _, m := range f.Metric {
			var b strings.Builder
			b.WriteString(name)
			for _, lp := range m.Label {
				switch lp.GetName() {
				case "app", "code", "event", "result", "op", "le":
				default:
					t.Errorf("%s has label %s", name, lp.GetName())
				}
				b.WriteString("," + lp.GetName() + "=" + lp.GetValue())
			}
			out = append(out, b.String())
		}
	}
	sort.Strings(out)
	return out
}
