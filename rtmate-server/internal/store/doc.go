// Package store persists what the admin API manages: the apps created through it and every
// app's usage per hour. Two implementations: Bolt (an embedded single-file database in
// data_dir, for one node) and Redis (shared by the nodes of a Redis engine deployment).
//
// Entry points: Store, OpenBolt, NewRedis, Record, Counters; a shared store is also a Watcher
// (app changes of other nodes). The console's node list is not here: it is the engine's node
// registry (server.AllNodes).
package store
