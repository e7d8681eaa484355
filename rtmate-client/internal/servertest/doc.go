// Package servertest builds and runs the real rtmate-server (and this module's commands)
// for end-to-end tests, in the spirit of nats-server's RunServer helper.
//
// Entry points:
//   - Start builds rtmate-server once per test process, starts it on a free loopback port
//     in development mode (app demo-app) and stops it when the test ends.
//   - Server.Restart stops and starts it again on the same address; Server.Signal,
//     WaitExit and StartAgain drive a drain (SIGUSR1) and a restart after it.
//   - NewBalancer is a TCP load balancer that follows the backends' /readyz.
//   - Build compiles any main package of the workspace once per test process.
//   - Main wraps testing.M.Run to remove the built binaries afterwards.
//
// When the server's source is absent the tests that need it are skipped; when it does not
// compile they fail.
package servertest
