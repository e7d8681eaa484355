// Package script runs an app's sandboxed hook scripts (Lua 5.1 on gopher-lua, Wasm as
// Extism plug-ins) on connect, subscribe, publish and rpc.
//
// Entry points: Load builds an app's Set from its config (compiling each file once), Set.Run
// runs a hook's scripts in order, NewMetrics the Prometheus collector. A Set is immutable and
// safe for concurrent use; each script keeps a pool of instances (one per concurrent caller,
// up to the worker count), and an instance serves one call at a time.
package script
