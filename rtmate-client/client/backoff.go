package client

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before reconnection attempt n (0 for the first): min doubled n
// times, capped at max, then a random point in its upper half ("equal jitter"), so that
// clients that lost the same server do not return in lockstep yet none retries at once.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1) // #nosec G404 -- reconnect jitter, not a secret
}
