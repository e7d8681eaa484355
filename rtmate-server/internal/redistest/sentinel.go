package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MasterName is the master set the test sentinels monitor.
const MasterName = "mymaster"

// SentinelDownAfter is the sentinels' down-after-milliseconds: a killed master is replaced
// a second or two after this.
const SentinelDownAfter = 1000 * time.Millisecond

// SentinelSet is a master, its replica and three sentinels, real processes on free loopback
// ports, stopped when the test ends.
type SentinelSet struct {
	Master, Replica *Server
	Sentinels       []*Server
	t               testing.TB
}

// StartSentinel starts a master, a replica of it and three sentinels monitoring it with
// quorum 2, and waits until the sentinels know the replica and each other.
func StartSentinel(t testing.TB) *SentinelSet {
	t.Helper()
	ss := &SentinelSet{t: t}
	ss.Master = Start(t)
	host, port, _ := net.SplitHostPort(ss.Master.Addr)
	ss.Replica = StartArgs(t, "--replicaof", host, port)
	for range 3 {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		argv := func(p string) []string {
			body := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
				"sentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
				p, dir, filepath.Join(dir, "redis.log"), MasterName, host, port, MasterName,
				SentinelDownAfter/time.Millisecond, MasterName, MasterName)
			// The sentinel rewrites its file; a restart on the same port starts from scratch.
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Errorf("redistest: write %s: %v", conf, err)
			}
			return []string{conf, "--sentinel"}
		}
		s := &Server{t: t, bin: Binary(t), dir: dir, argv: argv}
		s.startOnFreePort()
		ss.Sentinels = append(ss.Sentinels, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ready := true
		for _, s := range ss.Sentinels {
			r, err := s.Do("SENTINEL", "MASTER", MasterName)
			if err != nil || !strings.Contains(r, "num-slaves 1") || !strings.Contains(r, "num-other-sentinels 2") {
				ready = false
				break
			}
		}
		if ready {
			return ss
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redistest: sentinels did not discover the replica and each other within 30s")
	return nil
}

// SentinelAddrs are the sentinels' addresses.
func (ss *SentinelSet) SentinelAddrs() []string {
	out := make([]string, len(ss.Sentinels))
	for i, s := range ss.Sentinels {
		out[i] = s.Addr
	}
	return out
}

// CurrentMaster is the master address the first answering sentinel reports.
func (ss *SentinelSet) CurrentMaster() string {
	for _, s := range ss.Sentinels {
		if r, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName); err == nil {
			if h, p, ok := strings.Cut(r, " "); ok {
				return net.JoinHostPort(h, p)
			}
		}
	}
	return ""
}

// WaitMaster waits until the sentinels report addr as the master and it answers as one.
func (ss *SentinelSet) WaitMaster(addr string, timeout time.Duration) {
	ss.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ss.CurrentMaster() == addr {
			for _, s := range []*Server{ss.Master, ss.Replica} {
				if s.Addr == addr {
					if r, err := s.Do("ROLE"); err == nil && strings.HasPrefix(r, "master") {
						return
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ss.t.Fatalf("redistest: %s did not become the master within %v (sentinels say %q)", addr, timeout, ss.CurrentMaster())
}
