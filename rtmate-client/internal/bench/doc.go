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
// The tool must cost far less per message than the server it measures: once set up, the
// subscriber sockets leave Go's netpoll for a few epoll loops (poll_linux.go) that read
// whole socket buffers and parse frames in place (frames.go), and only the fixed-width
// stamp of each publication is read (payload.go), never the whole JSON. Connections that
// publish keep a goroutine each.
package bench
