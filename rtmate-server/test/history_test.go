package test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

func (c *client) history(ch string, since, limit uint64) streamData {
	c.t.Helper()
	var d streamData
	c.ok(protocol.EventHistory, obj{"channel": ch, "since": since, "limit": limit}).decode(c.t, &d)
	if d.Channel != ch || d.Epoch == "" {
		c.t.Fatalf("history data %+v", d)
	}
	return d
}

// offsets lists the publications' offsets, checking each carries "n" = its offset.
func offsets(t testing.TB, pubs []pubData) []uint64 {
	t.Helper()
	var out []uint64
	for _, p := range pubs {
		var v struct{ N uint64 }
		if err := json.Unmarshal(p.Data, &v); err != nil || v.N != p.Offset {
			t.Fatalf("publication %+v: data does not match its offset", p)
		}
		out = append(out, p.Offset)
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func equalOffsets(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHistory(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		unlimited(cfg)
		devApp(cfg).Limits.HistorySize = 100
	})
	p := authed(t, srv, "pub")
	const n = 20
	for i := uint64(1); i <= n; i++ {
		if off := p.publish("h", fmt.Sprintf(`{"n":%d}`, i)); off != i {
			t.Fatalf("messageSend %d answered offset %d", i, off)
		}
	}
	cases := []struct {
		since, limit uint64
		want         []uint64
	}{
		{0, 0, span(1, n)}, // limit 0: the server's default (100)
		{0, 5, span(1, 5)},
		{15, 100, span(16, n)},
		{19, 1, []uint64{20}},
		{n, 10, nil},
		{999, 10, nil},
	}
	var epoch string
	for _, tc := range cases {
		t.Run(fmt.Sprintf("since %d limit %d", tc.since, tc.limit), func(t *testing.T) {
			d := p.history("h", tc.since, tc.limit)
			if d.Offset != n {
				t.Fatalf("offset %d, want %d", d.Offset, n)
			}
			if epoch != "" && d.Epoch != epoch {
				t.Fatalf("epoch changed from %s to %s", epoch, d.Epoch)
			}
			epoch = d.Epoch
			if got := offsets(t, d.Publications); !equalOffsets(got, tc.want) {
				t.Fatalf("offsets %v, want %v", got, tc.want)
			}
			for _, pub := range d.Publications {
				if pub.From != p.clientID || pub.Channel != "" {
					t.Fatalf("publication %+v: from %q, want %q, and no channel", pub, pub.From, p.clientID)
				}
			}
		})
	}
	t.Run("empty channel", func(t *testing.T) {
		d := p.history("never-used", 0, 10)
		if d.Offset != 0 || len(d.Publications) != 0 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("ring keeps the newest history_size", func(t *testing.T) {
		for i := uint64(1); i <= 130; i++ {
			p.publish("ring", fmt.Sprintf(`{"n":%d}`, i))
		}
		d := p.history("ring", 0, 1000)
		if got := offsets(t, d.Publications); !equalOffsets(got, span(31, 130)) {
			t.Fatalf("offsets %v, want 31..130", got)
		}
	})
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		unlimited(cfg)
		devApp(cfg).Limits.HistorySize = 1000
	})
	p := authed(t, srv, "pub")
	a := authed(t, srv, "a")
	var first streamData
	a.subscribe("rec").decode(t, &first)
	if first.Epoch == "" || first.Offset != 0 {
		t.Fatalf("subscribe data %+v", first)
	}
	for i := 1; i <= 3; i++ {
		p.publish("rec", fmt.Sprintf(`{"n":%d}`, i))
	}
	for i := uint64(1); i <= 3; i++ {
		if d := a.message("rec"); d.Offset != i {
			t.Fatalf("live message offset %d, want %d", d.Offset, i)
		}
	}
	_ = a.ws.CloseNow() // a goes away; 4..8 are published meanwhile
	for i := 4; i <= 8; i++ {
		p.publish("rec", fmt.Sprintf(`{"n":%d}`, i))
	}

	t.Run("recovered", func(t *testing.T) {
		b := authed(t, srv, "a")
		var d streamData
		b.ok(protocol.EventSubscribe, obj{"channel": "rec", "recover": true, "offset": 3, "epoch": first.Epoch}).decode(t, &d)
		if d.Recovered == nil || !*d.Recovered || d.Epoch != first.Epoch || d.Offset != 8 {
			t.Fatalf("recovery data %+v, want recovered at offset 8", d)
		}
		if got := offsets(t, d.Publications); !equalOffsets(got, span(4, 8)) {
			t.Fatalf("recovered %v, want 4..8", got)
		}
		for _, pub := range d.Publications {
			if pub.From != p.clientID {
				t.Fatalf("recovered publication from %q", pub.From)
			}
		}
		p.publish("rec", `{"n":9}`)
		p.publish("rec", `{"n":10}`)
		for i := uint64(9); i <= 10; i++ {
			if m := b.message("rec"); m.Offset != i {
				t.Fatalf("live after recovery: offset %d, want %d", m.Offset, i)
			}
		}
		b.expectNoPush()
	})
	for _, tc := range []struct {
		name   string
		offset uint64
		epoch  string
	}{
		{"wrong epoch", 3, "not-" + first.Epoch},
		{"empty epoch", 3, ""},
		{"offset from the future", 1000, first.Epoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := authed(t, srv, "c")
			var d streamData
			c.ok(protocol.EventSubscribe, obj{"channel": "rec", "recover": true, "offset": tc.offset, "epoch": tc.epoch}).decode(t, &d)
			if d.Recovered == nil || *d.Recovered || len(d.Publications) != 0 || d.Epoch != first.Epoch {
				t.Fatalf("recovery data %+v, want recovered false, no publications, the real epoch", d)
			}
			// Subscribed anyway: live messages flow.
			off := p.publish("rec", `{"n":0}`)
			if m := c.message("rec"); m.Offset != off {
				t.Fatalf("live offset %d, want %d", m.Offset, off)
			}
		})
	}
	t.Run("gap larger than the history", func(t *testing.T) {
		q := authed(t, srv, "q")
		for i := 1; i <= 1005; i++ {
			q.publish("short", fmt.Sprintf(`{"n":%d}`, i))
		}
		c := authed(t, srv, "c")
		var d streamData
		c.ok(protocol.EventSubscribe, obj{"channel": "short", "recover": true, "offset": 2, "epoch": first.Epoch}).decode(t, &d)
		if d.Recovered == nil || *d.Recovered {
			t.Fatalf("recovered %v with 1003 missed and 1000 kept", d.Recovered)
		}
	})
}

// TestRecoveryUnderLoad: a subscriber leaves and comes back with recovery while a publisher
// keeps publishing; what it saw before, what it recovered and what came live afterwards are
// together every publication exactly once, in order.
func TestRecoveryUnderLoad(t *testing.T) {
	t.Parallel()
	const total = 400
	srv := start(t, func(cfg *config.Config) {
		unlimited(cfg)
		devApp(cfg).Limits.HistorySize = 1000
	})
	p := authed(t, srv, "pub")
	a := authed(t, srv, "a")
	var sd streamData
	a.subscribe("load").decode(t, &sd)

	pubErr := make(chan error, 1)
	go func() {
		for i := 1; i <= total; i++ {
			if err := p.tryPublish("load", `{"n":`+strconv.Itoa(i)+`}`); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()

	var got []uint64
	collect := func() {
		for _, m := range a.pushes {
			var d pubData
			m.decode(t, &d)
			got = append(got, d.Offset)
		}
		a.pushes = nil
	}
	for round := 0; round < 5; round++ {
		// Read a few live messages, leave, come back with recovery.
		for k := 0; k < 20 && (len(got) == 0 || got[len(got)-1] < total); k++ {
			d := a.message("load")
			got = append(got, d.Offset)
		}
		a.ok(protocol.EventUnsubscribe, obj{"channel": "load"})
		collect() // queued before the unsubscribe took effect
		var last uint64
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		var d streamData
		a.ok(protocol.EventSubscribe, obj{"channel": "load", "recover": true, "offset": last, "epoch": sd.Epoch}).decode(t, &d)
		if d.Recovered == nil || !*d.Recovered {
			t.Fatalf("round %d: not recovered from %d: %+v", round, last, d)
		}
		got = append(got, offsets(t, d.Publications)...)
		collect()
	}
	for len(got) == 0 || got[len(got)-1] < total {
		got = append(got, a.message("load").Offset)
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	if !equalOffsets(got, span(1, total)) {
		t.Fatalf("saw %d offsets %v, want exactly 1..%d", len(got), got, total)
	}
	a.expectNoPush()
}

// TestSubscribeRacesPublish: subscribing (which reads the channel's stream position) and
// unsubscribing over and over while publishers keep publishing on the same channel must
// neither deadlock nor lose or duplicate messages for those who stay subscribed.
func TestSubscribeRacesPublish(t *testing.T) {
	t.Parallel()
	const (
		total    = 600
		churners = 3
	)
	srv := start(t, unlimited)
	steady := authed(t, srv, "steady")
	steady.subscribe("busy")
	pub := authed(t, srv, "pub")
	churn := make([]*client, churners)
	for i := range churn {
		churn[i] = authed(t, srv, "churn"+strconv.Itoa(i))
	}

	errs := make(chan error, churners+1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= total; i++ {
			if err := pub.tryPublish("busy", `{"n":`+strconv.Itoa(i)+`}`); err != nil {
				errs <- err
				return
			}
		}
	}()
	for _, c := range churn {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, ev := range []string{protocol.EventSubscribe, protocol.EventUnsubscribe} {
					m, err := c.tryCall(ev, obj{"channel": "busy"})
					if err == nil && m.Code != 200 {
						err = fmt.Errorf("%s: %s", ev, m)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for i := uint64(1); i <= total; i++ {
		d := steady.message("busy")
		if d.Offset != i {
			t.Fatalf("steady subscriber got offset %d, want %d", d.Offset, i)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
