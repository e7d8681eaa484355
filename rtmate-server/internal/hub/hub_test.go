package hub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeSub records what it is given. Deliver asks for a flush only when it had nothing queued,
// as a connection does.
type fakeSub struct {
	id     int
	mu     sync.Mutex
	frames [][]byte
	calls  int
	queued bool
}

func (s *fakeSub) Deliver(frames [][]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, frames...)
	s.calls++
	first := !s.queued
	s.queued = true
	return first
}

func (s *fakeSub) flushed() {
	s.mu.Lock()
	s.queued = false
	s.mu.Unlock()
}

func (s *fakeSub) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.frames))
	for i, f := range s.frames {
		out[i] = string(f)
	}
	return out
}

// refuser never asks for a flush (a closing connection).
type refuser struct{ n atomic.Int64 }

func (r *refuser) Deliver(f [][]byte) bool { r.n.Add(int64(len(f))); return false }

// schedLog is a Scheduler that records the batches it is given (copied: the hub reuses them).
type schedLog struct {
	mu      sync.Mutex
	batches [][]Sub
}

func (l *schedLog) schedule(subs []Sub) {
	l.mu.Lock()
	l.batches = append(l.batches, slices.Clone(subs))
	l.mu.Unlock()
	for _, s := range subs {
		if f, ok := s.(*fakeSub); ok {
			f.flushed()
		}
	}
}

func (l *schedLog) all() []Sub {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Sub
	for _, b := range l.batches {
		out = append(out, b...)
	}
	return out
}

func newSubs(n int) []*fakeSub {
	subs := make([]*fakeSub, n)
	for i := range subs {
		subs[i] = &fakeSub{id: i}
	}
	return subs
}

var (
	news  = Key{App: "app1", Name: "news"}
	chat  = Key{App: "app1", Name: "chat"}
	news2 = Key{App: "app2", Name: "news"} // the same name in another app
)

func TestSubscribeUnsubscribe(t *testing.T) {
	h := New(func([]Sub) {}, nil)
	a, b := &fakeSub{id: 1}, &fakeSub{id: 2}

	steps := []struct {
		name      string
		do        func() (bool, bool)
		wantOK    bool
		wantEdge  bool // first for subscribe, last for unsubscribe
		wantCount int
	}{
		{"a subscribes first", func() (bool, bool) { return h.Subscribe(news, a) }, true, true, 1},
		{"b subscribes", func() (bool, bool) { return h.Subscribe(news, b) }, true, false, 2},
		{"a again is idempotent", func() (bool, bool) { return h.Subscribe(news, a) }, false, false, 2},
		{"a leaves", func() (bool, bool) { return h.Unsubscribe(news, a) }, true, false, 1},
		{"a leaves again", func() (bool, bool) { return h.Unsubscribe(news, a) }, false, false, 1},
		{"b leaves last", func() (bool, bool) { return h.Unsubscribe(news, b) }, true, true, 0},
		{"b leaves an empty channel", func() (bool, bool) { return h.Unsubscribe(news, b) }, false, false, 0},
		{"a is first again", func() (bool, bool) { return h.Subscribe(news, a) }, true, true, 1},
	}
	for _, st := range steps {
		ok, edge := st.do()
		if ok != st.wantOK || edge != st.wantEdge {
			t.Fatalf("%s: got (%v, %v), want (%v, %v)", st.name, ok, edge, st.wantOK, st.wantEdge)
		}
		if n := h.Count(news); n != st.wantCount {
			t.Fatalf("%s: Count = %d, want %d", st.name, n, st.wantCount)
		}
	}
	if added, first := h.Subscribe(news2, a); !added || !first {
		t.Fatalf("another app's channel of the same name is a different channel: (%v, %v)", added, first)
	}
	if ch, subs := h.Stats(); ch != 2 || subs != 2 {
		t.Fatalf("Stats = %d channels, %d subscriptions", ch, subs)
	}
}

func TestBroadcast(t *testing.T) {
	log := &schedLog{}
	h := New(log.schedule, nil)
	subs := newSubs(5)
	for _, s := range subs {
		h.Subscribe(news, s)
	}
	other := &fakeSub{id: 99}
	h.Subscribe(chat, other)
	h.Subscribe(news2, other)
	h.Subscribe(news, subs[0]) // twice: still one delivery

	frame := []byte("frame-1")
	if n := h.Broadcast(news, frame, 0, ""); n != 5 {
		t.Fatalf("reached %d, want 5", n)
	}
	for _, s := range subs {
		if got := s.got(); !slices.Equal(got, []string{"frame-1"}) {
			t.Fatalf("sub %d got %q", s.id, got)
		}
		if &s.frames[0][0] != &frame[0] {
			t.Fatalf("sub %d got a copy: the frame must be shared", s.id)
		}
	}
	if got := other.got(); len(got) != 0 {
		t.Fatalf("a subscriber of other channels got %q", got)
	}
	if n := len(log.all()); n != 5 {
		t.Fatalf("%d flushes scheduled, want 5", n)
	}
	if n := h.Broadcast(Key{App: "app1", Name: "nobody"}, frame, 0, ""); n != 0 {
		t.Fatalf("a channel without subscribers reached %d", n)
	}

	// Remove from the middle (swap with the last) and check everyone left gets exactly one copy.
	h.Unsubscribe(news, subs[1])
	h.Unsubscribe(news, subs[3])
	if n := h.Broadcast(news, []byte("frame-2"), 0, ""); n != 3 {
		t.Fatalf("reached %d after two left, want 3", n)
	}
	for i, s := range subs {
		want := []string{"frame-1", "frame-2"}
		if i == 1 || i == 3 {
			want = want[:1]
		}
		if got := s.got(); !slices.Equal(got, want) {
			t.Fatalf("sub %d got %q, want %q", i, got, want)
		}
	}
}

// TestBroadcastBatches checks that a large fan-out is scheduled in bounded batches covering
// every subscriber that asked for a flush, once, and nobody else.
func TestBroadcastBatches(t *testing.T) {
	log := &schedLog{}
	h := New(log.schedule, nil)
	subs := newSubs(1000)
	ref := &refuser{}
	for _, s := range subs {
		h.Subscribe(news, s)
	}
	h.Subscribe(news, ref)
	if n := h.Broadcast(news, []byte("x"), 0, ""); n != 1001 {
		t.Fatalf("reached %d", n)
	}
	seen := map[Sub]bool{}
	for _, b := range log.batches {
		if len(b) == 0 || len(b) > batchSize {
			t.Fatalf("batch of %d", len(b))
		}
		for _, s := range b {
			if seen[s] {
				t.Fatal("a subscriber scheduled twice")
			}
			seen[s] = true
		}
	}
	if len(seen) != 1000 || seen[ref] || ref.n.Load() != 1 {
		t.Fatalf("scheduled %d (refuser scheduled: %v, delivered %d)", len(seen), seen[ref], ref.n.Load())
	}
	// A subscriber that still has a flush pending is not scheduled again.
	for _, s := range subs[:10] {
		s.mu.Lock()
		s.queued = true
		s.mu.Unlock()
	}
	log.batches = nil
	h.Broadcast(news, []byte("y"), 0, "")
	if n := len(log.all()); n != 990 {
		t.Fatalf("%d scheduled, want 990", n)
	}
}

// TestSkipOffsets checks that a subscriber that recovered up to an offset does not get those
// publications again, gets everything after, and that publications without an offset (join,
// leave) neither are hidden nor lift the skip.
func TestSkipOffsets(t *testing.T) {
	h := New(func([]Sub) {}, nil)
	recovered, plain := &fakeSub{id: 1}, &fakeSub{id: 2}
	h.Subscribe(news, plain)
	added, first, err := h.SubscribeWith(news, recovered, func(first bool) (uint64, string, error) { return 5, "e1", nil })
	if !added || first || err != nil {
		t.Fatalf("SubscribeWith = %v %v %v", added, first, err)
	}
	for _, p := range []struct {
		frame  string
		offset uint64
	}{{"m4", 4}, {"join", 0}, {"m5", 5}, {"m6", 6}, {"leave", 0}, {"m7", 7}} {
		epoch := "e1"
		if p.offset == 0 {
			epoch = ""
		}
		h.Broadcast(news, []byte(p.frame), p.offset, epoch)
	}
	if got, want := recovered.got(), []string{"join", "m6", "leave", "m7"}; !slices.Equal(got, want) {
		t.Fatalf("recovered subscriber got %q, want %q", got, want)
	}
	if got, want := plain.got(), []string{"m4", "join", "m5", "m6", "leave", "m7"}; !slices.Equal(got, want) {
		t.Fatalf("plain subscriber got %q, want %q", got, want)
	}
}

// TestSkipEpochChange checks that the skip holds only within the epoch it was set in: once
// history is lost, the new epoch's offsets restart at 1 and none of them was recovered, even
// those at or below the skip.
func TestSkipEpochChange(t *testing.T) {
	for _, tc := range []struct {
		name string
		pubs []string // "epoch/offset", or "join" (no offset)
		want []string
	}{
		{"new epoch below the skip", []string{"e2/1", "e2/2", "e2/5", "e2/6"}, []string{"e2/1", "e2/2", "e2/5", "e2/6"}},
		{"join keeps the skip", []string{"join", "e1/5", "e1/6"}, []string{"join", "e1/6"}},
		{"old epoch then new", []string{"e1/4", "e1/5", "e2/1", "e2/2"}, []string{"e2/1", "e2/2"}},
		{"lifted skip stays lifted", []string{"e2/1", "e1/3"}, []string{"e2/1", "e1/3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(func([]Sub) {}, nil)
			s := &fakeSub{}
			if added, _, err := h.SubscribeWith(news, s, func(bool) (uint64, string, error) { return 5, "e1", nil }); !added || err != nil {
				t.Fatalf("SubscribeWith = %v, %v", added, err)
			}
			for _, p := range tc.pubs {
				epoch, off, ok := strings.Cut(p, "/")
				var offset uint64
				if ok {
					n, err := strconv.ParseUint(off, 10, 64)
					if err != nil {
						t.Fatal(err)
					}
					offset = n
				} else {
					epoch = ""
				}
				h.Broadcast(news, []byte(p), offset, epoch)
			}
			if got := s.got(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSubscribeWith(t *testing.T) {
	t.Run("locked runs only when added, with first", func(t *testing.T) {
		h := New(func([]Sub) {}, nil)
		a, b := &fakeSub{}, &fakeSub{}
		var calls []bool
		locked := func(first bool) (uint64, string, error) { calls = append(calls, first); return 0, "", nil }
		for _, s := range []*fakeSub{a, b, a} { // a twice: already subscribed
			if _, _, err := h.SubscribeWith(news, s, locked); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(calls, []bool{true, false}) {
			t.Fatalf("calls %v", calls)
		}
	})
	t.Run("failure adds nothing and drops the new channel", func(t *testing.T) {
		h := New(func([]Sub) {}, nil)
		boom := errors.New("engine down")
		added, first, err := h.SubscribeWith(news, &fakeSub{}, func(bool) (uint64, string, error) { return 0, "", boom })
		if added || first || !errors.Is(err, boom) {
			t.Fatalf("got %v %v %v", added, first, err)
		}
		if ch, subs := h.Stats(); ch != 0 || subs != 0 {
			t.Fatalf("Stats = %d, %d after a failed first subscribe", ch, subs)
		}
		// The next subscriber is first again, so the engine subscription is retried.
		if _, first := h.Subscribe(news, &fakeSub{}); !first {
			t.Fatal("not first after a failed subscribe")
		}
	})
	t.Run("failure keeps an existing channel", func(t *testing.T) {
		h := New(func([]Sub) {}, nil)
		h.Subscribe(news, &fakeSub{})
		if _, _, err := h.SubscribeWith(news, &fakeSub{}, func(bool) (uint64, string, error) { return 0, "", errors.New("x") }); err == nil {
			t.Fatal("the engine's error was not returned")
		}
		if n := h.Count(news); n != 1 {
			t.Fatalf("Count = %d", n)
		}
	})
	t.Run("no publication overtakes locked", func(t *testing.T) {
		h := New(func([]Sub) {}, nil)
		h.Subscribe(news, &fakeSub{})
		s := &fakeSub{}
		done := make(chan int)
		_, _, _ = h.SubscribeWith(news, s, func(bool) (uint64, string, error) { // never fails
			go func() { done <- h.Broadcast(news, []byte("during"), 8, "e1") }()
			for i := 0; i < 100; i++ {
				select {
				case <-done:
					t.Error("a broadcast went through while the channel was held")
					return 0, "", nil
				default:
				}
				runtime.Gosched()
			}
			return 7, "e1", nil // history up to 7 was answered inside locked
		})
		if n := <-done; n != 2 {
			t.Fatalf("reached %d", n)
		}
		if got := s.got(); !slices.Equal(got, []string{"during"}) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("unsubscribe onLast runs under the lock only for the last", func(t *testing.T) {
		h := New(func([]Sub) {}, nil)
		a, b := &fakeSub{}, &fakeSub{}
		h.Subscribe(news, a)
		h.Subscribe(news, b)
		calls := 0
		h.UnsubscribeWith(news, a, func() { calls++ })
		h.UnsubscribeWith(news, a, func() { calls++ })
		if calls != 0 {
			t.Fatalf("onLast ran %d times with a subscriber left", calls)
		}
		if removed, last := h.UnsubscribeWith(news, b, func() { calls++ }); !removed || !last || calls != 1 {
			t.Fatalf("removed %v last %v calls %d", removed, last, calls)
		}
	})
}

func TestChannels(t *testing.T) {
	h := New(func([]Sub) {}, nil)
	for i, name := range []string{"room-1", "room-2", "room-2", "lobby"} {
		h.Subscribe(Key{App: "a", Name: name}, &fakeSub{id: i})
	}
	h.Subscribe(Key{App: "b", Name: "room-1"}, &fakeSub{})
	got := h.Channels("a", "room-")
	slices.SortFunc(got, func(x, y ChannelInfo) int {
		if x.Name < y.Name {
			return -1
		}
		return 1
	})
	want := []ChannelInfo{{"room-1", 1}, {"room-2", 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("Channels = %v, want %v", got, want)
	}
	if n := len(h.Channels("a", "")); n != 3 {
		t.Fatalf("all of a's channels: %d", n)
	}
	if n := len(h.Channels("c", "")); n != 0 {
		t.Fatalf("unknown app: %d", n)
	}
}

func TestHashSeparatesAppAndName(t *testing.T) {
	if hash("ab", "c") == hash("a", "bc") {
		t.Fatal(`hash("ab","c") == hash("a","bc")`)
	}
}

// TestConcurrent runs subscribers that come and go, stable subscribers and publishers on a
// few channels at once (meant for -race). Stable subscribers must see every publication of
// their channel exactly once and in order; churning ones must never see one twice or out of
// order; and the registry must end up exactly as the goroutines left it.
func TestConcurrent(t *testing.T) {
	const (
		channels   = 4
		stable     = 8 // per channel
		churners   = 6
		publishers = channels
		pubs       = 300
	)
	h := New(func(subs []Sub) {
		for _, s := range subs {
			s.(*fakeSub).flushed()
		}
	}, nil)
	keys := make([]Key, channels)
	for i := range keys {
		keys[i] = Key{App: "app", Name: fmt.Sprintf("ch-%d", i)}
	}
	stables := make([][]*fakeSub, channels)
	for i, k := range keys {
		stables[i] = newSubs(stable)
		for _, s := range stables[i] {
			h.Subscribe(k, s)
		}
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	churnSubs := newSubs(churners)
	finalState := make([][]bool, churners) // which channels each churner ends subscribed to
	for c := 0; c < churners; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			s := churnSubs[c]
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			in := make([]bool, channels)
			for i := 0; ; i++ {
				select {
				case <-stop:
					finalState[c] = in
					return
				default:
				}
				k := rng.IntN(channels)
				if in[k] {
					if removed, _ := h.Unsubscribe(keys[k], s); !removed {
						t.Errorf("churner %d: unsubscribe of a subscribed channel failed", c)
					}
				} else if added, _ := h.Subscribe(keys[k], s); !added {
					t.Errorf("churner %d: subscribe failed", c)
				}
				in[k] = !in[k]
				if i%7 == 0 {
					h.Subscribe(keys[k], s) // idempotent either way
					if !in[k] {
						h.Unsubscribe(keys[k], s)
					}
				}
			}
		}(c)
	}
	var pwg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pwg.Add(1)
		go func(p int) {
			defer pwg.Done()
			for i := 1; i <= pubs; i++ {
				frame := binary.BigEndian.AppendUint32([]byte{byte(p)}, uint32(i))
				if n := h.Broadcast(keys[p], frame, uint64(i), ""); n < stable {
					t.Errorf("publication reached %d < %d stable subscribers", n, stable)
				}
			}
		}(p)
	}
	pwg.Wait()
	close(stop)
	wg.Wait()

	for ch, subs := range stables {
		for _, s := range subs {
			got := s.got()
			if len(got) != pubs {
				t.Fatalf("stable subscriber of ch-%d got %d of %d", ch, len(got), pubs)
			}
			for i, f := range got {
				if f[0] != byte(ch) || binary.BigEndian.Uint32([]byte(f[1:])) != uint32(i+1) {
					t.Fatalf("stable subscriber of ch-%d: publication %d is %x", ch, i+1, f)
				}
			}
		}
	}
	wantSubs := channels * stable
	for c, s := range churnSubs {
		last := map[byte]uint32{}
		for _, f := range s.got() {
			seq := binary.BigEndian.Uint32([]byte(f[1:]))
			if seq <= last[f[0]] {
				t.Fatalf("churner %d got ch-%d #%d after #%d", c, f[0], seq, last[f[0]])
			}
			last[f[0]] = seq
		}
		for k, in := range finalState[c] {
			if in {
				wantSubs++
				if h.Count(keys[k]) <= stable {
					t.Fatalf("churner %d missing from ch-%d", c, k)
				}
			}
		}
	}
	if ch, subs := h.Stats(); ch != channels || subs != wantSubs {
		t.Fatalf("Stats = %d channels, %d subscriptions; want %d, %d", ch, subs, channels, wantSubs)
	}
}

// TestQueuedFanout: publications queue on their channel until its fan-out task runs, which
// hands each subscriber everything at once, to exactly the subscribers that were there when
// each was published; a subscriber leaving first still gets what was queued for it.
func TestQueuedFanout(t *testing.T) {
	var spawned []Fanout
	h := New(func([]Sub) {}, func(f Fanout) { spawned = append(spawned, f) })
	a, leaver, late := &fakeSub{}, &fakeSub{}, &fakeSub{}
	h.Subscribe(news, a)
	h.Subscribe(news, leaver)
	for i, f := range []string{"1", "2"} {
		if n := h.Broadcast(news, []byte(f), uint64(i+1), ""); n != 2 {
			t.Fatalf("broadcast %s for %d subscribers", f, n)
		}
	}
	if len(spawned) != 1 {
		t.Fatalf("%d fan-outs spawned for one queue", len(spawned))
	}
	h.Subscribe(news, late) // after 1 and 2: not for it
	h.Broadcast(news, []byte("3"), 3, "")
	h.Unsubscribe(news, leaver)
	if got := leaver.got(); !slices.Equal(got, []string{"1", "2", "3"}) || leaver.calls != 1 {
		t.Fatalf("leaver got %q in %d calls", got, leaver.calls)
	}
	if len(a.got()) != 0 {
		t.Fatal("delivered before the fan-out ran")
	}
	spawned[0].Run()
	if got := a.got(); !slices.Equal(got, []string{"1", "2", "3"}) || a.calls != 1 {
		t.Fatalf("a got %q in %d calls, want one call with all three", got, a.calls)
	}
	if got := late.got(); !slices.Equal(got, []string{"3"}) {
		t.Fatalf("late got %q", got)
	}
	if len(spawned) != 1 {
		t.Fatal("an empty queue spawned another turn")
	}
	h.Broadcast(news, []byte("4"), 4, "")
	if len(spawned) != 2 {
		t.Fatal("a publication after the queue emptied spawned no fan-out")
	}
	spawned[1].Run()
	if got := late.got(); !slices.Equal(got, []string{"3", "4"}) {
		t.Fatalf("late got %q", got)
	}
}

// TestQueuedFanoutSkip: within one batch, a recovered subscriber skips what it recovered of
// the same epoch, gets presence pushes (offset 0) meanwhile, and everything after the first
// publication it did not recover.
func TestQueuedFanoutSkip(t *testing.T) {
	var spawned []Fanout
	h := New(func([]Sub) {}, func(f Fanout) { spawned = append(spawned, f) })
	h.Subscribe(news, &fakeSub{})
	r := &fakeSub{}
	if _, _, err := h.SubscribeWith(news, r, func(bool) (uint64, string, error) { return 5, "e1", nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		f     string
		off   uint64
		epoch string
	}{{"4", 4, "e1"}, {"join", 0, ""}, {"5", 5, "e1"}, {"6", 6, "e1"}, {"other epoch 2", 2, "e2"}, {"7", 7, "e1"}} {
		h.Broadcast(news, []byte(p.f), p.off, p.epoch)
	}
	spawned[0].Run()
	if got := r.got(); !slices.Equal(got, []string{"join", "6", "other epoch 2", "7"}) {
		t.Fatalf("recovered subscriber got %q", got)
	}
}
