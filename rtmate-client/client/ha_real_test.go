package client_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
	"github.com/rtmate/rtmate/rtmate-client/internal/servertest"
)

// The Redis failure tests with real processes (issue 15) share what is here: real
// redis-server processes, three real rtmate-server processes on them, Go SDK subscribers on
// every node and publishers at 200 msgs/s in all (runHALoad), and the checks. Each test only
// says what it breaks.

// redisNode is one redis-server process of a test (a cluster node, a master, a replica or a
// sentinel).
type redisNode struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// kill ends the process with SIGKILL, as a crash would, and waits until it is gone.
func (n *redisNode) kill() {
	_ = n.cmd.Process.Kill() // already gone is fine: the wait below returns at once
	<-n.exited
}

// startRedisProc runs redis-server on port with args after the common ones, waits until it
// answers PING and kills it when the test ends.
func startRedisProc(t *testing.T, port int, args ...string) *redisNode {
	t.Helper()
	dir := t.TempDir()
	return launchRedis(t, port, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, args...))
}

// launchRedis runs redis-server with argv as it is (a sentinel's is its config file and
// --sentinel), waits until port answers PING and kills the process when the test ends.
func launchRedis(t *testing.T, port int, argv []string) *redisNode {
	t.Helper()
	n := &redisNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	n.cmd = exec.Command("redis-server", argv...) // #nosec G204 -- the redis-server on PATH
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start redis-server on %s: %v", n.addr, err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(n.kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "ping").Output(); err == nil && strings.TrimSpace(string(out)) == "PONG" { // #nosec G204
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server %s did not start", n.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// skipUnlessChaos skips the slow real-process failure tests outside scripts/chaos.sh.
func skipUnlessChaos(t *testing.T, what string) {
	t.Helper()
	if testing.Short() || os.Getenv("RTMATE_CHAOS") != "1" {
		t.Skip(what + ": scripts/chaos.sh (RTMATE_CHAOS=1)")
	}
}

// quotedAddrs is the YAML list body of the nodes' addresses.
func quotedAddrs(nodes []*redisNode) string {
	q := make([]string, len(nodes))
	for i, n := range nodes {
		q[i] = strconv.Quote(n.addr)
	}
	return strings.Join(q, ", ")
}

// channelKey is the Redis key of a development-app channel (it decides the slot).
func channelKey(ch string) string { return "rtmate:c{" + auth.DevAppConfig().ID + ":" + ch + "}" }

// pickChannels returns n channels named prefix<i>, want of them hit (the channels the
// failure affects), the others not.
func pickChannels(prefix string, n, want int, hit func(string) bool) (chans, affected []string) {
	for i := 0; len(chans) < n && i < 100000; i++ {
		ch := prefix + strconv.Itoa(i)
		h := hit(ch)
		if h && len(affected) < want || !h && len(chans)-len(affected) < n-want {
			chans = append(chans, ch)
			if h {
				affected = append(affected, ch)
			}
		}
	}
	return chans, affected
}

// startNodes starts three rtmate-server processes with the development app and the Redis
// engine options given (the entries of a YAML flow mapping: "cluster: true, addresses: […]").
func startNodes(t *testing.T, redisOpts string) []*servertest.Server {
	t.Helper()
	dev := auth.DevAppConfig()
	cfgPath := filepath.Join(t.TempDir(), "node.yaml")
	yaml := fmt.Sprintf(`apps:
  - id: %s
    secret: %q
    limits: {history_size: 100000, rate: 10000, burst: 10000}
engine: {type: redis, redis: {%s, presence_ttl: 3s}}
log: {level: warn}
`, dev.ID, dev.Secret, redisOpts)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var servers []*servertest.Server
	for range 3 {
		servers = append(servers, servertest.Start(t, servertest.WithArgs("-config", cfgPath)))
	}
	return servers
}

// haResult is what runHALoad counted.
type haResult struct {
	channels, subscribers int
	acked, failed         int
	delivered             int
	told                  int // subscriptions told of a gap: a resync push or recovered: false
	missingTold           int // acknowledged messages missing where the subscriber was told
	disruption            time.Duration
	resume                time.Duration // from the end of the disruption to the first delivery published after its start, worst affected channel
}

func (r haResult) String() string {
	return fmt.Sprintf("3 rtmate-server processes, %d SDK subscribers x %d channels: acked=%d failed=%d delivered=%d told=%d missing_told=%d disruption=%v resume_after=%v",
		r.subscribers, r.channels, r.acked, r.failed, r.delivered, r.told, r.missingTold,
		r.disruption.Round(time.Millisecond), r.resume.Round(time.Millisecond))
}

// runHALoad subscribes two SDK clients per node to every channel, publishes 200 msgs/s in all
// (one publisher per channel, on the nodes in turn), calls disrupt after 2 s and publishes 4 s
// more after it returns (it returns when the failure is over: a new master elected, slots
// moved). Then it checks each subscription: every acknowledged message once and in order;
// one that is missing is an error unless allowTold and the subscriber was told (a resync push
// or recovered: false). On the affected channels delivery must resume within 5 s of the end
// of the disruption.
func runHALoad(t *testing.T, servers []*servertest.Server, chans, affected []string, allowTold bool, disrupt func() time.Time) haResult {
	t.Helper()
	dev := auth.DevAppConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := func(url, sub string) client.Config {
		return client.Config{
			URL: url, AppID: dev.ID,
			GetToken:     func(context.Context) (string, error) { return auth.DevToken(sub, time.Hour, nil) },
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		}
	}
	type arrival struct {
		seq int
		at  time.Time
	}
	var mu sync.Mutex
	got := map[string][][]arrival{} // channel → per subscriber
	told := map[string][]bool{}     // channel → per subscriber
	for i, srv := range servers {
		for j := range 2 {
			c, err := client.Dial(ctx, cfg(srv.URL, fmt.Sprintf("s%d-%d", i, j)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			for _, ch := range chans {
				mu.Lock()
				idx := len(got[ch])
				got[ch] = append(got[ch], nil)
				told[ch] = append(told[ch], false)
				mu.Unlock()
				if _, err := c.Subscribe(ctx, ch, client.Handlers{OnMessage: func(p protocol.Publication) {
					n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(p.Data), `{"n":`), "}"))
					mu.Lock()
					got[ch][idx] = append(got[ch][idx], arrival{seq: n, at: time.Now()})
					mu.Unlock()
				}, OnSubscribed: func(ev client.SubscribedEvent) {
					if ev.Resubscribed && !ev.Recovered {
						mu.Lock()
						told[ch][idx] = true
						mu.Unlock()
					}
				}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	acked := map[string]*sync.Map{}
	started := map[string]*sync.Map{}
	loadStart := time.Now()
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, ch := range chans {
		acked[ch], started[ch] = &sync.Map{}, &sync.Map{}
	}
	for i, ch := range chans {
		ackedCh, startedCh := acked[ch], started[ch]
		pc, err := client.Dial(ctx, cfg(servers[i%len(servers)].URL, "pub-"+ch))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pc.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(len(chans)) * time.Second / 200)
			defer tick.Stop()
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				startedCh.Store(seq, time.Now())
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := pc.Publish(pctx, ch, map[string]int{"n": seq})
				pcancel()
				if err != nil {
					if failed.Add(1) == 1 {
						t.Logf("first failed publish: %s seq %d at %v after the start: %v", ch, seq, time.Since(loadStart).Round(time.Millisecond), err)
					}
					continue
				}
				ackedCh.Store(seq, true)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	disruptedAt := time.Now()
	overAt := disrupt()
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()

	res := haResult{channels: len(chans), subscribers: 2 * len(servers), failed: int(failed.Load()), disruption: overAt.Sub(disruptedAt)}
	deadline := time.Now().Add(15 * time.Second)
	for _, ch := range chans {
		var want []int
		acked[ch].Range(func(k, _ any) bool { want = append(want, k.(int)); return true })
		res.acked += len(want)
		mu.Lock()
		subs := len(got[ch])
		mu.Unlock()
		for s := range subs {
			var arr []arrival
			for {
				mu.Lock()
				arr = append([]arrival(nil), got[ch][s]...)
				mu.Unlock()
				have := map[int]bool{}
				for _, a := range arr {
					have[a.seq] = true
				}
				missing := 0
				for _, n := range want {
					if !have[n] {
						missing++
					}
				}
				if missing == 0 {
					break
				}
				if time.Now().After(deadline) {
					mu.Lock()
					wasTold := told[ch][s]
					mu.Unlock()
					if wasTold && allowTold {
						res.missingTold += missing
						t.Logf("%s, subscriber %d: %d acknowledged messages missing, and it was told", ch, s, missing)
					} else {
						t.Errorf("%s, subscriber %d: %d acknowledged messages missing (told: %v)", ch, s, missing, wasTold)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for k := 1; k < len(arr); k++ {
				if arr[k].seq <= arr[k-1].seq {
					t.Errorf("%s, subscriber %d: seq %d after %d (duplicate or out of order)", ch, s, arr[k].seq, arr[k-1].seq)
				}
			}
			res.delivered += len(arr)
			mu.Lock()
			if told[ch][s] {
				res.told++
			}
			mu.Unlock()
			if !slices.Contains(affected, ch) {
				continue
			}
			resumed := false
			for _, a := range arr {
				v, _ := started[ch].Load(a.seq)
				if st, ok := v.(time.Time); ok && st.After(disruptedAt) {
					res.resume, resumed = max(res.resume, a.at.Sub(overAt)), true
					break
				}
			}
			if !resumed {
				t.Errorf("%s, subscriber %d: nothing published after the disruption began was delivered", ch, s)
			}
		}
	}
	if res.resume > 5*time.Second {
		t.Errorf("delivery resumed %v after the disruption ended, want ≤ 5s", res.resume)
	}
	return res
}
