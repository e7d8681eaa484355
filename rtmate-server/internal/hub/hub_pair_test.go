package hub

import (
	"slices"
	"strconv"
	"testing"
)

// altSub is a fakeSub that takes alternative frames (a Pusher connection).
type altSub struct{ fakeSub }

func (*altSub) WantsAlt() bool { return true }

var _ AltSub = (*altSub)(nil)

// TestBroadcastPair: ordinary subscribers get the frame, AltSubs the alternative; a nil
// alternative reaches no AltSub, and exclude is skipped — at once and deferred alike.
func TestBroadcastPair(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		name := "at once"
		if deferred {
			name = "deferred"
		}
		t.Run(name, func(t *testing.T) {
			var queued []Fanout
			var spawn Spawner
			if deferred {
				spawn = func(f Fanout) { queued = append(queued, f) }
			}
			h := New(func([]Sub) {}, spawn)
			k := Key{App: "a", Name: "c"}
			native, alt1, alt2 := &fakeSub{}, &altSub{}, &altSub{}
			for _, s := range []Sub{native, alt1, alt2} {
				h.Subscribe(k, s)
			}
			h.BroadcastPair(k, []byte("n1"), []byte("p1"), nil, 0, "")
			h.BroadcastPair(k, []byte("n2"), nil, nil, 0, "")           // nothing for AltSubs
			h.BroadcastPair(k, []byte("n3"), []byte("p3"), alt1, 0, "") // not for alt1
			h.Broadcast(k, []byte("n4"), 0, "")
			for len(queued) > 0 {
				f := queued[0]
				queued = queued[1:]
				f.Run()
			}
			if got, want := native.got(), []string{"n1", "n2", "n3", "n4"}; !slices.Equal(got, want) {
				t.Errorf("native got %v, want %v", got, want)
			}
			if got, want := alt1.got(), []string{"p1"}; !slices.Equal(got, want) {
				t.Errorf("alt1 got %v, want %v", got, want)
			}
			if got, want := alt2.got(), []string{"p1", "p3"}; !slices.Equal(got, want) {
				t.Errorf("alt2 got %v, want %v", got, want)
			}
		})
	}
}

// TestBroadcastPairLeaving: what is queued for an AltSub that leaves is its alternative.
func TestBroadcastPairLeaving(t *testing.T) {
	var queued []Fanout
	h := New(func([]Sub) {}, func(f Fanout) { queued = append(queued, f) })
	k := Key{App: "a", Name: "c"}
	alt := &altSub{}
	h.Subscribe(k, alt)
	h.BroadcastPair(k, []byte("n1"), []byte("p1"), nil, 0, "")
	h.BroadcastPair(k, []byte("n2"), []byte("p2"), alt, 0, "")
	h.Unsubscribe(k, alt)
	if got, want := alt.got(), []string{"p1"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// altRingSub is a ringSub that takes alternative frames (a Pusher connection).
type altRingSub struct{ ringSub }

func (*altRingSub) WantsAlt() bool { return true }

// BenchmarkBroadcastPair fans a publication out to N subscribers, half of them AltSubs that
// get its other protocol's frame: still no allocation per subscriber.
func BenchmarkBroadcastPair(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			h := New(func([]Sub) {}, nil)
			k := Key{App: "bench", Name: "news"}
			for i := 0; i < n; i++ {
				if i%2 == 0 {
					h.Subscribe(k, &ringSub{})
				} else {
					h.Subscribe(k, &altRingSub{})
				}
			}
			frame := []byte(`{"code":200,"message":"success","event":"message","data":{"channel":"news","data":{"n":1},"from":"x"}}`)
			alt := []byte(`{"event":"message","channel":"news","data":{"n":1}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got := h.BroadcastPair(k, frame, alt, nil, uint64(i+1), ""); got != n {
					b.Fatalf("reached %d", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}
