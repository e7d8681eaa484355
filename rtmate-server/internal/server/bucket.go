package server

import "time"

// bucket is a token bucket small enough to live in every connection (16 bytes), without the
// mutex of x/time/rate: only the connection's read slot touches it.
type bucket struct {
	tokens float32
	last   int64 // Unix nanos of the last refill
}

// allow takes one token, refilling at rate per second up to burst. A rate <= 0 means unlimited.
func (b *bucket) allow(now int64, rate float64, burst int) bool { return b.allowN(now, rate, burst, 1) }

// allowN takes n tokens or none (an API broadcast is charged all at once, so that it is
// either published to every channel or refused).
func (b *bucket) allowN(now int64, rate float64, burst, n int) bool {
	if rate <= 0 {
		return true
	}
	if b.last == 0 {
		b.tokens, b.last = float32(burst), now
	}
	elapsed := time.Duration(now - b.last).Seconds()
	b.last = now
	b.tokens = min(float32(burst), b.tokens+float32(elapsed*rate))
	if b.tokens < float32(n) {
		return false
	}
	b.tokens -= float32(n)
	return true
}
