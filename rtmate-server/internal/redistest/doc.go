// Package redistest runs a real redis-server for tests: on a free loopback port, in a
// temporary directory, without persistence unless a restart asks to keep the data, and
// stopped when the test ends.
//
// Entry points: Start (skips when redis-server is missing, fails instead when CI is set),
// Server.Restart, Server.Stop/StartAgain, Server.Kill, Server.Do; StartCluster (a Redis Cluster
// built with redis-cli --cluster create: Masters, MasterOfSlot, Reshard, WaitHealthy after a
// Kill) and StartSentinel (a master, a replica and three sentinels: WaitMaster).
//
// With RTMATE_TEST_REDIS=valkey every entry point runs valkey-server and valkey-cli instead
// (Flavour), so the same tests prove Valkey works.
package redistest
