package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// A rolling restart of three real rtmate-server processes on one real Redis, under load,
// with SDK clients behind a load balancer that follows /readyz: each node in turn is drained
// with SIGUSR1 (readyz 503 → after the grace period clients closed with 1001 → the process
// exits once empty) and started again. No client that recovers loses a message, none gets
// one twice.

// requireRedis skips the test without redis-server and redis-cli, or fails it when CI is set.
func requireRedis(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" && os.Getenv("CI") != "0" && os.Getenv("CI") != "false" {
				t.Fatalf("%s not installed and CI is set (scripts/install-test-deps.sh)", bin)
			}
			t.Skipf("%s not installed; skipping (scripts/install-test-deps.sh)", bin)
		}
	}
}

// startRedis runs a redis-server on a free loopback port until the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	requireRedis(t)
	return startRedisProc(t, clusterPort(t)).addr
}

// rollingSub is one SDK subscriber's record.
type rollingSub struct {
	mu          sync.Mutex
	seqs        []int
	resubs      int
	notRecov    int
	goingAway   atomic.Int64
	undecodable int
}

func TestRollingRestartNoLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("rolling restart of three processes: runs without -short (CI and scripts/chaos.sh)")
	}
	redisAddr := startRedis(t)
	cfgPath := filepath.Join(t.TempDir(), "node.yaml")
	dev := auth.DevAppConfig()
	yaml := fmt.Sprintf(`apps:
  - id: %s
    secret: %q
    limits: {history_size: 100000, rate: 10000, burst: 10000}
engine: {type: redis, redis: {address: %q, presence_ttl: 3s}}
drain: {grace: 300ms, timeout: 10s}
log: {level: warn}
`, dev.ID, dev.Secret, redisAddr)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*servertest.Server
	var addrs []string
	for range 3 {
		n := servertest.Start(t, servertest.WithArgs("-config", cfgPath))
		nodes = append(nodes, n)
		addrs = append(addrs, n.Addr)
	}
	lb := servertest.NewBalancer(t, addrs)
	time.Sleep(200 * time.Millisecond) // the first health round
	url := "ws://" + lb.Addr() + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const channel = "rolling"
	cfg := func(sub string, onState func(client.StateChange)) client.Config {
		return client.Config{
			URL: url, AppID: dev.ID,
			GetToken:     func(context.Context) (string, error) { return auth.DevToken(sub, time.Hour, nil) },
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
			OnStateChange: onState,
		}
	}
	subs := make([]*rollingSub, 9)
	for i := range subs {
		rs := &rollingSub{}
		subs[i] = rs
		c, err := client.Dial(ctx, cfg(fmt.Sprintf("sub%d", i), func(sc client.StateChange) {
			var ce *client.CloseError
			if sc.Err != nil && errors.As(sc.Err, &ce) && ce.Code == client.CloseGoingAway {
				rs.goingAway.Add(1)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Subscribe(ctx, channel, client.Handlers{
			OnMessage: func(p protocol.Publication) {
				n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(p.Data), `{"n":`), "}"))
				rs.mu.Lock()
				if err != nil {
					rs.undecodable++
				} else {
					rs.seqs = append(rs.seqs, n)
				}
				rs.mu.Unlock()
			},
			OnSubscribed: func(ev client.SubscribedEvent) {
				if ev.Resubscribed {
					rs.mu.Lock()
					rs.resubs++
					if !ev.Recovered {
						rs.notRecov++
					}
					rs.mu.Unlock()
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pubc, err := client.Dial(ctx, cfg("publisher", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pubc.Close() })
	var acked sync.Map
	var published, failed atomic.Int64
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() { // ~100 publications per second
		defer close(pubDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			published.Add(1)
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := pubc.Publish(pctx, channel, map[string]int{"n": seq})
			pcancel()
			if err != nil {
				failed.Add(1)
				continue
			}
			acked.Store(seq, true)
		}
	}()
	time.Sleep(time.Second)
	hc := &http.Client{Timeout: time.Second}
	for i, n := range nodes {
		if err := n.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		// /readyz goes 503 at once, before any client is closed.
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := hc.Get(n.HTTP + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: /readyz never answered 503 while draining", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !n.WaitExit(15 * time.Second) {
			t.Fatalf("node %d did not exit after draining", i)
		}
		n.StartAgain()
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	close(stop)
	<-pubDone
	var want []int
	acked.Range(func(k, _ any) bool { want = append(want, k.(int)); return true })
	total, notRecovered, goingAway, resubs := 0, 0, 0, 0
	deadline := time.Now().Add(15 * time.Second)
	for i, rs := range subs {
		for {
			rs.mu.Lock()
			have := make(map[int]bool, len(rs.seqs))
			for _, n := range rs.seqs {
				have[n] = true
			}
			missing := 0
			for _, n := range want {
				if !have[n] {
					missing++
				}
			}
			seqs := append([]int(nil), rs.seqs...)
			nr, rsb, und := rs.notRecov, rs.resubs, rs.undecodable
			rs.mu.Unlock()
			if missing > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for j := 1; j < len(seqs); j++ {
				if seqs[j] <= seqs[j-1] {
					t.Errorf("subscriber %d: seq %d after %d (duplicate or out of order)", i, seqs[j], seqs[j-1])
				}
			}
			if missing > 0 && nr == 0 {
				t.Errorf("subscriber %d: %d acknowledged publications missing though every resubscription recovered", i, missing)
			}
			if und > 0 {
				t.Errorf("subscriber %d: %d undecodable publications", i, und)
			}
			total += len(seqs)
			notRecovered += nr
			resubs += rsb
			goingAway += int(rs.goingAway.Load())
			break
		}
	}
	t.Logf("RESULT rolling restart of 3 nodes: published=%d acked=%d failed=%d subscribers=%d delivered=%d resubscriptions=%d recovered_false=%d closes_1001=%d",
		published.Load(), len(want), failed.Load(), len(subs), total, resubs, notRecovered, goingAway)
	if goingAway == 0 || resubs == 0 {
		t.Errorf("no client was moved by the drains (closes 1001: %d, resubscriptions: %d)", goingAway, resubs)
	}
}
