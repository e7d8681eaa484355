package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NodeTimeout is the cluster-node-timeout of test clusters: a killed master's replica takes
// over about twice this long after the kill.
const NodeTimeout = 1000 * time.Millisecond

// Cluster is a Redis Cluster of real processes on free loopback ports, built with
// redis-cli --cluster create, stopped when the test ends. Safe for concurrent use.
type Cluster struct {
	// Nodes are every process, masters first as created; roles change with failovers.
	Nodes []*Server
	t     testing.TB
}

// cliBinary returns redis-cli (valkey-cli with RTMATE_TEST_REDIS=valkey), or skips (fails in
// CI) like Binary.
func cliBinary(t testing.TB) string {
	t.Helper()
	return lookTool(t, "cli")
}

// StartCluster starts masters × (1 + replicas) nodes and joins them into a cluster whose
// slots are spread evenly over the masters.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	cli := cliBinary(t)
	c := &Cluster{t: t}
	args := []string{"--cluster", "create"}
	for range masters * (1 + replicas) {
		s := StartArgs(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout/time.Millisecond)),
			"--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "no",
			"--cluster-allow-reads-when-down", "yes")
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput() // #nosec G204 -- tests run the redis-cli found on PATH
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs are the addresses of every node (the seeds to give a client).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}

// NodeInfo is one line of CLUSTER NODES.
type NodeInfo struct {
	ID, Addr string
	Master   bool
	Failed   bool
	Slots    [][2]int
}

// Topology is CLUSTER NODES as seen by s.
func (c *Cluster) Topology(s *Server) ([]NodeInfo, error) {
	raw, err := s.Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var out []NodeInfo
	for line := range strings.SplitSeq(strings.TrimSpace(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := NodeInfo{ID: f[0], Addr: strings.Split(f[1], "@")[0]}
		n.Master = strings.Contains(f[2], "master")
		n.Failed = strings.Contains(f[2], "fail")
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				continue
			}
			b := a
			if ok {
				if b, err = strconv.Atoi(hi); err != nil {
					continue
				}
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// alive returns the nodes whose process runs.
func (c *Cluster) alive() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		s.mu.Lock()
		up := s.cmd != nil
		s.mu.Unlock()
		if up {
			out = append(out, s)
		}
	}
	return out
}

// WaitHealthy waits until every running node reports cluster_state:ok with all slots
// assigned to running masters that are not failed: after a Kill, until the replicas took
// over.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if last = c.health(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("redistest: cluster not healthy within %v: %s", timeout, last)
}

func (c *Cluster) health() string {
	running := make(map[string]bool)
	for _, s := range c.alive() {
		running[s.Addr] = true
	}
	for _, s := range c.alive() {
		info, err := s.Do("CLUSTER", "INFO")
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return s.Addr + ": " + strings.ReplaceAll(info, "\r\n", " ")
		}
		nodes, err := c.Topology(s)
		if err != nil {
			return err.Error()
		}
		covered := 0
		for _, n := range nodes {
			if n.Master && !n.Failed && running[n.Addr] {
				for _, r := range n.Slots {
					covered += r[1] - r[0] + 1
				}
			}
		}
		if covered != 16384 {
			return fmt.Sprintf("%s sees %d slots on live masters", s.Addr, covered)
		}
	}
	return ""
}

// Masters are the running masters that own slots, as the first running node sees them.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	alive := c.alive()
	if len(alive) == 0 {
		c.t.Fatal("redistest: no cluster node runs")
	}
	nodes, err := c.Topology(alive[0])
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	var out []*Server
	for _, n := range nodes {
		if !n.Master || n.Failed || len(n.Slots) == 0 {
			continue
		}
		for _, s := range alive {
			if s.Addr == n.Addr {
				out = append(out, s)
			}
		}
	}
	return out
}

// MasterOfSlot is the running master that owns slot.
func (c *Cluster) MasterOfSlot(slot int) *Server {
	c.t.Helper()
	for _, m := range c.Masters() {
		nodes, _ := c.Topology(m)
		for _, n := range nodes {
			if n.Addr != m.Addr {
				continue
			}
			for _, r := range n.Slots {
				if slot >= r[0] && slot <= r[1] {
					return m
				}
			}
		}
	}
	c.t.Fatalf("redistest: no master owns slot %d", slot)
	return nil
}

// ID is s's cluster node id.
func (c *Cluster) ID(s *Server) string {
	c.t.Helper()
	return s.MustDo("CLUSTER", "MYID")
}

// Reshard moves n slots from one master to another with redis-cli --cluster reshard,
// keys included, while clients keep using the cluster.
func (c *Cluster) Reshard(from, to *Server, n int) {
	c.t.Helper()
	out, err := exec.Command(cliBinary(c.t), "--cluster", "reshard", to.Addr, // #nosec G204 -- tests run redis-cli
		"--cluster-from", c.ID(from), "--cluster-to", c.ID(to), "--cluster-slots", strconv.Itoa(n),
		"--cluster-yes", "--cluster-pipeline", "20").CombinedOutput()
	if err != nil {
		c.t.Fatalf("redistest: redis-cli --cluster reshard: %v\n%s", err, out)
	}
}

// Log is the tail of s's log file, for failure messages.
func (c *Cluster) Log(s *Server) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
