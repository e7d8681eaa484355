package usage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// fakeSource and failingStore stand in for the server and the store so that the arithmetic
// of deltas is checked exactly; the aggregator against the real server and a real store is
// tested in internal/admin and cmd/rtmate-server (SIGKILL).
type fakeSource struct {
	mu      sync.Mutex
	reports []server.UsageReport
	limit   int64
	month   map[string][2]int64
}

func (f *fakeSource) UsageAll() []server.UsageReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]server.UsageReport(nil), f.reports...)
}

func (f *fakeSource) AppCounters() []server.AppCounter {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]server.AppCounter, len(f.reports))
	for i, r := range f.reports {
		out[i] = server.AppCounter{AppID: r.AppID, Since: r.Since, Connections: r.Connections}
	}
	return out
}

func (f *fakeSource) AppLimits(string) (config.Limits, bool) {
	return config.Limits{MonthlyMessages: f.limit}, true
}

func (f *fakeSource) SetMonthMessages(app string, total, mark int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.month[app] = [2]int64{total, mark}
}

type flakyStore struct {
	store.Store
	fail bool
}

func (s *flakyStore) AddUsage(ctx context.Context, node string, d []store.Delta) error {
	if s.fail {
		return errors.New("store down")
	}
	return s.Store.AddUsage(ctx, node, d)
}

func TestFlushDeltas(t *testing.T) {
	bolt, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bolt.Close() }()
	st := &flakyStore{Store: bolt}
	since := time.Now()
	src := &fakeSource{limit: 100, month: map[string][2]int64{}}
	agg := New(src, st, "n1", time.Second, zap.NewNop())
	ctx := context.Background()
	now := time.Now()
	set := func(r server.UsageReport) { src.mu.Lock(); src.reports = []server.UsageReport{r}; src.mu.Unlock() }
	total := func() store.Counters {
		hours, err := bolt.Usage(ctx, "a", now.Add(-2*time.Hour), now.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var c store.Counters
		for _, h := range hours {
			c.Add(h.Counters)
		}
		return c
	}

	steps := []struct {
		name   string
		report server.UsageReport
		fail   bool
		sample bool // sample connections before the flush
		want   store.Counters
	}{
		{"first flush adds everything", server.UsageReport{AppID: "a", Since: since, MessagesIn: 5, BytesIn: 50, ConnectionSeconds: 3, Connections: 2},
			false, false, store.Counters{MessagesIn: 5, BytesIn: 50, ConnectionSeconds: 3, PeakConnections: 2}},
		{"second adds the difference", server.UsageReport{AppID: "a", Since: since, MessagesIn: 7, BytesIn: 70, ConnectionSeconds: 5, Connections: 4, Calls: 1},
			false, true, store.Counters{MessagesIn: 7, BytesIn: 70, ConnectionSeconds: 5, PeakConnections: 4, Calls: 1}},
		{"a failed flush adds nothing", server.UsageReport{AppID: "a", Since: since, MessagesIn: 9, BytesIn: 90, ConnectionSeconds: 5, Connections: 1, Calls: 1},
			true, false, store.Counters{MessagesIn: 7, BytesIn: 70, ConnectionSeconds: 5, PeakConnections: 4, Calls: 1}},
		{"the next one carries it", server.UsageReport{AppID: "a", Since: since, MessagesIn: 10, BytesIn: 100, ConnectionSeconds: 6, Connections: 1, Calls: 1},
			false, false, store.Counters{MessagesIn: 10, BytesIn: 100, ConnectionSeconds: 6, PeakConnections: 4, Calls: 1}},
		{"counters restarted (app re-added)", server.UsageReport{AppID: "a", Since: since.Add(time.Minute), MessagesIn: 2, Connections: 0},
			false, false, store.Counters{MessagesIn: 12, BytesIn: 100, ConnectionSeconds: 6, PeakConnections: 4, Calls: 1}},
	}
	for _, s := range steps {
		set(s.report)
		if s.sample {
			agg.sample()
		}
		st.fail = s.fail
		err := agg.Flush(ctx)
		if (err != nil) != s.fail {
			t.Fatalf("%s: flush error %v", s.name, err)
		}
		if got := total(); got != s.want {
			t.Fatalf("%s: stored %+v, want %+v", s.name, got, s.want)
		}
	}
	if m := src.month["a"]; m != [2]int64{12, 2} {
		t.Fatalf("month given to the server = %v, want total 12 at mark 2", m)
	}
}
