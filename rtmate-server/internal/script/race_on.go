//go:build race

package script

// raceEnabled: see newWasmRuntimeConfig.
const raceEnabled = true
