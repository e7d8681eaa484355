// Package cli implements the rtmate command (cmd/rtmate is only its main): subscribe,
// publish, presence and history from a terminal or a script.
//
// Entry point: Run, which takes the arguments, the standard streams and the environment,
// and returns the exit code, so that tests drive it in process.
package cli
