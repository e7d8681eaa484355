// Package usage turns a node's cumulative per-app counters into hourly usage in a store:
// every flush interval (at most 10 s) it adds what each app used since the last flush to the
// app's current hour, so a crash loses at most one interval. With a shared store (Redis) every
// node adds its own share and the figures are summed across nodes.
//
// Entry points: New, Aggregator.Run, Aggregator.Flush.
package usage
