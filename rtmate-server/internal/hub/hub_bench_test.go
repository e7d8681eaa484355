package hub

import (
	"strconv"
	"testing"
)

// ringSub is a subscriber that costs next to nothing: Deliver stores the frame in a
// preallocated ring, so a benchmark measures the hub alone.
type ringSub struct {
	ring [8][]byte
	n    uint
}

func (s *ringSub) Deliver(frames [][]byte) bool {
	for _, f := range frames {
		s.ring[s.n%uint(len(s.ring))] = f
		s.n++
	}
	return true // always ask for a flush: the batching path is part of what is measured
}

// BenchmarkBroadcast fans one shared frame out to N subscribers. allocs/op must not grow with
// N (the batch slice is pooled, the frame is never copied).
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			batches := 0
			h := New(func(subs []Sub) { batches += len(subs) }, nil)
			k := Key{App: "bench", Name: "news"}
			for i := 0; i < n; i++ {
				h.Subscribe(k, &ringSub{})
			}
			frame := []byte(`{"code":200,"message":"success","event":"message","data":{"channel":"news","data":{"n":1},"from":"x"}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got := h.Broadcast(k, frame, uint64(i+1), ""); got != n {
					b.Fatalf("reached %d", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
			if batches != n*b.N {
				b.Fatalf("scheduled %d, want %d", batches, n*b.N)
			}
		})
	}
}

// BenchmarkSubscribeUnsubscribe measures joining and leaving a busy channel.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	h := New(func([]Sub) {}, nil)
	k := Key{App: "bench", Name: "news"}
	for i := 0; i < 1000; i++ {
		h.Subscribe(k, &ringSub{})
	}
	s := &ringSub{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Subscribe(k, s)
		h.Unsubscribe(k, s)
	}
}
