package engine

import "time"

// Sweep collects expired history and idle streams as the memory engine's timer would at now.
func (m *Memory) Sweep(now time.Time) { m.sweep(now) }
