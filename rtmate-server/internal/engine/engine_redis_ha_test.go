package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
)

// Tests of the cluster and sentinel modes against real processes: a 3-master + 3-replica
// Redis Cluster built with redis-cli --cluster create, and a master + replica + 3 sentinels.

// startHAEngine starts an engine with opts (Cluster or Sentinel set) and a recorder.
func startHAEngine(t testing.TB, o RedisOptions) (*Redis, *recorder) {
	t.Helper()
	if o.PresenceTTL == 0 {
		o.PresenceTTL = 3 * time.Second
	}
	o.Timeout = 5 * time.Second
	e, err := NewRedis(o, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	rec := newRecorder()
	if err := e.Start(context.Background(), rec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, rec
}

func clusterEngines(t *testing.T, c *redistest.Cluster, n int) ([]*Redis, []*recorder) {
	t.Helper()
	var es []*Redis
	var rs []*recorder
	for i := range n {
		e, r := startHAEngine(t, RedisOptions{Cluster: true, Addresses: c.Addrs(), NodeID: fmt.Sprintf("n%d", i)})
		es, rs = append(es, e), append(rs, r)
	}
	return es, rs
}

// spreadChannels returns perMaster channels of app "ha" on each master of c, with the
// master that owns each.
func spreadChannels(t *testing.T, c *redistest.Cluster, perMaster int) ([]ChannelKey, map[ChannelKey]string) {
	t.Helper()
	ks := keyspace{prefix: "rtmate:"}
	masters := c.Masters()
	if len(masters) < 2 {
		t.Fatalf("cluster has %d masters", len(masters))
	}
	count := make(map[string]int)
	owner := make(map[ChannelKey]string)
	var chans []ChannelKey
	for i := 0; len(chans) < perMaster*len(masters) && i < 10000; i++ {
		ch := ChannelKey{App: "ha", Name: "chan-" + strconv.Itoa(i)}
		m := c.MasterOfSlot(int(keySlot(ks.topic(ch)))).Addr
		if count[m] < perMaster {
			count[m]++
			owner[ch] = m
			chans = append(chans, ch)
		}
	}
	return chans, owner
}

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification; TestClusterDelivery compares more with
	// CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{"foo": 12182, "bar": 5061, "{user1000}.following": 3443, "": 0} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestClusterDelivery: channels on every shard, publishers on three nodes, subscribers on
// all three: each node receives every channel's publications once and in offset order, and
// presence works across shards.
func TestClusterDelivery(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	es, rs := clusterEngines(t, c, 3)
	chans, _ := spreadChannels(t, c, 2)
	ctx := context.Background()
	for _, key := range []string{"a{}b", "{}", "x{y}z{w}", "rtmate:c{ha:chan-7}", "rtmate:node:n1", "{a"} {
		if got, want := strconv.Itoa(int(keySlot(key))), c.Nodes[0].MustDo("CLUSTER", "KEYSLOT", key); got != want {
			t.Errorf("keySlot(%q) = %s, CLUSTER KEYSLOT says %s", key, got, want)
		}
	}
	for _, e := range es {
		for _, ch := range chans {
			if err := e.Subscribe(ctx, ch); err != nil {
				t.Fatalf("subscribe %s: %v", ch.Name, err)
			}
		}
	}
	hist := HistoryOptions{Size: 100}
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishN(t, es[i%len(es)], ch, 1, 20, hist)
		}()
	}
	wg.Wait()
	for _, r := range rs {
		for _, ch := range chans {
			wantSequence(t, r.wait(t, ch, 20), 1, 20)
		}
	}
	for _, e := range es {
		if st := e.Stats(); st.Channels != len(chans) || st.Duplicates != 0 || st.Lost != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	// Presence across shards and nodes.
	for i, e := range es {
		for _, ch := range chans {
			if err := e.AddPresence(ctx, ch, ClientInfo{ClientID: fmt.Sprintf("c%d", i), UserID: fmt.Sprintf("u%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ch := range chans {
		got, err := es[0].Presence(ctx, ch)
		if err != nil || len(got) != 3 {
			t.Fatalf("presence of %s: %v %v", ch.Name, got, err)
		}
	}
	// Announced members (MemberAnnouncer) on every shard: one user on all three nodes is
	// news once, and every node hears each join.
	for i, e := range es {
		for _, ch := range chans {
			once, err := e.JoinMember(ctx, ch, ClientInfo{ClientID: fmt.Sprintf("j%d", i), UserID: StoredMember("shared", nil)})
			if err != nil || once != (i == 0) {
				t.Fatalf("JoinMember on n%d, %s: once %v, %v", i, ch.Name, once, err)
			}
		}
	}
	for _, r := range rs {
		for _, ch := range chans {
			joins := r.wait(t, ch, 20+3)[20:]
			for i, p := range joins {
				if _, _, once := MemberParts(p.UserID); p.Kind != KindJoin || once != (i == 0) {
					t.Fatalf("%s: join %d is %+v", ch.Name, i, p)
				}
			}
		}
	}
	// History from any node.
	pubs, pos, err := es[2].History(ctx, chans[0], 10, 0)
	if err != nil || pos.Offset != 20 || len(pubs) != 10 {
		t.Fatalf("history: %d pubs, %+v, %v", len(pubs), pos, err)
	}
}

// arrival is one publication as a load-test subscriber saw it.
type arrival struct {
	seq    int
	offset uint64
	epoch  string
	at     time.Time
}

// seqRecorder is a Handler for the load tests: it parses {"n":seq} and keeps arrival times.
type seqRecorder struct {
	mu   sync.Mutex
	got  map[ChannelKey][]arrival
	bad  atomic.Int64
	name string
}

func newSeqRecorder(name string) *seqRecorder {
	return &seqRecorder{got: make(map[ChannelKey][]arrival), name: name}
}

// HandleEpochReset: the load tests judge the offsets they got, not the notices.
func (r *seqRecorder) HandleEpochReset(ChannelKey, StreamPosition) {}

func (r *seqRecorder) HandlePublication(ch ChannelKey, pub *Publication) {
	if pub.Kind != KindMessage {
		return
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(pub.Data), `{"n":`), "}"))
	if err != nil {
		r.bad.Add(1)
		return
	}
	key := ChannelKey{App: strings.Clone(ch.App), Name: strings.Clone(ch.Name)}
	r.mu.Lock()
	r.got[key] = append(r.got[key], arrival{seq: n, offset: pub.Offset, epoch: strings.Clone(pub.Epoch), at: time.Now()})
	r.mu.Unlock()
}

func (r *seqRecorder) snapshot(ch ChannelKey) []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.got[ch]...)
}

// haLoad is a publishing load over several engines with a disruption in the middle.
type haLoad struct {
	engines  []*Redis
	recs     []*seqRecorder
	chans    []ChannelKey
	affected map[ChannelKey]bool // channels whose Redis node the disruption hits
	rate     int                 // publications per second, all channels together
	hist     HistoryOptions

	mu      sync.Mutex
	acked   map[ChannelKey]map[int]bool
	started map[ChannelKey]map[int]time.Time
	failed  atomic.Int64
	snaps   []recoverySnap
}

// recoverySnap is a client that disconnected at some moment: what it had, and its position.
type recoverySnap struct {
	ch   ChannelKey
	seqs []int
	pos  StreamPosition
}

// haResult is what haLoad.run measured.
type haResult struct {
	Published, Acked, Failed int
	ResumeAfterFailover      time.Duration // worst over nodes and affected channels
	RecoveredTrue            int
	RecoveredFalse           int
	LiveMissing, LiveDup     int
	// EngineLost sums the engines' Stats.Lost: publications a node knew it missed and could
	// not replay (0 expected: an epoch change is not a loss).
	EngineLost uint64
}

func (r haResult) String() string {
	return fmt.Sprintf("published=%d acked=%d failed=%d resume_after_failover=%v recovering_clients: recovered=%d recovered_false=%d live: missing=%d dup_or_disorder=%d engine_lost=%d",
		r.Published, r.Acked, r.Failed, r.ResumeAfterFailover.Round(time.Millisecond), r.RecoveredTrue, r.RecoveredFalse, r.LiveMissing, r.LiveDup, r.EngineLost)
}

// run publishes for `before`, calls disrupt (which returns when the failover is complete),
// publishes for `after` more, then checks delivery and recovery.
func (l *haLoad) run(t *testing.T, before, after time.Duration, disrupt func() time.Time) haResult {
	t.Helper()
	ctx := context.Background()
	l.acked = make(map[ChannelKey]map[int]bool)
	l.started = make(map[ChannelKey]map[int]time.Time)
	for _, ch := range l.chans {
		l.acked[ch] = make(map[int]bool)
		l.started[ch] = make(map[int]time.Time)
		for _, e := range l.engines {
			if err := e.Subscribe(ctx, ch); err != nil {
				t.Fatalf("subscribe %s: %v", ch.Name, err)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	interval := time.Duration(len(l.chans)) * time.Second / time.Duration(l.rate)
	for i, ch := range l.chans {
		e := l.engines[i%len(l.engines)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				l.mu.Lock()
				l.started[ch][seq] = time.Now()
				l.mu.Unlock()
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				pub := Publication{Kind: KindMessage, Data: fmt.Appendf(nil, `{"n":%d}`, seq), ClientID: "p"}
				_, err := e.Publish(pctx, ch, &pub, l.hist)
				cancel()
				if err != nil {
					l.failed.Add(1)
					continue
				}
				l.mu.Lock()
				l.acked[ch][seq] = true
				l.mu.Unlock()
			}
		}()
	}
	// Clients "disconnect" at regular moments: each keeps what it had and its position.
	snapStop := make(chan struct{})
	snapDone := make(chan struct{})
	go func() {
		defer close(snapDone)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-snapStop:
				return
			case <-tick.C:
			}
			for i, ch := range l.chans {
				got := l.recs[(i+k)%len(l.recs)].snapshot(ch)
				if len(got) == 0 {
					continue
				}
				s := recoverySnap{ch: ch, pos: StreamPosition{Offset: got[len(got)-1].offset, Epoch: got[len(got)-1].epoch}}
				for _, a := range got {
					s.seqs = append(s.seqs, a.seq)
				}
				l.mu.Lock()
				l.snaps = append(l.snaps, s)
				l.mu.Unlock()
			}
		}
	}()
	time.Sleep(before)
	killedAt := time.Now()
	failoverAt := disrupt()
	t.Logf("disruption over (failover complete) %v after it began", failoverAt.Sub(killedAt).Round(time.Millisecond))
	time.Sleep(after)
	close(snapStop)
	<-snapDone
	close(stop)
	wg.Wait()
	return l.check(t, killedAt, failoverAt)
}

func (l *haLoad) check(t *testing.T, killedAt, failoverAt time.Time) haResult {
	t.Helper()
	ctx := context.Background()
	var res haResult
	res.Failed = int(l.failed.Load())
	for _, ch := range l.chans {
		res.Published += len(l.started[ch])
		res.Acked += len(l.acked[ch])
	}
	// Live subscribers (they stayed connected to their node): every acknowledged
	// publication, once, in order, possibly after a pause.
	deadline := time.Now().Add(waitFor)
	for ri, r := range l.recs {
		for _, ch := range l.chans {
			var got []arrival
			for {
				got = r.snapshot(ch)
				have := make(map[int]bool, len(got))
				for _, a := range got {
					have[a.seq] = true
				}
				missing := 0
				for seq := range l.acked[ch] {
					if !have[seq] {
						missing++
					}
				}
				if missing == 0 || time.Now().After(deadline) {
					res.LiveMissing += missing
					if missing > 0 {
						t.Errorf("node %d, %s: %d acknowledged publications never arrived", ri, ch.Name, missing)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := 1; i < len(got); i++ {
				if got[i].seq <= got[i-1].seq {
					res.LiveDup++
					t.Errorf("node %d, %s: seq %d after %d", ri, ch.Name, got[i].seq, got[i-1].seq)
				}
			}
			if !l.affected[ch] {
				continue
			}
			// How long after the failover did delivery resume on this node?
			for _, a := range got {
				if st := l.started[ch][a.seq]; st.After(killedAt) {
					if d := a.at.Sub(failoverAt); d > res.ResumeAfterFailover {
						res.ResumeAfterFailover = d
					}
					break
				}
			}
		}
		if n := r.bad.Load(); n > 0 {
			t.Errorf("node %d: %d undecodable publications", ri, n)
		}
	}
	// Recovering clients: as the server's subscribe does, recovered only when the epoch is
	// the same and history holds every offset after the client's.
	for i, s := range l.snaps {
		e := l.engines[i%len(l.engines)]
		pubs, pos, err := e.History(ctx, s.ch, s.pos.Offset, 0)
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		recovered := s.pos.Epoch == pos.Epoch && s.pos.Offset <= pos.Offset && uint64(len(pubs)) == pos.Offset-s.pos.Offset
		if !recovered {
			res.RecoveredFalse++
			continue
		}
		res.RecoveredTrue++
		seqs := append([]int(nil), s.seqs...)
		for _, p := range pubs {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(p.Data), `{"n":`), "}"))
			seqs = append(seqs, n)
		}
		have := make(map[int]bool, len(seqs))
		for j, n := range seqs {
			if j > 0 && n <= seqs[j-1] {
				t.Errorf("recovered client of %s: seq %d after %d", s.ch.Name, n, seqs[j-1])
			}
			have[n] = true
		}
		for seq := range l.acked[s.ch] {
			if !have[seq] {
				t.Errorf("recovered client of %s: acknowledged seq %d missing without recovered: false", s.ch.Name, seq)
			}
		}
	}
	for _, e := range l.engines {
		res.EngineLost += e.Stats().Lost
	}
	if res.Acked == 0 || res.RecoveredTrue+res.RecoveredFalse == 0 {
		t.Fatalf("nothing measured: %v", res)
	}
	return res
}

// seqEngines starts n engines with the options opt(i) gives, each with a seqRecorder.
func seqEngines(t *testing.T, n int, opt func(i int) RedisOptions) ([]*Redis, []*seqRecorder) {
	t.Helper()
	var es []*Redis
	var rs []*seqRecorder
	for i := range n {
		o := opt(i)
		o.PresenceTTL = 3 * time.Second
		rec := newSeqRecorder(fmt.Sprint(i))
		e, err := NewRedis(o, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		es, rs = append(es, e), append(rs, rec)
	}
	return es, rs
}

// haDurations: CI publishes for a few seconds around each disruption; scripts/chaos.sh
// (RTMATE_CHAOS=1) for longer, and repeats the tests.
func haDurations() (before, after time.Duration) {
	if os.Getenv("RTMATE_CHAOS") == "1" {
		return 3 * time.Second, 8 * time.Second
	}
	return time.Second, 3 * time.Second
}

// skipShort skips the slow real-process tests under -short (CI runs them, see
// docs/scaling.md#tests).
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow Redis Cluster / Sentinel test; runs without -short and in scripts/chaos.sh")
	}
}

// TestClusterMasterFailover kills the master of some channels under 200 publications/s from
// three nodes; its replica takes over. Delivery resumes within 5 s of the failover, nodes
// that stayed up deliver every acknowledged publication once and in order, and clients
// recovering from positions taken before, during and after get everything or
// recovered: false.
func TestClusterMasterFailover(t *testing.T) {
	skipShort(t)
	c := redistest.StartCluster(t, 3, 1)
	chans, owner := spreadChannels(t, c, 4)
	l := &haLoad{chans: chans, rate: 200, hist: HistoryOptions{Size: 10000, TTLSeconds: 600}, affected: map[ChannelKey]bool{}}
	l.engines, l.recs = seqEngines(t, 3, func(i int) RedisOptions {
		return RedisOptions{Cluster: true, Addresses: c.Addrs(), NodeID: fmt.Sprintf("f%d", i)}
	})
	victim := owner[chans[0]]
	for ch, m := range owner {
		l.affected[ch] = m == victim
	}
	before, after := haDurations()
	res := l.run(t, before, after, func() time.Time {
		for _, s := range c.Nodes {
			if s.Addr == victim {
				s.Kill()
			}
		}
		c.WaitHealthy(30 * time.Second)
		return time.Now()
	})
	t.Logf("RESULT cluster master failover: %v", res)
	if res.ResumeAfterFailover > 5*time.Second {
		t.Errorf("delivery resumed %v after the failover, want ≤ 5s", res.ResumeAfterFailover)
	}
}

// TestSentinelFailover is the same with a master, a replica and three sentinels: the engine
// follows the master the sentinels elect.
func TestSentinelFailover(t *testing.T) {
	skipShort(t)
	ss := redistest.StartSentinel(t)
	l := &haLoad{rate: 200, hist: HistoryOptions{Size: 10000, TTLSeconds: 600}, affected: map[ChannelKey]bool{}}
	for i := range 12 {
		ch := ChannelKey{App: "ha", Name: "s-" + strconv.Itoa(i)}
		l.chans = append(l.chans, ch)
		l.affected[ch] = true
	}
	l.engines, l.recs = seqEngines(t, 3, func(i int) RedisOptions {
		return RedisOptions{Sentinel: &SentinelOptions{MasterName: redistest.MasterName, Addresses: ss.SentinelAddrs()}, NodeID: fmt.Sprintf("s%d", i)}
	})
	before, after := haDurations()
	res := l.run(t, before, after, func() time.Time {
		ss.Master.Kill()
		ss.WaitMaster(ss.Replica.Addr, 30*time.Second)
		return time.Now()
	})
	t.Logf("RESULT sentinel failover: %v", res)
	if res.ResumeAfterFailover > 5*time.Second {
		t.Errorf("delivery resumed %v after the failover, want ≤ 5s", res.ResumeAfterFailover)
	}
}

// TestClusterReshard moves a slot range, with its keys, from one master to another while
// three nodes publish: no publication is lost or delivered twice to the nodes' subscribers,
// and clients recovering across the move get everything or recovered: false.
func TestClusterReshard(t *testing.T) {
	skipShort(t)
	c := redistest.StartCluster(t, 3, 1)
	masters := c.Masters()
	from, to := masters[0], masters[1]
	topo, err := c.Topology(from)
	if err != nil {
		t.Fatal(err)
	}
	lo := -1
	for _, n := range topo {
		if n.Addr == from.Addr && len(n.Slots) > 0 {
			lo = n.Slots[0][0]
		}
	}
	const moved = 300
	ks := keyspace{prefix: "rtmate:"}
	l := &haLoad{rate: 200, hist: HistoryOptions{Size: 10000, TTLSeconds: 600}, affected: map[ChannelKey]bool{}}
	for i := 0; len(l.chans) < 12 && i < 200000; i++ {
		ch := ChannelKey{App: "ha", Name: "r-" + strconv.Itoa(i)}
		slot := int(keySlot(ks.topic(ch)))
		inRange := slot >= lo && slot < lo+moved
		if inRange && len(l.affected) < 6 || !inRange && len(l.chans)-len(l.affected) < 6 {
			l.chans = append(l.chans, ch)
			if inRange {
				l.affected[ch] = true
			}
		}
	}
	l.engines, l.recs = seqEngines(t, 3, func(i int) RedisOptions {
		return RedisOptions{Cluster: true, Addresses: c.Addrs(), NodeID: fmt.Sprintf("r%d", i)}
	})
	before, after := haDurations()
	res := l.run(t, before, after, func() time.Time {
		c.Reshard(from, to, moved)
		return time.Now()
	})
	for ch := range l.affected {
		if got := c.MasterOfSlot(int(keySlot(ks.topic(ch)))); got.Addr != to.Addr {
			t.Fatalf("%s still on %s after the reshard", ch.Name, got.Addr)
		}
	}
	t.Logf("RESULT cluster reshard of %d slots: %v", moved, res)
	if res.LiveMissing != 0 || res.LiveDup != 0 {
		t.Errorf("live subscribers: %d missing, %d duplicated or out of order", res.LiveMissing, res.LiveDup)
	}
}
