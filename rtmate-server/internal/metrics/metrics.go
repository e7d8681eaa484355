package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// Source is what the scrape-time collector reads; *server.Server is one.
type Source interface {
	Stats() server.Stats
	UsageAll() []server.UsageReport
}

var _ Source = (*server.Server)(nil)

// Metrics turns what the server reports into Prometheus metrics on its own registry. It is a
// server.Observer, and its per-event methods allocate nothing: every label value is resolved
// once (a fixed events×codes table, a per-app cache), so counting costs an atomic add.
// Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	src atomic.Pointer[sourceBox]

	accepted prometheus.Counter
	closed   [len(closeCodes) + 1]prometheus.Counter // the last one is "other"

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reqCells [server.NumEvents][maxCodes]atomic.Pointer[prometheus.Counter]
	latCells [server.NumEvents]atomic.Pointer[prometheus.Observer]

	slowVec *prometheus.CounterVec
	appMu   sync.RWMutex
	slow    map[string]prometheus.Counter // per app, resolved once
}

var _ server.Observer = (*Metrics)(nil)

type sourceBox struct{ s Source }

// maxCodes bounds the WsBizCode table (14 rows today); a code beyond it counts as Internal.
const maxCodes = 32

// closeCodes are the close codes that get their own label value; any other code a peer
// sends (clients may choose 3000–4999) is counted as "other", so the label stays bounded.
var closeCodes = [...]int{1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011,
	server.CloseTokenExpired, server.CloseDisconnected, server.CloseAuthTimeout, server.CloseRateLimited, server.CloseSlowConsumer}

// latencyBuckets span a ping answered in tens of microseconds to an engine call stuck for a
// second, in seconds.
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// New returns metrics registered on a fresh registry, with the Go runtime and process
// collectors. Call SetSource with the server once it exists (the server needs its observer
// first) so that scrapes include the gauges and per-app usage it reads.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), slow: make(map[string]prometheus.Counter)}
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rtmate_connections_accepted_total",
		Help: "WebSocket connections accepted (upgraded).",
	})
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtmate_connections_closed_total",
		Help: "WebSocket connections closed, by close code (1006: the peer vanished without a close frame; other: a code without its own label).",
	}, []string{"code"})
	for i, c := range closeCodes {
		m.closed[i] = closed.WithLabelValues(strconv.Itoa(c))
	}
	m.closed[len(closeCodes)] = closed.WithLabelValues("other")
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtmate_requests_total",
		Help: "Requests handled, WebSocket events and HTTP API endpoints (event api.*), by result: code is the envelope's code, result the error table's row name.",
	}, []string{"event", "code", "result"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rtmate_request_duration_seconds",
		Help:    "Time to handle a request, from decoding to the response being queued.",
		Buckets: latencyBuckets,
	}, []string{"event"})
	m.slowVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rtmate_app_slow_consumer_disconnects_total",
		Help: "Connections closed with 4030 (outbound queue over its bound or write timeout), per app (empty: not authenticated).",
	}, []string{"app"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.accepted, closed, m.requests, m.latency, m.slowVec,
		&scrapeCollector{m: m},
	)
	return m
}

// SetSource makes scrapes read src (the server) for connection, channel and subscription
// gauges, outbound drops, engine errors and per-app usage.
func (m *Metrics) SetSource(src Source) { m.src.Store(&sourceBox{src}) }

// Registry is where later components (webhooks, the Redis engine) register their collectors,
// so that one scrape of /metrics returns everything.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ConnOpened counts an accepted connection (server.Observer).
func (m *Metrics) ConnOpened() { m.accepted.Inc() }

// ConnClosed counts a closed connection by its close code (server.Observer).
func (m *Metrics) ConnClosed(_ server.ConnInfo, code int) {
	for i, c := range closeCodes {
		if c == code {
			m.closed[i].Inc()
			return
		}
	}
	m.closed[len(closeCodes)].Inc()
}

// Authenticated is not counted here: authenticated connections per app are read from the
// server's usage at scrape time (server.Observer).
func (m *Metrics) Authenticated(server.ConnInfo) {}

// Subscribed is not counted here: channels and subscriptions are read from the hub at scrape
// time (server.Observer).
func (m *Metrics) Subscribed(server.ConnInfo, string) {}

// Unsubscribed: see Subscribed (server.Observer).
func (m *Metrics) Unsubscribed(server.ConnInfo, string) {}

// Published is not counted here: messages and bytes in per app are the server's usage
// counters, read at scrape time (server.Observer).
func (m *Metrics) Published(server.ConnInfo, string, []byte) {}

// Delivered: see Published (server.Observer).
func (m *Metrics) Delivered(string, int, int) {}

// Request counts a handled request and its latency (server.Observer).
func (m *Metrics) Request(event server.EventID, code protocol.WsBizCode, took time.Duration) {
	if event >= server.NumEvents {
		event = server.EventUnknown
	}
	if int(code) >= maxCodes {
		code = protocol.Internal
	}
	c := m.reqCells[event][code].Load()
	if c == nil {
		c = m.resolveRequest(event, code)
	}
	(*c).Inc()
	o := m.latCells[event].Load()
	if o == nil {
		o = m.resolveLatency(event)
	}
	(*o).Observe(took.Seconds())
}

// resolveRequest builds a cell's counter on its first use, so that only the event×code
// pairs that happen are exported.
func (m *Metrics) resolveRequest(event server.EventID, code protocol.WsBizCode) *prometheus.Counter {
	c := m.requests.WithLabelValues(event.String(), strconv.Itoa(code.Code()), code.String())
	m.reqCells[event][code].Store(&c)
	return &c
}

func (m *Metrics) resolveLatency(event server.EventID) *prometheus.Observer {
	o := m.latency.WithLabelValues(event.String())
	m.latCells[event].Store(&o)
	return &o
}

// SlowConsumer counts a slow-consumer disconnect of app (server.Observer).
func (m *Metrics) SlowConsumer(app string) {
	m.appMu.RLock()
	c := m.slow[app]
	m.appMu.RUnlock()
	if c == nil {
		m.appMu.Lock()
		if c = m.slow[app]; c == nil {
			c = m.slowVec.WithLabelValues(app)
			m.slow[app] = c
		}
		m.appMu.Unlock()
	}
	c.Inc()
}
