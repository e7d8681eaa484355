package server

import (
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/netpoll"
)

// benchDrain plays every subscriber's client: one epoll loop reads whatever the server writes
// to the client ends and counts the bytes, allocating nothing per read.
type benchDrain struct {
	poller *netpoll.Poller
	fds    []int
	buf    []byte
	bytes  atomic.Int64
	errs   atomic.Int64
	done   chan struct{}
}

func newBenchDrain(b *testing.B, fds []int) *benchDrain {
	b.Helper()
	p, err := netpoll.New()
	if err != nil {
		b.Fatal(err)
	}
	d := &benchDrain{poller: p, fds: fds, buf: make([]byte, 256<<10), done: make(chan struct{})}
	for i, fd := range fds {
		if err := p.Add(fd, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	go func() {
		defer close(d.done)
		if err := p.Run(d.onEvent); err != nil {
			b.Error(err)
		}
	}()
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Error(err)
		}
		<-d.done
	})
	return d
}

func (d *benchDrain) onEvent(key uint64, ev netpoll.Event) {
	if ev&netpoll.Readable == 0 {
		return
	}
	fd := d.fds[key]
	for {
		n, err := unix.Read(fd, d.buf)
		if n > 0 {
			d.bytes.Add(int64(n))
			continue
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			d.errs.Add(1)
		}
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// waitBytes yields until the clients together received want bytes.
func (d *benchDrain) waitBytes(b *testing.B, want int64) {
	for d.bytes.Load() < want {
		if d.errs.Load() > 0 {
			b.Fatal("a client's socket failed")
		}
		runtime.Gosched()
	}
}

// BenchmarkHandlePublication is the delivery path of one publication on this node: encode
// the push once (HandlePublication), queue the shared frame to N subscribed connections
// (hub.Broadcast → Conn.Deliver), and write it to each socket from the worker pool (writev).
// Each iteration waits until every client received its copy, so the loop measures complete
// deliveries in steady state; allocs/delivery is the allocation count per delivered message.
func BenchmarkHandlePublication(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := benchServer(b, 0)
			key := engine.ChannelKey{App: "demo-app", Name: "bench"}
			data := []byte(`{"text":"hello, subscribers","n":12345}`)
			pub := engine.Publication{Kind: engine.KindMessage, Data: data, ClientID: "publisher-client-id"}
			frameLen := benchFrameLen(s, key, pub)
			peers := make([]int, n)
			for i := range peers {
				c, peer := benchConn(b, s, true)
				s.hub.Subscribe(key, c)
				peers[i] = peer
			}
			drain := newBenchDrain(b, peers)
			var sent int64
			publish := func() {
				p := pub // HandlePublication may not keep it; a fresh copy as the engine passes
				s.HandlePublication(key, &p)
				sent += int64(n) * frameLen
				drain.waitBytes(b, sent)
			}
			for i := 0; i < 200; i++ { // warm queues, pools and socket buffers
				publish()
			}
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				publish()
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			deliveries := float64(b.N) * float64(n)
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
		})
	}
}

// benchFrameLen is the size of the frame HandlePublication builds for pub on key, measured
// with a recording subscriber before the real ones subscribe.
func benchFrameLen(s *Server, key engine.ChannelKey, pub engine.Publication) int64 {
	r := &recordingSub{}
	s.hub.Subscribe(key, r)
	s.HandlePublication(key, &pub)
	s.hub.Unsubscribe(key, r)
	return int64(len(r.frame))
}

type recordingSub struct{ frame []byte }

func (r *recordingSub) Deliver(frames [][]byte) bool { r.frame = frames[len(frames)-1]; return false }
