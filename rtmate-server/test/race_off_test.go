//go:build !race

package test

import "time"

// failBound bounds how long a script failure may take to answer (see testFailures).
const failBound = 2 * time.Second

// raceBuild is whether the race detector is on.
const raceBuild = false
