package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memHandler keeps every delivered publication (copied: the engine's caller may reuse
// its buffers), per channel, in delivery order.
type memHandler struct {
	mu  sync.Mutex
	got map[ChannelKey][]Publication
}

// HandleEpochReset is never called by the memory engine.
func (h *memHandler) HandleEpochReset(ChannelKey, StreamPosition) {}

func (h *memHandler) HandlePublication(ch ChannelKey, pub *Publication) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.got == nil {
		h.got = make(map[ChannelKey][]Publication)
	}
	p := *pub
	p.Data = slices.Clone(pub.Data)
	h.got[ch] = append(h.got[ch], p)
}

func (h *memHandler) of(ch ChannelKey) []Publication {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got[ch])
}

// memClock drives the engine's notion of now.
type memClock struct{ t time.Time }

func (c *memClock) now() time.Time          { return c.t }
func (c *memClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newMemClock() *memClock                { return &memClock{t: time.Unix(1_700_000_000, 0)} }
func memMsg(data string) *Publication {
	return &Publication{Kind: KindMessage, Data: []byte(data), ClientID: "c1"}
}
func memOffsets(pubs []Publication) (out []uint64) {
	for _, p := range pubs {
		out = append(out, p.Offset)
	}
	return out
}

func startMemory(t *testing.T) (*Memory, *memHandler, *memClock) {
	t.Helper()
	m := NewMemory()
	clock := newMemClock()
	m.now = clock.now
	h := &memHandler{}
	if err := m.Start(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m, h, clock
}

var (
	memCtx   = context.Background()
	memNews  = ChannelKey{App: "app1", Name: "news"}
	memNews2 = ChannelKey{App: "app2", Name: "news"}
)

func TestMemoryPublishWithoutHistory(t *testing.T) {
	m, h, _ := startMemory(t)
	pub := memMsg(`{"a":1}`)
	pos, err := m.Publish(memCtx, memNews, pub, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pos.Offset != 0 || pub.Offset != 0 || pos.Epoch == "" {
		t.Fatalf("position %+v, pub offset %d", pos, pub.Offset)
	}
	if got := h.of(memNews); len(got) != 1 || string(got[0].Data) != `{"a":1}` || got[0].ClientID != "c1" {
		t.Fatalf("delivered %+v", got)
	}
	pubs, pos, err := m.History(memCtx, memNews, 0, 0)
	if err != nil || len(pubs) != 0 || pos.Offset != 0 {
		t.Fatalf("History = %v %+v %v", pubs, pos, err)
	}
	if got := h.of(memNews2); len(got) != 0 {
		t.Fatalf("another app's channel of the same name got %v", got)
	}
}

func TestMemoryHistoryRing(t *testing.T) {
	m, h, _ := startMemory(t)
	opts := HistoryOptions{Size: 3}
	var epoch string
	for i := 1; i <= 5; i++ {
		pub := memMsg(fmt.Sprintf(`%d`, i))
		pos, err := m.Publish(memCtx, memNews, pub, opts)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Offset != uint64(i) || pub.Offset != uint64(i) {
			t.Fatalf("publication %d: position %+v, pub offset %d", i, pos, pub.Offset)
		}
		if epoch == "" {
			epoch = pos.Epoch
		} else if pos.Epoch != epoch {
			t.Fatalf("epoch changed from %q to %q", epoch, pos.Epoch)
		}
	}
	if got := memOffsets(h.of(memNews)); !slices.Equal(got, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("delivered offsets %v", got)
	}
	cases := []struct {
		since uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{3, 4, 5}}, // the ring keeps the newest 3
		{0, 100, []uint64{3, 4, 5}},
		{0, 2, []uint64{3, 4}}, // oldest first
		{3, 0, []uint64{4, 5}},
		{4, 1, []uint64{5}},
		{5, 0, nil},
		{99, 0, nil},
	}
	for _, tc := range cases {
		pubs, pos, err := m.History(memCtx, memNews, tc.since, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := memOffsets(pubs); !slices.Equal(got, tc.want) {
			t.Errorf("History(since %d, limit %d) = %v, want %v", tc.since, tc.limit, got, tc.want)
		}
		if pos.Offset != 5 || pos.Epoch != epoch {
			t.Errorf("History position %+v", pos)
		}
		for _, p := range pubs {
			if string(p.Data) != fmt.Sprint(p.Offset) || p.ClientID != "c1" || p.Kind != KindMessage {
				t.Errorf("history entry %+v", p)
			}
		}
	}
	// Epochs are per stream: another channel's says nothing about this one's.
	if pubs, pos, _ := m.History(memCtx, memNews2, 0, 0); len(pubs) != 0 || pos.Offset != 0 || pos.Epoch == "" || pos.Epoch == epoch {
		t.Fatalf("another app's channel: %v %+v", pubs, pos)
	}
}

// TestMemoryHistoryCopiesData checks that history does not alias the publisher's buffer,
// which the event loop reuses as soon as Publish returns.
func TestMemoryHistoryCopiesData(t *testing.T) {
	m, _, _ := startMemory(t)
	buf := []byte(`"original"`)
	if _, err := m.Publish(memCtx, memNews, &Publication{Kind: KindMessage, Data: buf}, HistoryOptions{Size: 10}); err != nil {
		t.Fatal(err)
	}
	copy(buf, `"XXXXXXXX"`)
	pubs, _, _ := m.History(memCtx, memNews, 0, 0)
	if len(pubs) != 1 || string(pubs[0].Data) != `"original"` {
		t.Fatalf("history holds %q", pubs[0].Data)
	}
}

// TestMemoryJoinLeaveNotKept checks that presence events are delivered in order with the
// messages but take no offset and no place in history.
func TestMemoryJoinLeaveNotKept(t *testing.T) {
	m, h, _ := startMemory(t)
	opts := HistoryOptions{Size: 10}
	mustPublish(t, m, memNews, memMsg("1"), opts)
	join := &Publication{Kind: KindJoin, ClientID: "c2", UserID: "u2"}
	if pos, err := m.Publish(memCtx, memNews, join, opts); err != nil || join.Offset != 0 || pos.Offset != 0 {
		t.Fatalf("join: %+v %v offset %d", pos, err, join.Offset)
	}
	mustPublish(t, m, memNews, memMsg("2"), opts)
	mustPublish(t, m, memNews, &Publication{Kind: KindLeave, ClientID: "c2", UserID: "u2"}, opts)
	var kinds []Kind
	for _, p := range h.of(memNews) {
		kinds = append(kinds, p.Kind)
	}
	if !slices.Equal(kinds, []Kind{KindMessage, KindJoin, KindMessage, KindLeave}) {
		t.Fatalf("delivered kinds %v", kinds)
	}
	pubs, pos, _ := m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); !slices.Equal(got, []uint64{1, 2}) || pos.Offset != 2 {
		t.Fatalf("history %v at %d", got, pos.Offset)
	}
}

// TestMemoryHistoryTTL checks that entries older than the TTL are dropped when the channel is
// next written, and that offsets keep counting.
func TestMemoryHistoryTTL(t *testing.T) {
	m, _, clock := startMemory(t)
	opts := HistoryOptions{Size: 10, TTLSeconds: 60}
	mustPublish(t, m, memNews, memMsg("1"), opts) // t=0
	clock.advance(30 * time.Second)
	mustPublish(t, m, memNews, memMsg("2"), opts) // t=30
	clock.advance(40 * time.Second)
	mustPublish(t, m, memNews, memMsg("3"), opts) // t=70: #1 is 70s old
	pubs, pos, _ := m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); !slices.Equal(got, []uint64{2, 3}) || pos.Offset != 3 {
		t.Fatalf("after 70s: history %v at %d, want [2 3] at 3", got, pos.Offset)
	}
	clock.advance(61 * time.Second)
	mustPublish(t, m, memNews, memMsg("4"), opts) // t=131: #2 (t=30) and #3 (t=70) expired
	pubs, pos, _ = m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); !slices.Equal(got, []uint64{4}) || pos.Offset != 4 {
		t.Fatalf("after 131s: history %v at %d, want [4] at 4", got, pos.Offset)
	}
	// A recovering client sees that it cannot recover from 1: the offsets in between are gone.
	if pubs, _, _ := m.History(memCtx, memNews, 1, 0); uint64(len(pubs)) == pos.Offset-1 {
		t.Fatal("recovery from an expired offset looks complete")
	}
}

// TestMemoryHistoryResize checks that a reload that changes the history size keeps the
// newest entries, shrinking and growing.
func TestMemoryHistoryResize(t *testing.T) {
	m, _, _ := startMemory(t)
	for i := 1; i <= 5; i++ {
		mustPublish(t, m, memNews, memMsg(fmt.Sprint(i)), HistoryOptions{Size: 5})
	}
	mustPublish(t, m, memNews, memMsg("6"), HistoryOptions{Size: 3})
	pubs, _, _ := m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); !slices.Equal(got, []uint64{4, 5, 6}) {
		t.Fatalf("after shrinking to 3: %v", got)
	}
	for i := 7; i <= 8; i++ {
		mustPublish(t, m, memNews, memMsg(fmt.Sprint(i)), HistoryOptions{Size: 10})
	}
	pubs, _, _ = m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); !slices.Equal(got, []uint64{4, 5, 6, 7, 8}) {
		t.Fatalf("after growing to 10: %v", got)
	}
	for i := 9; i <= 20; i++ {
		mustPublish(t, m, memNews, memMsg(fmt.Sprint(i)), HistoryOptions{Size: 10})
	}
	pubs, _, _ = m.History(memCtx, memNews, 0, 0)
	if got := memOffsets(pubs); len(got) != 10 || got[0] != 11 || got[9] != 20 {
		t.Fatalf("after wrapping: %v", got)
	}
	for _, p := range pubs {
		if string(p.Data) != fmt.Sprint(p.Offset) {
			t.Fatalf("entry %d holds %q", p.Offset, p.Data)
		}
	}
}

func TestMemoryPresence(t *testing.T) {
	m, _, _ := startMemory(t)
	room := ChannelKey{App: "app1", Name: "presence-room"}
	room2 := ChannelKey{App: "app2", Name: "presence-room"}
	members := func(ch ChannelKey) []string {
		t.Helper()
		list, err := m.Presence(memCtx, ch)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.ClientID+"/"+c.UserID)
		}
		slices.Sort(out)
		return out
	}
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"empty", func() error { return nil }, nil},
		{"add c1", func() error { return m.AddPresence(memCtx, room, ClientInfo{"c1", "alice"}) }, []string{"c1/alice"}},
		{"add c2", func() error { return m.AddPresence(memCtx, room, ClientInfo{"c2", "bob"}) }, []string{"c1/alice", "c2/bob"}},
		{"add c1 again is idempotent", func() error { return m.AddPresence(memCtx, room, ClientInfo{"c1", "alice"}) }, []string{"c1/alice", "c2/bob"}},
		{"same user, second connection", func() error { return m.AddPresence(memCtx, room, ClientInfo{"c3", "alice"}) }, []string{"c1/alice", "c2/bob", "c3/alice"}},
		{"remove c2", func() error { return m.RemovePresence(memCtx, room, "c2") }, []string{"c1/alice", "c3/alice"}},
		{"remove unknown", func() error { return m.RemovePresence(memCtx, room, "zz") }, []string{"c1/alice", "c3/alice"}},
		{"remove from unknown channel", func() error { return m.RemovePresence(memCtx, ChannelKey{"x", "y"}, "c1") }, []string{"c1/alice", "c3/alice"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := members(room); !slices.Equal(got, st.want) {
			t.Fatalf("%s: members %v, want %v", st.name, got, st.want)
		}
		if got := members(room2); len(got) != 0 {
			t.Fatalf("%s: another app's channel has %v", st.name, got)
		}
	}
	if err := m.RemovePresence(memCtx, room, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemovePresence(memCtx, room, "c3"); err != nil {
		t.Fatal(err)
	}
	if got := members(room); len(got) != 0 {
		t.Fatalf("members %v after everyone left", got)
	}
	if list, _ := m.Presence(memCtx, room); list == nil {
		t.Fatal("Presence returns nil instead of an empty list") // encoders write [] either way, but callers range over it
	}
}

// TestMemoryConcurrent publishes on a few channels from several goroutines at once (meant for
// -race): each channel's deliveries must carry offsets 1..N in order, because delivery
// happens in the channel's order.
func TestMemoryConcurrent(t *testing.T) {
	m, h, _ := startMemory(t)
	m.now = time.Now // the fake clock is not safe for concurrent use
	const (
		channels   = 3
		publishers = 4 // per channel
		each       = 200
	)
	var wg sync.WaitGroup
	for c := 0; c < channels; c++ {
		ch := ChannelKey{App: "app", Name: fmt.Sprintf("ch-%d", c)}
		for p := 0; p < publishers; p++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if _, err := m.Publish(memCtx, ch, memMsg(`"x"`), HistoryOptions{Size: 50, TTLSeconds: 3600}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("c-%d", p)
				for i := 0; i < each; i++ {
					errAdd := m.AddPresence(memCtx, ch, ClientInfo{ClientID: id, UserID: "u"})
					_, errList := m.Presence(memCtx, ch)
					_, _, errHist := m.History(memCtx, ch, uint64(i), 10)
					errRemove := m.RemovePresence(memCtx, ch, id)
					if err := errors.Join(errAdd, errList, errHist, errRemove); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for c := 0; c < channels; c++ {
		ch := ChannelKey{App: "app", Name: fmt.Sprintf("ch-%d", c)}
		got := memOffsets(h.of(ch))
		if len(got) != publishers*each {
			t.Fatalf("%s: %d deliveries", ch.Name, len(got))
		}
		for i, o := range got {
			if o != uint64(i+1) {
				t.Fatalf("%s: delivery %d has offset %d", ch.Name, i, o)
			}
		}
		if list, _ := m.Presence(memCtx, ch); len(list) != 0 {
			t.Fatalf("%s: members left: %v", ch.Name, list)
		}
	}
}

func TestMemoryEpochPerInstance(t *testing.T) {
	a := NewMemory()
	time.Sleep(time.Microsecond)
	b := NewMemory()
	if a.epoch == "" || a.epoch == b.epoch || strings.ContainsAny(a.epoch, `"\`) {
		t.Fatalf("epochs %q and %q", a.epoch, b.epoch)
	}
	if err := a.Subscribe(memCtx, memNews); err != nil {
		t.Fatal(err)
	}
	if err := a.Unsubscribe(memCtx, memNews); err != nil {
		t.Fatal(err)
	}
}

// TestMemorySweepIdleStream checks that an idle channel's history is collected and that the
// channel comes back with a new epoch, so that no client recovers across the gap.
func TestMemorySweepIdleStream(t *testing.T) {
	m, h, clock := startMemory(t)
	if _, err := m.Publish(memCtx, memNews, &Publication{Kind: KindMessage, Data: []byte("1")}, HistoryOptions{Size: 10, TTLSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	_, before, _ := m.History(memCtx, memNews, 0, 0)
	m.sweep(clock.now().Add(time.Minute / 2))
	if pubs, pos, _ := m.History(memCtx, memNews, 0, 0); len(pubs) != 1 || pos.Epoch != before.Epoch {
		t.Fatalf("swept too early: %v %+v", pubs, pos)
	}
	m.sweep(clock.now().Add(IdleStreamTTL + time.Hour))
	pubs, after, _ := m.History(memCtx, memNews, 0, 0)
	if len(pubs) != 0 || after.Offset != 0 || after.Epoch == before.Epoch {
		t.Fatalf("after sweep: %v %+v (before %+v)", pubs, after, before)
	}
	// Publications carry their epoch, delivered and in history: offset 1 again, but of the
	// new epoch, so that a subscriber holding offset 1 of the old one does not skip it.
	pub := &Publication{Kind: KindMessage, Data: []byte("2")}
	pos, err := m.Publish(memCtx, memNews, pub, HistoryOptions{Size: 10, TTLSeconds: 60})
	if err != nil || pos.Offset != 1 || pos.Epoch != after.Epoch || pub.Offset != 1 || pub.Epoch != after.Epoch {
		t.Fatalf("publish after sweep: %+v %v, pub at %d/%q; want %+v", pos, err, pub.Offset, pub.Epoch, after)
	}
	got := h.of(memNews)
	if len(got) != 2 || got[0].Epoch != before.Epoch || got[1].Epoch != after.Epoch || got[0].Offset != 1 || got[1].Offset != 1 {
		t.Fatalf("delivered %+v; want offset 1 of %q, then of %q", got, before.Epoch, after.Epoch)
	}
	if pubs, _, _ := m.History(memCtx, memNews, 0, 0); len(pubs) != 1 || pubs[0].Epoch != after.Epoch {
		t.Fatalf("history after sweep: %+v", pubs)
	}
}

// TestMemoryHistoryTTLOnRead checks that a quiet channel stops serving expired history.
func TestMemoryHistoryTTLOnRead(t *testing.T) {
	m, _, clock := startMemory(t)
	if _, err := m.Publish(memCtx, memNews, &Publication{Kind: KindMessage, Data: []byte("1")}, HistoryOptions{Size: 10, TTLSeconds: 5}); err != nil {
		t.Fatal(err)
	}
	clock.advance(6 * time.Second)
	if pubs, pos, _ := m.History(memCtx, memNews, 0, 0); len(pubs) != 0 || pos.Offset != 1 {
		t.Fatalf("expired history served: %v %+v", pubs, pos)
	}
}

// mustPublish publishes where the test is about something else than the publication.
func mustPublish(t *testing.T, m *Memory, k ChannelKey, pub *Publication, opts HistoryOptions) {
	t.Helper()
	if _, err := m.Publish(memCtx, k, pub, opts); err != nil {
		t.Fatalf("publish: %v", err)
	}
}
