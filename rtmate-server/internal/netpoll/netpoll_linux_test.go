//go:build linux

package netpoll

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type got struct {
	key uint64
	ev  Event
}

// runPoller starts p.Run with a handler that forwards events, and stops it at cleanup.
func runPoller(t *testing.T) (*Poller, <-chan got) {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan got, 1024)
	done := make(chan error, 1)
	go func() {
		done <- p.Run(func(key uint64, ev Event) {
			select {
			case events <- got{key, ev}:
			default:
				t.Error("event channel full")
			}
		})
	}()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return p, events
}

func socketpair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// waitFor returns the first event for key that has all of want, failing after a generous
// deadline (the deadline only bounds a broken test; it asserts no timing).
func waitFor(t *testing.T, events <-chan got, key uint64, want Event) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case g := <-events:
			if g.key == key && g.ev&want == want {
				return g.ev
			}
		case <-deadline:
			t.Fatalf("no event %b for key %#x", want, key)
		}
	}
}

func TestReadableWritableHangup(t *testing.T) {
	p, events := runPoller(t)
	a, b := socketpair(t)
	const key = uint64(0xdeadbeef)<<32 | 7 // a generation in the high half must survive
	if err := p.Add(a, key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, key, Writable) // a fresh socket has room: the first edge says so

	if _, err := unix.Write(b, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, key, Readable)
	buf := make([]byte, 16)
	if n, err := unix.Read(a, buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q %v", buf[:n], err)
	}

	if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor(t, events, key, Hangup); ev&Readable == 0 {
		t.Fatalf("hangup without Readable: %b (the read slot must run to see EOF)", ev)
	}
	if n, err := unix.Read(a, buf); n != 0 || err != nil {
		t.Fatalf("after hangup: read %d %v, want EOF", n, err)
	}
}

func TestEdgeTriggeredRearm(t *testing.T) {
	p, events := runPoller(t)
	a, b := socketpair(t)
	if err := p.Add(a, 1); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := 0; i < 5; i++ {
		if _, err := unix.Write(b, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, events, 1, Readable)
		// Drain to EAGAIN, as the read slot does, so that the next write is a new edge.
		for {
			_, err := unix.Read(a, buf)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDel(t *testing.T) {
	p, events := runPoller(t)
	a, b := socketpair(t)
	c, d := socketpair(t)
	if err := p.Add(a, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(c, 2); err != nil {
		t.Fatal(err)
	}
	if err := p.Del(a); err != nil {
		t.Fatal(err)
	}
	if err := p.Del(a); err != nil {
		t.Fatalf("deleting twice: %v (ENOENT must be ignored)", err)
	}
	for _, fd := range []int{b, d} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// The event for c arrives; none for a may have come from the write after Del. (Events of
	// key 1 queued before Del, like the first Writable, may still be in the channel.)
	waitFor(t, events, 2, Readable)
	for {
		select {
		case g := <-events:
			if g.key == 1 && g.ev&Readable != 0 {
				t.Fatalf("event %b for a deleted fd", g.ev)
			}
			continue
		default:
		}
		break
	}
	if err := p.Add(-1, 3); err == nil {
		t.Fatal("Add(-1) succeeded")
	}
	if err := p.Del(-1); err == nil {
		t.Fatal("Del(-1) succeeded")
	}
}

func TestCloseBeforeRun(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(func(uint64, Event) { t.Error("event after Close") }); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, key := range []uint64{0, 1, 1<<32 - 1, 1 << 32, 0xffffffff00000001, wakeKey - 1} {
		var ev unix.EpollEvent
		setKey(&ev, key)
		if got := getKey(&ev); got != key {
			t.Fatalf("key %#x came back as %#x", key, got)
		}
	}
}
