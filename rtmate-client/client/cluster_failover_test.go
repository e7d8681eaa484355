package client_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// A Redis Cluster master is killed under load while three real rtmate-server processes in
// cluster mode serve Go SDK clients: subscribers on every node keep receiving every
// acknowledged message of every channel, once and in order, and delivery on the killed
// master's channels resumes within 5 s of the failover.

// redisNode is one redis-server process of a test cluster.
type redisNode struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// clusterPort returns a free loopback port whose cluster bus port (+10000) is free too.
func clusterPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if p+10000 <= 65535 {
			if bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000))); err == nil {
				bus.Close()
				ln.Close()
				return p
			}
		}
		ln.Close()
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

func redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", args...).CombinedOutput() // #nosec G204 -- the redis-cli on PATH
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startRedisCluster starts 3 masters + 3 replicas (cluster-node-timeout 1 s).
func startRedisCluster(t *testing.T) []*redisNode {
	t.Helper()
	startRedis(t) // skips (fails in CI) without redis-server
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed (apt-get install redis-tools)")
	}
	var nodes []*redisNode
	args := []string{"--cluster", "create"}
	for range 6 {
		p := clusterPort(t)
		dir := t.TempDir()
		n := &redisNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), exited: make(chan struct{})}
		n.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "", // #nosec G204 -- the redis-server on PATH
			"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000")
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = n.cmd.Wait(); close(n.exited) }()
		t.Cleanup(func() { _ = n.cmd.Process.Kill(); <-n.exited })
		nodes = append(nodes, n)
		args = append(args, n.addr)
	}
	for _, n := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if out, err := exec.Command("redis-cli", "-p", port(n.addr), "ping").Output(); err == nil && strings.TrimSpace(string(out)) == "PONG" { // #nosec G204
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis-server %s did not start", n.addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	redisCLI(t, append(args, "--cluster-replicas", "1", "--cluster-yes")...)
	waitClusterOK(t, nodes, "")
	return nodes
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// waitClusterOK waits until every running node reports cluster_state:ok and, when dead is
// set, no longer lists dead as a master owning slots.
func waitClusterOK(t *testing.T, nodes []*redisNode, dead string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range nodes {
			if n.addr == dead {
				continue
			}
			info, err := exec.Command("redis-cli", "-p", port(n.addr), "cluster", "info").Output() // #nosec G204
			if err != nil || !strings.Contains(string(info), "cluster_state:ok") {
				ok = false
				break
			}
			if dead != "" {
				if owner := slotOwnerOf(t, n, dead); owner {
					ok = false
					break
				}
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis cluster not healthy within 30s")
}

// slotOwnerOf reports whether n's CLUSTER NODES shows addr as a non-failed master with slots.
func slotOwnerOf(t *testing.T, n *redisNode, addr string) bool {
	out, err := exec.Command("redis-cli", "-p", port(n.addr), "cluster", "nodes").Output() // #nosec G204
	if err != nil {
		return true
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && strings.HasPrefix(f[1], addr+"@") && strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail") {
			return true
		}
	}
	return false
}

// masterOfKey is the address of the master that owns key's slot.
func masterOfKey(t *testing.T, seed *redisNode, key string) string {
	t.Helper()
	slot, err := strconv.Atoi(strings.TrimSpace(redisCLI(t, "-p", port(seed.addr), "cluster", "keyslot", key)))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(redisCLI(t, "-p", port(seed.addr), "cluster", "nodes"), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") {
			continue
		}
		for _, r := range f[8:] {
			lo, hi, found := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if found {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 == nil && err2 == nil && slot >= a && slot <= b {
				return strings.Split(f[1], "@")[0]
			}
		}
	}
	t.Fatalf("no master owns slot %d", slot)
	return ""
}

func TestClusterFailoverRealProcesses(t *testing.T) {
	// A publication acknowledged by a master that dies before it replicates is lost (Redis
	// replication is asynchronous). The guarantee checked here (issue 15): every subscriber
	// gets every acknowledged message, or is told — a resync push to those that stayed
	// connected, recovered: false to those that resubscribed. A gap without either fails.
	// Slow (real processes, a failover): scripts/chaos.sh (RTMATE_CHAOS=1), not every CI run.
	if testing.Short() || os.Getenv("RTMATE_CHAOS") != "1" {
		t.Skip("Redis Cluster failover with real processes: scripts/chaos.sh (RTMATE_CHAOS=1)")
	}
	rnodes := startRedisCluster(t)
	var seeds []string
	for _, n := range rnodes {
		seeds = append(seeds, fmt.Sprintf("%q", n.addr))
	}
	dev := auth.DevAppConfig()
	cfgPath := filepath.Join(t.TempDir(), "node.yaml")
	yaml := fmt.Sprintf(`apps:
  - id: %s
    secret: %q
    limits: {history_size: 100000, rate: 10000, burst: 10000}
engine: {type: redis, redis: {cluster: true, addresses: [%s], presence_ttl: 3s}}
log: {level: warn}
`, dev.ID, dev.Secret, strings.Join(seeds, ", "))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var servers []*servertest.Server
	for range 3 {
		servers = append(servers, servertest.Start(t, servertest.WithArgs("-config", cfgPath)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := func(url, sub string) client.Config {
		return client.Config{
			URL: url, AppID: dev.ID,
			GetToken:     func(context.Context) (string, error) { return auth.DevToken(sub, time.Hour, nil) },
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		}
	}
	// Six channels, two on the master that will be killed.
	victim := masterOfKey(t, rnodes[0], "rtmate:c{"+dev.ID+":fo-0}")
	var chans, affected []string
	onVictim := 0
	for i := 0; len(chans) < 6 && i < 1000; i++ {
		ch := "fo-" + strconv.Itoa(i)
		v := masterOfKey(t, rnodes[0], "rtmate:c{"+dev.ID+":"+ch+"}") == victim
		if v && onVictim < 2 || !v && len(chans)-onVictim < 4 {
			chans = append(chans, ch)
			if v {
				onVictim++
				affected = append(affected, ch)
			}
		}
	}
	type arrival struct {
		seq int
		at  time.Time
	}
	var mu sync.Mutex
	got := map[string][][]arrival{} // channel → per subscriber
	told := map[string][]bool{}     // channel → per subscriber: a resync push or recovered: false
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
	// Publishers: one per channel, on the three nodes in turn, 200 publications/s in all.
	acked := map[string]*sync.Map{}
	started := map[string]*sync.Map{}
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, ch := range chans {
		acked[ch], started[ch] = &sync.Map{}, &sync.Map{}
	}
	for i, ch := range chans {
		ackedCh, startedCh := acked[ch], started[ch]
		pc, err := client.Dial(ctx, cfg(servers[i%3].URL, "pub-"+ch))
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
					failed.Add(1)
					continue
				}
				ackedCh.Store(seq, true)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	for _, n := range rnodes {
		if n.addr == victim {
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
	waitClusterOK(t, rnodes, victim)
	failoverAt := time.Now()
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()

	deadline := time.Now().Add(15 * time.Second)
	var worstResume time.Duration
	total, nAcked, nTold, toldMissing := 0, 0, 0, 0
	for _, ch := range chans {
		var want []int
		acked[ch].Range(func(k, _ any) bool { want = append(want, k.(int)); return true })
		nAcked += len(want)
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
					if wasTold {
						toldMissing += missing
						t.Logf("%s, subscriber %d: %d acknowledged messages missing, and it was told", ch, s, missing)
					} else {
						t.Errorf("%s, subscriber %d: %d acknowledged messages missing without a resync push or recovered: false", ch, s, missing)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for k := 1; k < len(arr); k++ {
				if arr[k].seq <= arr[k-1].seq {
					t.Errorf("%s, subscriber %d: seq %d after %d", ch, s, arr[k].seq, arr[k-1].seq)
				}
			}
			total += len(arr)
			mu.Lock()
			if told[ch][s] {
				nTold++
			}
			mu.Unlock()
			for _, a := range arr {
				v, _ := started[ch].Load(a.seq)
				if st, ok := v.(time.Time); ok && st.After(killedAt) {
					if isAffected(ch, affected) {
						worstResume = max(worstResume, a.at.Sub(failoverAt))
					}
					break
				}
			}
		}
	}
	t.Logf("RESULT cluster master killed, 3 rtmate-server processes, 6 SDK subscribers x %d channels: acked=%d failed=%d delivered=%d told=%d missing_told=%d failover=%v resume_after_failover=%v",
		len(chans), nAcked, failed.Load(), total, nTold, toldMissing, failoverAt.Sub(killedAt).Round(time.Millisecond), worstResume.Round(time.Millisecond))
	if worstResume > 5*time.Second {
		t.Errorf("delivery resumed %v after the failover, want ≤ 5s", worstResume)
	}
}

func isAffected(ch string, affected []string) bool {
	for _, a := range affected {
		if a == ch {
			return true
		}
	}
	return false
}
