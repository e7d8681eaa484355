package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// scrapeCollector reads the server at scrape time: gauges that would otherwise need an
// update on every subscribe, and the per-app usage counters the server keeps for billing
// anyway (counting them twice on the message path would cost for nothing).
type scrapeCollector struct{ m *Metrics }

var _ prometheus.Collector = (*scrapeCollector)(nil)

var (
	descConnections = prometheus.NewDesc("rtmate_connections",
		"Open WebSocket connections, authenticated or not.", nil, nil)
	descChannels = prometheus.NewDesc("rtmate_channels",
		"Channels with at least one subscriber on this node.", nil, nil)
	descSubscriptions = prometheus.NewDesc("rtmate_subscriptions",
		"Subscriptions (connection × channel) on this node.", nil, nil)
	descQueueDrops = prometheus.NewDesc("rtmate_outbound_dropped_frames_total",
		"Outbound frames never written because a connection's queue was over its bound (the slow consumer's frame refused and its queue discarded).", nil, nil)
	descEngineErrors = prometheus.NewDesc("rtmate_engine_errors_total",
		"Failed engine (broker, presence, history) calls, by operation.", []string{"op"}, nil)

	appLabel           = []string{"app"}
	descAppConnections = prometheus.NewDesc("rtmate_app_connections",
		"Authenticated connections, per app.", appLabel, nil)
	descAppPeak = prometheus.NewDesc("rtmate_app_connections_peak",
		"The highest number of authenticated connections since the process started, per app.", appLabel, nil)
	descAppConnSeconds = prometheus.NewDesc("rtmate_app_connection_seconds_total",
		"Connection time, open connections included, per app (bill connection-minutes from it).", appLabel, nil)
	descAppMsgIn = prometheus.NewDesc("rtmate_app_messages_in_total",
		"Publications accepted (WebSocket messageSend and API), per app.", appLabel, nil)
	descAppMsgOut = prometheus.NewDesc("rtmate_app_messages_out_total",
		"Message, join and leave pushes queued to subscribers, per app.", appLabel, nil)
	descAppBytesIn = prometheus.NewDesc("rtmate_app_bytes_in_total",
		"Bytes of published data, per app.", appLabel, nil)
	descAppBytesOut = prometheus.NewDesc("rtmate_app_bytes_out_total",
		"Bytes of push frames queued to subscribers, per app.", appLabel, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descChannels, descSubscriptions, descQueueDrops, descEngineErrors,
		descAppConnections, descAppPeak, descAppConnSeconds, descAppMsgIn, descAppMsgOut, descAppBytesIn, descAppBytesOut} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	box := c.m.src.Load()
	if box == nil {
		return
	}
	st := box.s.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descConnections, float64(st.Connections))
	gauge(descChannels, float64(st.Channels))
	gauge(descSubscriptions, float64(st.Subscriptions))
	counter(descQueueDrops, float64(st.QueueDrops))
	for op := server.EngineOp(0); op < server.NumEngineOps; op++ {
		counter(descEngineErrors, float64(st.EngineErrors[op]), op.String())
	}
	for _, u := range box.s.UsageAll() {
		gauge(descAppConnections, float64(u.Connections), u.AppID)
		gauge(descAppPeak, float64(u.ConnectionsPeak), u.AppID)
		counter(descAppConnSeconds, float64(u.ConnectionSeconds), u.AppID)
		counter(descAppMsgIn, float64(u.MessagesIn), u.AppID)
		counter(descAppMsgOut, float64(u.MessagesOut), u.AppID)
		counter(descAppBytesIn, float64(u.BytesIn), u.AppID)
		counter(descAppBytesOut, float64(u.BytesOut), u.AppID)
	}
}
