//go:build race

package test

import "time"

// failBound bounds how long a script failure may take to answer (see testFailures).
const failBound = time.Minute

// raceBuild is whether the race detector is on.
const raceBuild = true

// wasmBombTimeout is the bomb plug-in's timeout: under -race the interpreter runs even its
// quiet calls slowly, next to the background start of replacement instances.
const wasmBombTimeout = 500 * time.Millisecond
