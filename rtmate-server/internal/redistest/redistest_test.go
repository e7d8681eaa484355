package redistest

import (
	"strings"
	"testing"
)

// TestFlavour proves that a run with RTMATE_TEST_REDIS=valkey talks to Valkey, not to a
// redis-server that happens to be on PATH: Valkey's INFO has valkey_version, Redis's has not.
// Each server family is checked standalone, as a cluster node and as a sentinel, the three
// ways the engine tests start it.
func TestFlavour(t *testing.T) {
	check := func(t *testing.T, s *Server) {
		t.Helper()
		info, err := s.Do("INFO", "server")
		if err != nil {
			t.Fatalf("INFO server: %v", err)
		}
		if got := strings.Contains(info, "valkey_version:"); got != (Flavour() == "valkey") {
			t.Fatalf("flavour %q, but INFO server says valkey_version present = %v:\n%s", Flavour(), got, info)
		}
	}
	t.Run("standalone", func(t *testing.T) { check(t, Start(t)) })
	t.Run("cluster", func(t *testing.T) {
		c := StartCluster(t, 3, 0)
		for _, s := range c.Nodes {
			check(t, s)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		ss := StartSentinel(t)
		check(t, ss.Master)
		check(t, ss.Sentinels[0])
	})
}
