package server

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/hub"
	"github.com/rtmate/rtmate/rtmate-server/internal/wire"
)

// pushFrame is a server text frame built the way HandlePublication builds one.
func pushFrame(payload string) []byte {
	buf := append(make([]byte, wire.HeaderReserve), payload...)
	return wire.FrameInPlace(buf, ws.OpText)
}

// pacedServer is a benchServer with write_coalesce set, and one subscriber of channel k.
func pacedServer(t *testing.T, coalesce time.Duration) (*Server, *Conn, *frameReader, hub.Key) {
	t.Helper()
	s := benchServerWith(t, 0, func(c *config.Config) { c.WriteCoalesce = &coalesce })
	c, peer := benchConn(t, s, true)
	k := hub.Key{App: c.appID, Name: "paced"}
	if added, _ := s.hub.Subscribe(k, c); !added {
		t.Fatal("subscribe failed")
	}
	return s, c, newFrameReader(peer), k
}

// isPaced reads c.paced under its lock.
func (c *Conn) isPaced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paced
}

// pending reports whether the peer has anything to read, without waiting.
func (r *frameReader) pending(t *testing.T) bool {
	t.Helper()
	var one [1]byte
	n, _, err := unix.Recvfrom(r.fd, one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		t.Fatal(err)
	}
	return n > 0
}

// readPayloads reads n server frames of under 126 bytes and returns their payloads in order.
func (r *frameReader) readPayloads(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(10 * time.Second) // a failure bound: a lost frame must not hang CI
	for len(out) < n {
		size := r.next(t, deadline, n-len(out))
		out = append(out, string(r.buf[2:size]))
		r.drop(size)
	}
	return out
}

// TestPacerHoldsOnlyABacklog checks the write_coalesce rule on a real socket: a connection
// that never wrote a backlog, or not for longer than the tick, is flushed at once even with
// the pacer's tick far away; one whose last write carried a backlog is held until the tick
// (here: until the pacer's close, which must release what it holds, as a shutdown does).
func TestPacerHoldsOnlyABacklog(t *testing.T) {
	const tick = time.Second // the longest allowed: "at once" and "held" cannot be confused on a slow machine
	tests := []struct {
		name   string
		coal   time.Duration
		busyAt time.Duration // how long ago its last backlog write was; 0: never
		held   bool
	}{
		{name: "never behind: not held", coal: tick},
		{name: "behind just now: held for the tick", coal: tick, busyAt: time.Millisecond, held: true},
		{name: "behind longer ago than the tick: not held", coal: tick, busyAt: 2 * tick},
		{name: "write_coalesce 0s: never held", coal: 0, busyAt: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c, r, k := pacedServer(t, tt.coal)
			if (s.pool.pacer != nil) != (tt.coal > 0) {
				t.Fatalf("pacer %v with write_coalesce %v", s.pool.pacer, tt.coal)
			}
			if tt.busyAt > 0 {
				c.busyAt.Store(monoMicros() - uint32(tt.busyAt/time.Microsecond))
			}
			start := time.Now()
			s.hub.Broadcast(k, pushFrame(`{"n":1}`), 0, "")
			s.hub.Broadcast(k, pushFrame(`{"n":2}`), 0, "")
			if tt.held {
				if !c.isPaced() || r.pending(t) {
					t.Fatalf("paced %v, peer has data %v: want the flush held", c.isPaced(), r.pending(t))
				}
				s.pool.pacer.close()
			}
			if got := r.readPayloads(t, 2); got[0] != `{"n":1}` || got[1] != `{"n":2}` {
				t.Fatalf("got %q, want both pushes in order", got)
			}
			if d := time.Since(start); !tt.held && d > tick/2 {
				t.Fatalf("the pushes took %v: held although they should not be", d)
			}
			if c.isPaced() {
				t.Fatal("still marked paced after its flush")
			}
		})
	}
}

// TestPacerBusyAtFollowsWrites checks what marks a connection as behind: a write of several
// frames does, a write of one does not.
func TestPacerBusyAtFollowsWrites(t *testing.T) {
	s, c, r, k := pacedServer(t, 50*time.Millisecond)
	s.hub.Broadcast(k, pushFrame(`{"n":1}`), 0, "")
	r.readPayloads(t, 1)
	if at := c.busyAt.Load(); at != 0 {
		t.Fatalf("busyAt = %d after a one-frame write, want 0", at)
	}
	for c.writePend.Load() != 0 { // the worker's flush is over
		runtime.Gosched()
	}
	// Two frames queued before one flush: hold the flush by hand, as a worker busy elsewhere
	// would, then run it.
	c.writePend.Add(1)
	s.hub.Broadcast(k, pushFrame(`{"n":2}`), 0, "")
	s.hub.Broadcast(k, pushFrame(`{"n":3}`), 0, "")
	c.runFlush(newWorker())
	r.readPayloads(t, 2)
	if c.busyAt.Load() == 0 {
		t.Fatal("busyAt not set by a two-frame write")
	}
	if !s.pool.pacer.holds(c, monoMicros()) {
		t.Fatal("a connection that just wrote a backlog is not held")
	}
	if s.pool.pacer.holds(c, monoMicros()+uint32(time.Second/time.Microsecond)) {
		t.Fatal("still held a second after its last backlog")
	}
}

// TestPacerResponseTakesTheFlushBack checks that a response never waits for the tick: a
// connection whose pushes are held gets them, then the response, in that order, at once.
func TestPacerResponseTakesTheFlushBack(t *testing.T) {
	const tick = time.Second
	s, c, r, k := pacedServer(t, tick)
	c.busyAt.Store(monoMicros())
	s.hub.Broadcast(k, pushFrame(`{"push":1}`), 0, "")
	if !c.isPaced() {
		t.Fatal("the push was not held")
	}
	start := time.Now()
	c.send(pushFrame(`{"response":1}`))
	if got := r.readPayloads(t, 2); got[0] != `{"push":1}` || got[1] != `{"response":1}` {
		t.Fatalf("got %q, want the push, then the response", got)
	}
	if d := time.Since(start); d > tick/2 {
		t.Fatalf("the response waited %v for the tick", d)
	}
	if c.isPaced() {
		t.Fatal("still paced after the response's flush")
	}
}

// TestPacerReleasesEveryHeldConnection holds, while the pacer ticks every millisecond, a
// small burst, then a burst larger than the list the pacer keeps between ticks, then a
// trickle that overlaps the next releases: every connection held must be released exactly
// once per hold. (A spare list aliasing the live one after a large burst once lost holds and
// crashed the server on a nil connection.)
func TestPacerReleasesEveryHeldConnection(t *testing.T) {
	var mu sync.Mutex
	released := make(map[*Conn]int)
	var p *pool
	p = newPool(2, func(_ *worker, tk task) {
		if tk.kind != taskFlushBatch {
			return
		}
		mu.Lock()
		for _, c := range *tk.batch {
			released[c]++
		}
		mu.Unlock()
		p.releaseBatch(tk.batch)
	}, newWorker)
	p.pace(time.Millisecond)
	defer p.close()
	conns := make([]Conn, 3*maxKeptHeld)
	want := make([]int, len(conns))
	hold := func(i int) {
		p.pacer.hold(&conns[i])
		want[i]++
	}
	settle := func(round int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			ok := 0
			for i := range conns {
				if released[&conns[i]] == want[i] && !conns[i].isPaced() {
					ok++
				}
			}
			mu.Unlock()
			if ok == len(conns) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d connections released once per hold", round, ok, len(conns))
			}
			time.Sleep(time.Millisecond)
		}
	}
	const small, trickle = 100, 300
	for round := 1; round <= 5; round++ {
		for i := range small {
			hold(i)
		}
		settle(round)
		for i := small + trickle; i < len(conns); i++ {
			hold(i) // within one tick, most likely
		}
		for i := small; i < small+trickle; i++ {
			hold(i)
			time.Sleep(20 * time.Microsecond) // across the next ticks
		}
		settle(round)
	}
}
