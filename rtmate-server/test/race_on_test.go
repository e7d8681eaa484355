//go:build race

package test

import "time"

// failBound bounds how long a script failure may take to answer (see testFailures).
const failBound = time.Minute

// raceBuild is whether the race detector is on.
const raceBuild = true
