package store

import (
	"context"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
)

func newRedisStore(t *testing.T, addr string) *Redis {
	t.Helper()
	s, err := NewRedis(config.Redis{Address: addr, KeyPrefix: "test:"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRedisAppsAndUsage(t *testing.T) {
	rs := redistest.Start(t)
	exercise(t, func() Store { return newRedisStore(t, rs.Addr) })
}

// TestRedisSharedAcrossNodes: usage of two nodes is summed (peaks too), and a change made
// through one handle is announced to another and bumps the version.
func TestRedisSharedAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	a, b := newRedisStore(t, rs.Addr), newRedisStore(t, rs.Addr)
	defer func() { _ = a.Close(); _ = b.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	for _, node := range []struct {
		s    *Redis
		name string
	}{{a, "n1"}, {b, "n2"}} {
		if err := node.s.AddUsage(ctx, node.name, []Delta{{App: "x", Hour: now, Counters: Counters{MessagesIn: 2, PeakConnections: 3}}}); err != nil {
			t.Fatal(err)
		}
	}
	hours, err := a.Usage(ctx, "x", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil || len(hours) != 1 || hours[0].MessagesIn != 4 || hours[0].PeakConnections != 6 {
		t.Fatalf("summed usage = %+v, %v", hours, err)
	}

	v0, err := b.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 4)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { _ = b.Watch(wctx, func() { got <- struct{}{} }) }()
	// Subscribing is asynchronous: announce until the watcher hears one.
	deadline := time.After(5 * time.Second)
	for heard := false; !heard; {
		if err := a.PutApp(ctx, Record{App: config.App{}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			heard = true
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no change announced")
		}
	}
	if v1, err := b.Version(ctx); err != nil || v1 <= v0 {
		t.Fatalf("version %d -> %d, %v", v0, v1, err)
	}
}
