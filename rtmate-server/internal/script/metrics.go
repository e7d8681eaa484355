package script

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scripts' Prometheus series. Safe for concurrent use; register Collector
// once. Label handles are resolved when a Set is loaded, so that a call costs two atomic
// adds and no label lookup.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	loadErrs *prometheus.CounterVec
}

// Call results, the result label of rtmate_script_calls_total.
const (
	resultOK = iota
	resultRejected
	resultError
	resultTimeout
	numResults
)

var resultNames = [numResults]string{"ok", "rejected", "error", "timeout"}

// NewMetrics creates the collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmate_script_calls_total",
			Help: "Script hook calls, by app, script, hook and result (ok, rejected, error, timeout).",
		}, []string{"app", "script", "hook", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rtmate_script_duration_seconds",
			Help:    "Time of one script hook call, by app and hook.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2},
		}, []string{"app", "hook"}),
		loadErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtmate_script_load_errors_total",
			Help: "Reloads whose scripts failed to load (the app kept its previous scripts), by app.",
		}, []string{"app"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.calls.Describe(ch)
	m.duration.Describe(ch)
	m.loadErrs.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.calls.Collect(ch)
	m.duration.Collect(ch)
	m.loadErrs.Collect(ch)
}

var _ prometheus.Collector = (*Metrics)(nil)

// hookMetrics are one script's resolved series for one hook.
type hookMetrics struct {
	calls    [numResults]prometheus.Counter
	duration prometheus.Observer
}

func (m *Metrics) forHook(app, script string, h Hook) *hookMetrics {
	hm := &hookMetrics{duration: m.duration.WithLabelValues(app, h.String())}
	for r := range numResults {
		hm.calls[r] = m.calls.WithLabelValues(app, script, h.String(), resultNames[r])
	}
	return hm
}

// LoadFailed counts a reload that kept an app's previous scripts.
func (m *Metrics) LoadFailed(app string) { m.loadErrs.WithLabelValues(app).Inc() }
