package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// The parent and its workers exchange JSON lines: the parent sends spec, go and acked;
// a worker answers ready, published and report (or error). The phases are a barrier
// across processes: nobody publishes before every subscriber is subscribed, and every
// worker learns how many deliveries its subscribers should see.
const (
	phaseSpec      = "spec"
	phaseGo        = "go"
	phaseAcked     = "acked"
	phaseReady     = "ready"
	phasePublished = "published"
	phaseReport    = "report"
	phaseError     = "error"
)

type workerSpec struct {
	Config   Config `json:"config"`
	Index    int    `json:"index"`
	From     int    `json:"from"` // global connection indexes [From, To)
	To       int    `json:"to"`
	Deadline int64  `json:"deadline"` // unix ns: the worker gives up by itself then
}

// message is one line in either direction.
type message struct {
	Phase  string        `json:"phase"`
	Spec   *workerSpec   `json:"spec,omitempty"`
	T0     int64         `json:"t0,omitempty"`    // go: unix ns at which the measured phase starts
	Acked  map[int]int64 `json:"acked,omitempty"` // published (this worker's) and acked (everyone's)
	Conns  int           `json:"conns,omitempty"` // ready
	Report *workerReport `json:"report,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// ServeWorker runs one worker: its orders come from in, its reports go to out (stdout of a
// re-executed rtmate-bench -worker). It returns when the run is over, when in is closed
// (the parent is gone) or at the spec's deadline.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	var m message
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("worker: read spec: %w", err)
	}
	if m.Phase != phaseSpec || m.Spec == nil {
		return fmt.Errorf("worker: want a spec, got phase %q", m.Phase)
	}
	spec := *m.Spec
	ctx, cancel := context.WithDeadline(ctx, time.Unix(0, spec.Deadline))
	defer cancel()
	orders := make(chan message, 4)
	go func() {
		defer cancel() // parent gone: stop
		defer close(orders)
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				return
			}
			select {
			case orders <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wmu sync.Mutex
	send := func(m message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return enc.Encode(m)
	}
	wait := func(phase string) (message, error) {
		select {
		case m, ok := <-orders:
			if !ok {
				return m, errors.New("parent went away")
			}
			if m.Phase != phase {
				return m, fmt.Errorf("want %s, got %s", phase, m.Phase)
			}
			return m, nil
		case <-ctx.Done():
			return message{}, ctx.Err()
		}
	}
	rep, err := runWorker(ctx, spec, workerLink{
		ready: func(conns int) error { return send(message{Phase: phaseReady, Conns: conns}) },
		waitGo: func() (int64, error) {
			m, err := wait(phaseGo)
			return m.T0, err
		},
		published: func(acked map[int]int64) error { return send(message{Phase: phasePublished, Acked: acked}) },
		waitAcked: func() (map[int]int64, error) {
			m, err := wait(phaseAcked)
			return m.Acked, err
		},
	})
	if err != nil {
		_ = send(message{Phase: phaseError, Error: err.Error()})
		return err
	}
	return send(message{Phase: phaseReport, Report: rep})
}

// workerLink is runWorker's view of the parent.
type workerLink struct {
	ready     func(conns int) error
	waitGo    func() (int64, error)
	published func(acked map[int]int64) error
	waitAcked func() (map[int]int64, error)
}

type worker struct {
	cfg           Config
	lat, connLat  *shardedHist
	spreadSources bool
	key           auth.SigningKey
	tokenExp      int64
	tokens        []string // minted before the clock starts: tokens[idx-tokenBase]
	tokenBase     int
	stopping      atomic.Bool
}

func newWorker(spec workerSpec) (*worker, error) {
	w := &worker{
		cfg:     spec.Config,
		lat:     newShardedHist(),
		connLat: newShardedHist(),
		// Tokens outlive the run whatever happens.
		tokenExp: time.Unix(0, spec.Deadline).Add(time.Hour).Unix(),
	}
	secret := w.cfg.Secret
	if secret == "" {
		secret = auth.DevSecret
	}
	w.key = auth.SigningKey{Secret: []byte(secret)}
	u, err := url.Parse(w.cfg.urls()[0])
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() != nil && ip.IsLoopback() {
		w.spreadSources = true
	}
	return w, nil
}

func (w *worker) token(idx int) (string, error) {
	if w.cfg.Token != "" {
		return w.cfg.Token, nil
	}
	if i := idx - w.tokenBase; i >= 0 && i < len(w.tokens) {
		return w.tokens[i], nil
	}
	return w.sign(idx)
}

// mintTokens signs the tokens of connections from..to-1 ahead of time. Real clients get their
// token from their backend; signing one (jws, ~30 µs) inside the connect storm measured the
// tool instead of the server.
func (w *worker) mintTokens(from, to int) error {
	if w.cfg.Token != "" {
		return nil
	}
	w.tokens, w.tokenBase = make([]string, to-from), from
	for i := range w.tokens {
		t, err := w.sign(from + i)
		if err != nil {
			return fmt.Errorf("token %d: %w", from+i, err)
		}
		w.tokens[i] = t
	}
	return nil
}

func (w *worker) sign(idx int) (string, error) {
	return auth.Sign(protocol.Claims{
		AppID: w.cfg.AppID,
		Sub:   "bench-" + strconv.Itoa(idx),
		Iat:   time.Now().Unix(),
		Exp:   w.tokenExp,
	}, w.key)
}

// connectAll opens connections from..to-1, Concurrency at a time, and records each one's
// connect latency (dial, auth and subscribe).
func (w *worker) connectAll(ctx context.Context, from, to int, rep *workerReport) []*benchConn {
	conns := make([]*benchConn, to-from)
	next := atomic.Int64{}
	next.Store(int64(from))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(w.cfg.Concurrency, to-from) {
		wg.Go(func() {
			buf := make([]byte, w.cfg.ReadBuffer)
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				start := time.Now()
				c, err := w.dialConn(ctx, i, buf)
				if err != nil {
					mu.Lock()
					rep.ConnectErrors++
					rep.addError(fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
					continue
				}
				w.connLat.record(i, time.Since(start).Microseconds())
				conns[i-from] = c
			}
		})
	}
	wg.Wait()
	out := conns[:0]
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// runWorker drives this worker's share of the connections through the phases.
func runWorker(ctx context.Context, spec workerSpec, link workerLink) (*workerReport, error) {
	w, err := newWorker(spec)
	if err != nil {
		return nil, err
	}
	cfg := &w.cfg
	if err := w.mintTokens(spec.From, spec.To); err != nil {
		return nil, err
	}
	rep := &workerReport{}
	var rd connReaders
	defer rd.close(w, rep) // when an error cuts the run short

	if cfg.Scenario != ScenarioConnect {
		rep.ConnectStart = time.Now().UnixNano()
		rd.conns = w.connectAll(ctx, spec.From, spec.To, rep)
		rep.ConnectEnd = time.Now().UnixNano()
		if err := rd.start(w, rep); err != nil {
			return nil, err
		}
	}
	conns := rd.conns
	if err := link.ready(len(conns)); err != nil {
		return nil, err
	}
	t0, err := link.waitGo()
	if err != nil {
		return nil, err
	}
	sleepUntil(ctx, time.Unix(0, t0))
	end := time.Unix(0, t0).Add(cfg.Duration)

	acked := map[int]int64{}
	switch cfg.Scenario {
	case ScenarioConnect:
		rep.ConnectStart = time.Now().UnixNano()
		rd.conns = w.connectAll(ctx, spec.From, spec.To, rep)
		conns = rd.conns
		rep.ConnectEnd = time.Now().UnixNano()
	case ScenarioIdle:
		sleepUntil(ctx, end)
	default:
		pctx, cancel := context.WithDeadline(ctx, end)
		var pubs []*benchConn
		var pwg sync.WaitGroup
		var perr sync.Mutex
		for _, c := range conns {
			if !c.role.publish {
				continue
			}
			pubs = append(pubs, c)
			pwg.Go(func() {
				if err := c.publishLoop(pctx, cfg.Rate, cfg.Window); err != nil {
					perr.Lock()
					rep.addError(fmt.Errorf("publisher %d: %w", c.idx, err))
					perr.Unlock()
				}
			})
		}
		pwg.Wait()
		cancel()
		// Every response still on its way decides whether a publication counts, so wait
		// for them as long as the hard deadline allows (an overloaded server answers late;
		// a dead one closes the connection, which ends the wait at once).
		ackDeadline := time.Unix(0, spec.Deadline).Add(-15 * time.Second)
		if floor := end.Add(cfg.Drain); ackDeadline.Before(floor) {
			ackDeadline = floor
		}
		waitFor(ctx, ackDeadline, func() bool {
			for _, c := range pubs {
				if c.outstanding() > 0 && !c.done.Load() {
					return false
				}
			}
			return true
		})
		for _, c := range pubs {
			rep.Unacked += c.outstanding()
			rep.Sent += c.sent.Load()
			a := c.acked.Load()
			rep.Acked += a
			acked[c.role.channel] += a
		}
	}
	if err := link.published(acked); err != nil {
		return nil, err
	}
	global, err := link.waitAcked()
	if err != nil {
		return nil, err
	}
	var expect int64
	for _, c := range conns {
		if c.role.subscribe {
			expect += global[c.role.channel]
		}
	}
	if expect > 0 {
		waitFor(ctx, time.Now().Add(cfg.Drain), func() bool {
			var got int64
			for _, c := range conns {
				got += c.unique.Load()
			}
			return got >= expect
		})
	}

	rd.close(w, rep)
	rep.Conns = len(conns)
	for _, c := range conns {
		rep.Received += c.received
		rep.Duplicates += c.dups
		rep.Gaps += c.gaps
		rep.Other += c.other
		rep.PubErrors = addCounts(rep.PubErrors, c.pubErrors)
		if c.firstRecv != 0 && (rep.FirstRecv == 0 || c.firstRecv < rep.FirstRecv) {
			rep.FirstRecv = c.firstRecv
		}
		rep.LastRecv = max(rep.LastRecv, c.lastRecv)
		if c.lost {
			rep.Disconnects++
			key := "no close frame"
			if c.closeCode != 0 {
				key = strconv.Itoa(c.closeCode)
			} else if c.readErr != nil {
				rep.addError(fmt.Errorf("connection %d lost: %w", c.idx, c.readErr))
			}
			rep.CloseCodes = addCounts(rep.CloseCodes, map[string]int64{key: 1})
		}
	}
	if rep.Latency, err = encodeHist(w.lat.merged()); err != nil {
		return nil, err
	}
	if rep.ConnLatency, err = encodeHist(w.connLat.merged()); err != nil {
		return nil, err
	}
	return rep, nil
}

// connReaders reads a worker's connections in the measured phase: those that publish from
// a goroutine each (the publisher waits on their acknowledgements), the others from a few
// poll loops (pollGroup).
type connReaders struct {
	conns   []*benchConn
	polls   *pollGroup
	readers sync.WaitGroup
	closed  bool
}

func (r *connReaders) start(w *worker, rep *workerReport) error {
	var err error
	if r.polls, err = newPollGroup(w, pollLoops()); err != nil {
		return fmt.Errorf("poll loops: %w", err)
	}
	for _, c := range r.conns {
		if !c.role.publish {
			err := r.polls.add(c)
			if err == nil {
				continue
			}
			rep.addError(fmt.Errorf("connection %d stays on a goroutine: %w", c.idx, err))
		}
		r.readers.Go(func() {
			c.readLoop()
			c.lost = !w.stopping.Load()
			c.done.Store(true)
		})
	}
	r.polls.start(&r.readers)
	return nil
}

// pollLoops is how many poll loops a worker runs: one per processor. One loop for two
// processors woke less often (a wake-up costs as much as reading the two or three sockets it
// brings), but a lone loop sweeping 5k sockets after each publication was itself most of the
// measured latency: 5k × 20 msgs/s p99 49.5 → 42.2 ms with two loops, and 10k × 520 msgs/s
// p99 1.11 → 0.77 s, the server's CPU per delivery unchanged or lower.
func pollLoops() int { return max(1, runtime.GOMAXPROCS(0)) }

// close ends every connection and waits for the readers; the counters are theirs until
// then. Only the first call does anything.
func (r *connReaders) close(w *worker, rep *workerReport) {
	if r.closed {
		return
	}
	r.closed = true
	w.stopping.Store(true)
	for _, c := range r.conns {
		if c.nc != nil {
			c.nc.Close()
		}
	}
	if r.polls != nil {
		if err := r.polls.stop(); err != nil {
			rep.addError(err)
		}
	}
	r.readers.Wait()
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// waitFor polls cond every 10 ms until it holds, the deadline passes or ctx ends.
func waitFor(ctx context.Context, deadline time.Time, cond func() bool) {
	for !cond() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}
