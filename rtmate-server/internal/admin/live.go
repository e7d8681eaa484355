package admin

import (
	"context"
	"sync"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/server"
)

// seriesLen is how many per-second points each app keeps: the console's last hour.
const seriesLen = 3600

// point is one second of an app on this node.
type point struct {
	T           int64   `json:"t"` // Unix seconds
	Connections int64   `json:"connections"`
	In          float64 `json:"in"`  // messages published per second
	Out         float64 `json:"out"` // pushes delivered per second
}

// series is a ring of an app's last seriesLen points, allocated when the app is first seen.
type series struct {
	pts  []point
	next int
	full bool
	prev server.AppCounter
}

func (s *series) add(p point) {
	if s.pts == nil {
		s.pts = make([]point, seriesLen)
	}
	s.pts[s.next] = p
	s.next = (s.next + 1) % seriesLen
	s.full = s.full || s.next == 0
}

func (s *series) last() *point {
	if !s.full && s.next == 0 {
		return nil
	}
	p := s.pts[(s.next+seriesLen-1)%seriesLen]
	return &p
}

func (s *series) since(t int64) []point {
	var out []point
	n := s.next
	if s.full {
		n = seriesLen
	}
	for i := range n {
		idx := i
		if s.full {
			idx = (s.next + i) % seriesLen
		}
		if s.pts[idx].T >= t {
			out = append(out, s.pts[idx])
		}
	}
	return out
}

// live samples every app's counters once a second: the console's charts and stream, and the
// stats endpoint's rates. Safe for concurrent use.
type live struct {
	src interface{ AppCounters() []server.AppCounter }
	mu  sync.Mutex
	by  map[string]*series
	// tick is closed and replaced after every sample: the streams wait on it.
	tick chan struct{}
}

func newLive(src interface{ AppCounters() []server.AppCounter }) *live {
	return &live{src: src, by: map[string]*series{}, tick: make(chan struct{})}
}

func (l *live) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	l.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.sample(now)
		}
	}
}

func (l *live) sample(now time.Time) {
	counters := l.src.AppCounters()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]bool, len(counters))
	for _, c := range counters {
		seen[c.AppID] = true
		s := l.by[c.AppID]
		if s == nil {
			s = &series{prev: c}
			l.by[c.AppID] = s
		}
		if !s.prev.Since.Equal(c.Since) {
			s.prev = server.AppCounter{Since: c.Since} // the app's counters started again
		}
		p := point{
			T: now.Unix(), Connections: c.Connections,
			In:  float64(max(0, c.MessagesIn-s.prev.MessagesIn)),
			Out: float64(max(0, c.MessagesOut-s.prev.MessagesOut)),
		}
		s.prev = c
		s.add(p)
	}
	for id := range l.by {
		if !seen[id] {
			delete(l.by, id) // removed or disabled: its charts start again if it returns
		}
	}
	close(l.tick)
	l.tick = make(chan struct{})
}

// wait returns a channel closed after the next sample.
func (l *live) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tick
}

func (l *live) latest(id string) *point {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.by[id]; s != nil {
		return s.last()
	}
	return nil
}

// snapshot is every app's latest point.
func (l *live) snapshot() map[string]point {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]point, len(l.by))
	for id, s := range l.by {
		if p := s.last(); p != nil {
			out[id] = *p
		}
	}
	return out
}

func (l *live) seriesSince(id string, t int64) []point {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.by[id]; s != nil {
		return s.since(t)
	}
	return nil
}
