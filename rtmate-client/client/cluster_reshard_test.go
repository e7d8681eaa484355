package client_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Resharding under load with real processes (issue 15): a slot range holding some of the
// test's channels moves, keys included, from one master to another (redis-cli --cluster
// reshard) while three rtmate-server processes publish and deliver. Nothing may be lost or
// delivered twice, told or not: a slot move loses no data.

// clusterMaster is a master with slots, as seed's CLUSTER NODES lists it.
type clusterMaster struct {
	id, addr  string
	firstSlot int // the lowest slot it owns
}

func clusterMasters(t *testing.T, seed *redisNode) []clusterMaster {
	t.Helper()
	var out []clusterMaster
	for line := range strings.SplitSeq(redisCLI(t, "-p", port(seed.addr), "cluster", "nodes"), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") {
			continue
		}
		lo, _, _ := strings.Cut(f[8], "-")
		if n, err := strconv.Atoi(lo); err == nil {
			out = append(out, clusterMaster{id: f[0], addr: strings.Split(f[1], "@")[0], firstSlot: n})
		}
	}
	return out
}

func keySlot(t *testing.T, seed *redisNode, key string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(redisCLI(t, "-p", port(seed.addr), "cluster", "keyslot", key)))
	if err != nil {
		t.Fatalf("cluster keyslot %s: %v", key, err)
	}
	return n
}

func TestClusterReshardRealProcesses(t *testing.T) {
	skipUnlessChaos(t, "Redis Cluster resharding with real processes")
	rnodes := startRedisCluster(t)
	servers := startNodes(t, fmt.Sprintf("cluster: true, addresses: [%s]", quotedAddrs(rnodes)))
	// The first 300 slots of one master move to another; two of the six channels are in them.
	masters := clusterMasters(t, rnodes[0])
	if len(masters) < 2 {
		t.Fatalf("%d masters with slots", len(masters))
	}
	from, to := masters[0], masters[1]
	const moved = 300
	lo := from.firstSlot
	chans, affected := pickChannels("rs-", 6, 2, func(ch string) bool {
		s := keySlot(t, rnodes[0], channelKey(ch))
		return s >= lo && s < lo+moved
	})
	if len(affected) < 2 {
		t.Fatalf("found %d channels in slots %d-%d", len(affected), lo, lo+moved-1)
	}
	res := runHALoad(t, servers, chans, affected, false, func() time.Time {
		redisCLI(t, "--cluster", "reshard", to.addr, "--cluster-from", from.id,
			"--cluster-to", to.id, "--cluster-slots", strconv.Itoa(moved),
			"--cluster-yes", "--cluster-pipeline", "20")
		return time.Now()
	})
	for _, ch := range affected {
		if got := masterOfKey(t, rnodes[0], channelKey(ch)); got != to.addr {
			t.Errorf("%s is on %s after the reshard, want %s", ch, got, to.addr)
		}
	}
	t.Logf("RESULT cluster reshard of %d slots, %v", moved, res)
}
