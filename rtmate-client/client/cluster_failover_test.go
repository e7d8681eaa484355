package client_test

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Redis Cluster master is killed under load while three real rtmate-server processes in
// cluster mode serve Go SDK clients: subscribers on every node keep receiving every
// acknowledged message of every channel, once and in order (or are told what is gone), and
// delivery on the killed master's channels resumes within 5 s of the failover. The load and
// the checks are runHALoad's (ha_real_test.go).

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

// startRedisCluster starts 3 masters + 3 replicas (cluster-node-timeout 1 s). A replica may
// always take over (validity factor 0), as in internal/redistest: the tests kill a master
// right after the cluster forms, and what they check is RTMate across the failover.
func startRedisCluster(t *testing.T) []*redisNode {
	t.Helper()
	requireRedis(t)
	var nodes []*redisNode
	args := []string{"--cluster", "create"}
	for range 6 {
		n := startRedisProc(t, clusterPort(t), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0")
		nodes = append(nodes, n)
		args = append(args, n.addr)
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
	var dump strings.Builder
	for _, n := range nodes {
		if n.addr != dead {
			info, _ := exec.Command("redis-cli", "-p", port(n.addr), "cluster", "info").Output()   // #nosec G204
			nodes, _ := exec.Command("redis-cli", "-p", port(n.addr), "cluster", "nodes").Output() // #nosec G204
			fmt.Fprintf(&dump, "--- %s\n%s%s", n.addr, firstLine(string(info)), nodes)
		}
	}
	t.Fatalf("redis cluster not healthy within 30s (dead: %q):\n%s", dead, dump.String())
}

// slotOwnerOf reports whether n's CLUSTER NODES shows addr as a master with slots. A failed
// master keeps its slots until its replica is promoted, and the cluster state stays ok while
// the failure is only suspected (fail?): a dead master counts as an owner until then, or
// waitClusterOK would return before the failover.
func slotOwnerOf(t *testing.T, n *redisNode, addr string) bool {
	out, err := exec.Command("redis-cli", "-p", port(n.addr), "cluster", "nodes").Output() // #nosec G204
	if err != nil {
		return true
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && strings.HasPrefix(f[1], addr+"@") && strings.Contains(f[2], "master") {
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
	skipUnlessChaos(t, "Redis Cluster failover with real processes")
	rnodes := startRedisCluster(t)
	servers := startNodes(t, fmt.Sprintf("cluster: true, addresses: [%s]", quotedAddrs(rnodes)))
	// Six channels, two on the master that will be killed.
	victim := masterOfKey(t, rnodes[0], channelKey("fo-0"))
	chans, affected := pickChannels("fo-", 6, 2, func(ch string) bool {
		return masterOfKey(t, rnodes[0], channelKey(ch)) == victim
	})
	res := runHALoad(t, servers, chans, affected, true, func() time.Time {
		for _, n := range rnodes {
			if n.addr == victim {
				n.kill()
			}
		}
		waitClusterOK(t, rnodes, victim)
		return time.Now()
	})
	t.Logf("RESULT cluster master killed, %v", res)
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l + "\n" }
