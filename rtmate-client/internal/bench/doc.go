// Package bench is the logic of the rtmate-bench load tool (cmd/rtmate-bench is only its
// main): it opens many WebSocket connections to an RTMate server on loopback, drives one
// of four scenarios, and reports deliveries per second, latency percentiles (HDR
// histogram), lost and duplicated messages, connect rate and, given the server's pid, its
// memory growth and CPU cost per delivered message.
//
// Entry points:
//   - Run executes a scenario described by Config and returns a Result; with Procs > 1 it
//     re-executes the current binary as workers (each with a share of the connections,
//     because the machine limits open files per process) and merges their reports.
//   - ServeWorker is the worker side, reading its orders on stdin and reporting on stdout.
//   - Result.Summary is the one-line human report; Result encodes to JSON for machines.
//
// The tool must cost far less per message than the server it measures: one goroutine
// per connection reads whole socket buffers, and only the send timestamp, sequence number
// and source of each frame are parsed (ParsePush), never the whole JSON.
package bench
