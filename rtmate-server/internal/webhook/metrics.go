package webhook

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats to Prometheus at scrape time, so that delivery itself never
// touches a metric. Labels are per app only.
func (d *Dispatcher) Collector() prometheus.Collector { return (*collector)(d) }

type collector Dispatcher

var (
	descSent     = prometheus.NewDesc("rtmate_webhook_events_sent_total", "Webhook events delivered (2xx).", []string{"app"}, nil)
	descFailed   = prometheus.NewDesc("rtmate_webhook_events_failed_total", "Webhook events given up on after retries or a non-retryable answer.", []string{"app"}, nil)
	descRetried  = prometheus.NewDesc("rtmate_webhook_retries_total", "Webhook delivery retries.", []string{"app"}, nil)
	descDropped  = prometheus.NewDesc("rtmate_webhook_events_dropped_total", "Webhook events dropped because the queue was full or shutdown came first.", []string{"app"}, nil)
	descQueued   = prometheus.NewDesc("rtmate_webhook_queue_length", "Webhook events waiting for delivery.", []string{"app"}, nil)
	descHook     = prometheus.NewDesc("rtmate_connect_hook_calls_total", "Connect/subscribe hook calls.", []string{"app"}, nil)
	descRejected = prometheus.NewDesc("rtmate_connect_hook_rejected_total", "Connect/subscribe hook calls answered 403.", []string{"app"}, nil)
	descHookErr  = prometheus.NewDesc("rtmate_connect_hook_errors_total", "Connect/subscribe hook calls that failed (timeout, 5xx, bad reply).", []string{"app"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descFailed, descRetried, descDropped, descQueued, descHook, descRejected, descHookErr} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range (*Dispatcher)(c).Stats() {
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), s.App)
		}
		counter(descSent, s.Sent)
		counter(descFailed, s.Failed)
		counter(descRetried, s.Retried)
		counter(descDropped, s.Dropped)
		counter(descHook, s.HookCalls)
		counter(descRejected, s.HookRejected)
		counter(descHookErr, s.HookErrors)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued), s.App)
	}
}
