package server

import (
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// What the admin API, the usage aggregator and the console's live figures need from a Server.
// Every method is safe for concurrent use.

// monthCount is an app's messages this calendar month as of the last usage flush (base, from
// the store: every node, every restart) and the node's MessagesIn counter at that flush
// (mark). The messages published since are MessagesIn - mark.
type monthCount struct {
	base atomic.Int64
	mark atomic.Int64
	set  atomic.Bool
}

// monthlyQuota refuses n more publications when limits.monthly_messages is reached. Until the
// first flush has told the app its month so far, it counts this node's messages only.
func (a *appState) monthlyQuota(n int) error {
	limit := a.limits.MonthlyMessages
	if limit <= 0 {
		return nil
	}
	u := a.usage
	used := u.MessagesIn.Load()
	if u.month.set.Load() {
		used = u.month.base.Load() + used - u.month.mark.Load()
	}
	if used+int64(n) > limit {
		return protocol.Errorf(protocol.QuotaExceeded, "monthly_messages %d reached", limit)
	}
	return nil
}

// SetMonthMessages tells an app how many messages it published this month according to the
// usage store (total), as of the moment this node's MessagesIn counter was mark.
func (s *Server) SetMonthMessages(appID string, total, mark int64) {
	a := s.apps.Load().app(appID)
	if a == nil {
		return
	}
	a.usage.month.base.Store(total)
	a.usage.month.mark.Store(mark)
	a.usage.month.set.Store(true)
}

// AppCounter is an app's cumulative counters on this node, cheap to read every second.
type AppCounter struct {
	AppID       string
	Since       time.Time
	Connections int64
	MessagesIn  int64
	MessagesOut int64
	BytesIn     int64
	BytesOut    int64
}

// AppCounters returns every app's counters, ordered by app id, without walking connections.
func (s *Server) AppCounters() []AppCounter {
	apps := s.apps.Load()
	out := make([]AppCounter, 0, len(apps.apps))
	for id, a := range apps.apps {
		u := a.usage
		out = append(out, AppCounter{
			AppID: id, Since: u.Since, Connections: u.Connections.Load(),
			MessagesIn: u.MessagesIn.Load(), MessagesOut: u.MessagesOut.Load(),
			BytesIn: u.BytesIn.Load(), BytesOut: u.BytesOut.Load(),
		})
	}
	slices.SortFunc(out, func(x, y AppCounter) int { return strings.Compare(x.AppID, y.AppID) })
	return out
}

// AppChannelCount returns how many channels of the app have subscribers on this node.
func (s *Server) AppChannelCount(appID string) int { return len(s.hub.Channels(appID, "")) }

// NodeFigures is this node's figures for the admin console (GET /api/nodes lists NodeInfo).
type NodeFigures struct {
	ID            string `json:"id"`
	Engine        string `json:"engine"`
	Connections   int    `json:"connections"`
	Channels      int    `json:"channels"`
	Subscriptions int    `json:"subscriptions"`
	Goroutines    int    `json:"goroutines"`
	HeapBytes     uint64 `json:"heap_bytes"`
	StartedAt     int64  `json:"started_at"`
	QueueDrops    uint64 `json:"queue_drops"`
}

var processStart = time.Now()

// Node returns this node's figures.
func (s *Server) Node() NodeFigures {
	st := s.Stats()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return NodeFigures{
		ID: s.nodeID, Engine: s.cfg.Load().Engine.Type, Connections: st.Connections, Channels: st.Channels,
		Subscriptions: st.Subscriptions, Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc,
		StartedAt: processStart.Unix(), QueueDrops: st.QueueDrops,
	}
}
