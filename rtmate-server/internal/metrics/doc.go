// Package metrics exposes the server's Prometheus metrics (GET /metrics): connections,
// requests and their latency, channels and subscriptions, per-app usage, outbound drops,
// slow consumers, engine errors, and the Go runtime and process collectors.
//
// Entry points: New (a server.Observer), (*Metrics).SetSource, (*Metrics).Handler.
// The metric names and labels are listed in docs/api.md; labels are per app at most, never
// per channel or per client, so the series count stays bounded by the configuration.
package metrics
