package client_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Sentinel failover under load with real processes (issue 15): a master, its replica and
// three sentinels, three rtmate-server processes following the master through the
// sentinels, Go SDK clients on every node. The master is killed; once the sentinels have
// promoted the replica, delivery resumes within 5 s and every subscriber has every
// acknowledged message, once and in order, or was told what is gone.

const sentinelMaster = "mymaster"

// startSentinelSet starts a master, a replica of it and three sentinels (quorum 2,
// down-after 1 s) and waits until every sentinel knows the replica and the other two.
func startSentinelSet(t *testing.T) (master, replica *redisNode, sentinels []*redisNode) {
	t.Helper()
	requireRedis(t)
	master = startRedisProc(t, clusterPort(t))
	replica = startRedisProc(t, clusterPort(t), "--replicaof", "127.0.0.1", port(master.addr))
	for range 3 {
		p := clusterPort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %s 2\nsentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			p, dir, filepath.Join(dir, "sentinel.log"), sentinelMaster, port(master.addr),
			sentinelMaster, sentinelMaster, sentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		sentinels = append(sentinels, launchRedis(t, p, []string{conf, "--sentinel"}))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sentinels {
		for {
			out := redisCLI(t, "-p", port(s.addr), "sentinel", "master", sentinelMaster)
			if strings.Contains(out, "num-slaves\n1\n") && strings.Contains(out, "num-other-sentinels\n2\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s does not know the replica and the other sentinels:\n%s", s.addr, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return master, replica, sentinels
}

// waitMaster waits until every sentinel names addr as the master.
func waitMaster(t *testing.T, sentinels []*redisNode, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sentinels {
		for {
			out := redisCLI(t, "-p", port(s.addr), "sentinel", "get-master-addr-by-name", sentinelMaster)
			if f := strings.Fields(out); len(f) == 2 && f[0]+":"+f[1] == addr {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s still names %q as the master, want %s", s.addr, strings.TrimSpace(out), addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestSentinelFailoverRealProcesses(t *testing.T) {
	skipUnlessChaos(t, "Sentinel failover with real processes")
	master, replica, sentinels := startSentinelSet(t)
	servers := startNodes(t, fmt.Sprintf("sentinel: {master_name: %s, addresses: [%s]}", sentinelMaster, quotedAddrs(sentinels)))
	var chans []string
	for i := range 6 {
		chans = append(chans, "sf-"+strconv.Itoa(i))
	}
	// Every channel lives on the one master: all of them are affected.
	res := runHALoad(t, servers, chans, chans, true, func() time.Time {
		master.kill()
		waitMaster(t, sentinels, replica.addr)
		return time.Now()
	})
	t.Logf("RESULT sentinel master killed, %v", res)
}
