package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is a run's merged outcome; it encodes to the tool's -json output.
type Result struct {
	Scenario string `json:"scenario"`
	Config   Config `json:"config"`

	Conns          int      `json:"conns"`
	ConnectErrors  int      `json:"connect_errors"`
	ConnectSeconds float64  `json:"connect_seconds"`
	ConnectPerSec  float64  `json:"connect_per_sec"`
	ConnectLatency *Latency `json:"connect_latency_us,omitempty"`

	Sent          int64         `json:"sent"`
	Acked         int64         `json:"acked"`
	Unacked       int64         `json:"unacked"`                  // no response before the run had to end: not counted as expected
	PublishErrors map[int]int64 `json:"publish_errors,omitempty"` // by response code (429, 413, …)
	PublishPerSec float64       `json:"publish_per_sec"`

	Expected        int64    `json:"expected"`  // acknowledged publications × subscribers of their channel
	Delivered       int64    `json:"delivered"` // first deliveries
	Lost            int64    `json:"lost"`      // expected − delivered
	Duplicated      int64    `json:"duplicated"`
	Gaps            int64    `json:"gaps"` // sequence numbers missing between two received ones, refused publications included
	Other           int64    `json:"other_messages"`
	DeliveredPerSec float64  `json:"delivered_per_sec"`
	WindowSeconds   float64  `json:"window_seconds"` // from the start of publishing to the last delivery
	Latency         *Latency `json:"latency_us,omitempty"`

	Disconnects int64            `json:"disconnects"`
	CloseCodes  map[string]int64 `json:"close_codes,omitempty"`
	Server      *ServerResult    `json:"server,omitempty"`
	Errors      []string         `json:"errors,omitempty"`
}

// Latency summarizes a histogram in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// ServerResult is the server process's cost, from /proc.
type ServerResult struct {
	PID            int     `json:"pid"`
	RSSBaselineKB  int64   `json:"rss_baseline_kb"`  // before connecting
	RSSConnectedKB int64   `json:"rss_connected_kb"` // all connections set up
	RSSLoadedKB    int64   `json:"rss_loaded_kb"`    // end of the measured phase, connections open
	RSSEndKB       int64   `json:"rss_end_kb"`       // after the tool disconnected
	RSSGrowthKB    int64   `json:"rss_growth_kb"`    // max(connected, loaded) − baseline
	RSSPerConnB    int64   `json:"rss_per_conn_bytes"`
	CPUSeconds     float64 `json:"cpu_seconds"` // utime+stime over the measured phase and drain
	CPUPercent     float64 `json:"cpu_percent"` // of one core
	CPUPerDelivery float64 `json:"cpu_us_per_delivery,omitempty"`
	Error          string  `json:"error,omitempty"`
}

func summarize(h *hdrhistogram.Histogram) *Latency {
	if h.TotalCount() == 0 {
		return nil
	}
	return &Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean(),
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

func buildResult(cfg *Config, m *workerReport, lat, connLat *hdrhistogram.Histogram, acked map[int]int64, t0, end time.Time, probe *serverProbe) *Result {
	r := &Result{
		Scenario:       cfg.Scenario,
		Config:         *cfg,
		Conns:          m.Conns,
		ConnectErrors:  m.ConnectErrors,
		ConnectLatency: summarize(connLat),
		Sent:           m.Sent,
		Acked:          m.Acked,
		Unacked:        m.Unacked,
		PublishErrors:  m.PubErrors,
		Expected:       cfg.expected(acked),
		Delivered:      m.Received - m.Duplicates,
		Duplicated:     m.Duplicates,
		Gaps:           m.Gaps,
		Other:          m.Other,
		Latency:        summarize(lat),
		Disconnects:    m.Disconnects,
		CloseCodes:     m.CloseCodes,
		Errors:         m.Errors,
	}
	r.Config.Secret, r.Config.Token = "", "" // never print credentials
	r.Lost = max(r.Expected-r.Delivered, 0)
	if m.ConnectEnd > m.ConnectStart {
		r.ConnectSeconds = time.Duration(m.ConnectEnd - m.ConnectStart).Seconds()
		r.ConnectPerSec = float64(m.Conns) / r.ConnectSeconds
	}
	if r.Acked > 0 {
		r.PublishPerSec = float64(r.Acked) / cfg.Duration.Seconds()
	}
	if m.LastRecv > 0 {
		r.WindowSeconds = time.Duration(m.LastRecv - t0.UnixNano()).Seconds()
		if r.WindowSeconds > 0 {
			r.DeliveredPerSec = float64(r.Delivered) / r.WindowSeconds
		}
	}
	if probe.pid != 0 {
		s := &ServerResult{
			PID:            probe.pid,
			RSSBaselineKB:  probe.baseline.RSSKB,
			RSSConnectedKB: probe.connected.RSSKB,
			RSSLoadedKB:    probe.loaded.RSSKB,
			RSSEndKB:       probe.end.RSSKB,
			CPUSeconds:     probe.end.CPUSeconds - probe.start.CPUSeconds,
		}
		if probe.err != nil {
			s.Error = probe.err.Error()
		}
		s.RSSGrowthKB = max(s.RSSConnectedKB, s.RSSLoadedKB) - s.RSSBaselineKB
		if r.Conns > 0 {
			s.RSSPerConnB = s.RSSGrowthKB * 1024 / int64(r.Conns)
		}
		if secs := end.Sub(t0).Seconds(); secs > 0 {
			s.CPUPercent = 100 * s.CPUSeconds / secs
		}
		if r.Delivered > 0 {
			s.CPUPerDelivery = s.CPUSeconds * 1e6 / float64(r.Delivered)
		}
		r.Server = s
	}
	return r
}

// Summary is the one-line human report.
func (r *Result) Summary() string {
	var b strings.Builder
	c := &r.Config
	switch r.Scenario {
	case ScenarioFanout:
		rate := fmt.Sprintf("%g/s", c.Rate)
		if c.Rate == 0 {
			rate = fmt.Sprintf("max (window %d)", c.Window)
		}
		fmt.Fprintf(&b, "fanout %d subs, 1 pub @ %s, %dB, %v:", c.Conns, rate, c.Size, c.Duration)
	case ScenarioRooms:
		fmt.Fprintf(&b, "rooms %d×%d @ %g/s per member, %dB, %v:", c.Rooms, c.RoomSize, c.Rate, c.Size, c.Duration)
	case ScenarioIdle:
		fmt.Fprintf(&b, "idle %d conns, %v:", c.Conns, c.Duration)
	case ScenarioConnect:
		fmt.Fprintf(&b, "connect %d conns:", c.Conns)
	}
	fmt.Fprintf(&b, " connected %d (%d errors) at %.0f/s", r.Conns, r.ConnectErrors, r.ConnectPerSec)
	if l := r.ConnectLatency; l != nil && r.Scenario == ScenarioConnect {
		fmt.Fprintf(&b, ", connect p50 %s p99 %s max %s", us(l.P50), us(l.P99), us(l.Max))
	}
	if r.Scenario == ScenarioFanout || r.Scenario == ScenarioRooms {
		fmt.Fprintf(&b, "; sent %d acked %d (%.0f/s)", r.Sent, r.Acked, r.PublishPerSec)
		if r.Unacked > 0 {
			fmt.Fprintf(&b, " UNACKED %d", r.Unacked)
		}
		if len(r.PublishErrors) > 0 {
			fmt.Fprintf(&b, " refused %v", r.PublishErrors)
			if r.PublishErrors[429] > 0 {
				b.WriteString(" (429: the server's per-connection rate limit, see limits.rate)")
			}
		}
		fmt.Fprintf(&b, "; delivered %d/%d (%.0f/s) lost %d dup %d", r.Delivered, r.Expected, r.DeliveredPerSec, r.Lost, r.Duplicated)
		if l := r.Latency; l != nil {
			fmt.Fprintf(&b, "; latency p50 %s p90 %s p99 %s max %s", us(l.P50), us(l.P90), us(l.P99), us(l.Max))
		}
	}
	if r.Disconnects > 0 {
		codes := slices.Sorted(maps.Keys(r.CloseCodes))
		fmt.Fprintf(&b, "; DISCONNECTS %d (", r.Disconnects)
		for i, k := range codes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s×%d", k, r.CloseCodes[k])
		}
		b.WriteString(")")
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(&b, "; server rss +%s", kib(s.RSSGrowthKB))
		if r.Conns > 0 {
			fmt.Fprintf(&b, " (%s/conn)", byteSize(s.RSSPerConnB))
		}
		fmt.Fprintf(&b, " cpu %.2fs (%.0f%%)", s.CPUSeconds, s.CPUPercent)
		if s.CPUPerDelivery > 0 {
			fmt.Fprintf(&b, " %.2fµs/delivery", s.CPUPerDelivery)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, " (probe error: %s)", s.Error)
		}
	}
	return b.String()
}

func us(v int64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fs", float64(v)/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fms", float64(v)/1e3)
	}
	return fmt.Sprintf("%dµs", v)
}

func kib(v int64) string {
	switch {
	case v >= 1<<20 || v <= -1<<20:
		return fmt.Sprintf("%.2fGiB", float64(v)/(1<<20))
	case v >= 1<<10 || v <= -1<<10:
		return fmt.Sprintf("%.1fMiB", float64(v)/(1<<10))
	}
	return fmt.Sprintf("%dKiB", v)
}

func byteSize(v int64) string {
	if v >= 10<<10 || v <= -10<<10 {
		return fmt.Sprintf("%.1fKiB", float64(v)/(1<<10))
	}
	return fmt.Sprintf("%dB", v)
}
