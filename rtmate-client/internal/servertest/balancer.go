package servertest

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Balancer is a TCP load balancer for tests: round robin over the backends whose /readyz
// answers 200 (checked every 50 ms), as a load balancer's health check does. Safe for
// concurrent use.
type Balancer struct {
	ln       net.Listener
	backends []string
	mu       sync.Mutex
	ready    map[string]bool
	next     int
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewBalancer listens on a free loopback port until the test ends.
func NewBalancer(t testing.TB, backends []string) *Balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Balancer{ln: ln, backends: backends, ready: map[string]bool{}, stop: make(chan struct{})}
	b.wg.Add(2)
	go b.health()
	go b.accept()
	t.Cleanup(func() { close(b.stop); ln.Close(); b.wg.Wait() })
	return b
}

func (b *Balancer) health() {
	defer b.wg.Done()
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	for {
		for _, be := range b.backends {
			ok := false
			if resp, err := hc.Get("http://" + be + "/readyz"); err == nil {
				ok = resp.StatusCode == http.StatusOK
				resp.Body.Close()
			}
			b.mu.Lock()
			b.ready[be] = ok
			b.mu.Unlock()
		}
		select {
		case <-b.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *Balancer) pick() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for i := range b.backends {
		be := b.backends[(b.next+i)%len(b.backends)]
		if b.ready[be] {
			out = append(out, be)
		}
	}
	b.next++
	return out
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		var out net.Conn
		for _, be := range b.pick() {
			if out, err = net.DialTimeout("tcp", be, time.Second); err == nil {
				break
			}
		}
		if out == nil {
			in.Close()
			continue
		}
		b.wg.Add(2)
		go b.pipe(in, out)
		go b.pipe(out, in)
	}
}

// Addr is the balancer's listening address.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

func (b *Balancer) pipe(dst, src net.Conn) {
	defer b.wg.Done()
	copyClose(dst, src)
}
